package cluster

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
)

// fault is an action on the cluster at a time after the load starts.
type fault struct {
	at   time.Duration
	name string
	do   func(c *cluster)
}

// opRecord is one PUT+GET round trip of the load.
type opRecord struct {
	start time.Time
	took  time.Duration
	err   error
}

// loadWithFaults runs workers that each PUT an encrypted object (SSE-S3
// and SSE-KMS in turn, no bucket keys: every PUT and GET calls the KMS)
// through one S3 node and GET it back through the other, verifying the
// bytes, for d, doing the faults at their times. It returns every round
// trip and when each fault happened.
func loadWithFaults(t *testing.T, c *cluster, workers int, d time.Duration, faults []fault) ([]opRecord, map[string]time.Time) {
	t.Helper()
	ctx := context.Background()
	mustBucket(t, c.clients[0], "load")
	if _, err := c.cli("key", "create", "load-kms"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := start.Add(d)
	var mu sync.Mutex
	var recs []opRecord
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				e := sseS3
				if i%2 == 1 {
					e = sseKMS("load-kms", false)
				}
				key := fmt.Sprintf("w%d/%d", w, i)
				body := bytes.Repeat([]byte{byte(i), byte(w)}, 8<<10)
				t0 := time.Now()
				_, err := put(ctx, c.clients[(w+i)%2], "load", key, body, e)
				if err == nil {
					var got []byte
					got, err = get(ctx, c.clients[(w+i+1)%2], "load", key, nil, e)
					if err == nil && !bytes.Equal(got, body) {
						err = fmt.Errorf("%s reads back different bytes", key)
					}
				}
				mu.Lock()
				recs = append(recs, opRecord{start: t0, took: time.Since(t0), err: err})
				mu.Unlock()
			}
		}()
	}
	when := map[string]time.Time{}
	for _, f := range faults {
		time.Sleep(time.Until(start.Add(f.at)))
		when[f.name] = time.Now()
		f.do(c)
		t.Logf("%6.2fs  %s", time.Since(start).Seconds(), f.name)
	}
	wg.Wait()
	return recs, when
}

// summary is the figures of a set of round trips.
type summary struct {
	n, errs       int
	p50, p99, max time.Duration
}

// summarize sums up the round trips in flight at some time in [from, to).
func summarize(recs []opRecord, from, to time.Time) summary {
	var s summary
	var lat []time.Duration
	for _, r := range recs {
		if !r.start.Before(to) || r.start.Add(r.took).Before(from) {
			continue
		}
		s.n++
		if r.err != nil {
			s.errs++
			continue
		}
		lat = append(lat, r.took)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		s.p50, s.p99, s.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return s
}

func (s summary) String() string {
	return fmt.Sprintf("%d round trips, %d errors, p50 %v, p99 %v, max %v", s.n, s.errs,
		s.p50.Round(100*time.Microsecond), s.p99.Round(100*time.Microsecond), s.max.Round(100*time.Microsecond))
}

// TestKMSFailover kills KMS A (SIGKILL) under load, restarts it, then
// kills KMS B, restarts it, then freezes KMS A (SIGSTOP: it accepts
// connections and answers nothing) and thaws it: both S3 nodes keep
// serving SSE-S3 and SSE-KMS through the other KMS with no failed
// request. The log shows the latency of the round trips that started in
// the second after each fault: the failover cost. A killed KMS refuses
// connections (nothing to wait for); a frozen one costs the calls in
// flight one kms.call_timeout (2 s here), and one call per kms.down_for.
func TestKMSFailover(t *testing.T) {
	c := newCluster(t, pgtest.Shared(t), options{s3: func(cfg *config.S3) {
		cfg.KMS.CallTimeout = 2 * time.Second
	}})
	faults := []fault{
		{500 * time.Millisecond, "kill KMS A", func(c *cluster) { c.kms[0].kill(t) }},
		{1500 * time.Millisecond, "restart KMS A", func(c *cluster) { c.restartKMS(0) }},
		{2500 * time.Millisecond, "kill KMS B", func(c *cluster) { c.kms[1].kill(t) }},
		{3500 * time.Millisecond, "restart KMS B", func(c *cluster) { c.restartKMS(1) }},
		{4500 * time.Millisecond, "freeze KMS A (SIGSTOP)", func(c *cluster) { c.kms[0].signal(t, syscall.SIGSTOP) }},
		{7 * time.Second, "thaw KMS A (SIGCONT)", func(c *cluster) { c.kms[0].signal(t, syscall.SIGCONT) }},
	}
	recs, when := loadWithFaults(t, c, 4, 7500*time.Millisecond, faults)
	reportFaults(t, recs, when, faults)
}

// TestSoak is TestKMSFailover for longer ($S3KMS_CLUSTER_SOAK, e.g. 2m;
// `make clustersoak`), killing and restarting each KMS process in turn
// every 10 s, then checking the blobs.
func TestSoak(t *testing.T) {
	d := soakDuration(t)
	if d == 0 {
		t.Skipf("set %s (e.g. 2m) to run the soak test", EnvSoak)
	}
	c := newCluster(t, pgtest.Shared(t), options{})
	var faults []fault
	for at, i := 5*time.Second, 0; at+5*time.Second < d; at, i = at+10*time.Second, i+1 {
		k := i % 2
		faults = append(faults,
			fault{at, fmt.Sprintf("kill KMS %c (#%d)", 'A'+k, i), func(c *cluster) { c.kms[k].kill(t) }},
			fault{at + 5*time.Second, fmt.Sprintf("restart KMS %c (#%d)", 'A'+k, i), func(c *cluster) { c.restartKMS(k) }})
	}
	recs, when := loadWithFaults(t, c, 8, d, faults)
	reportFaults(t, recs, when, faults)
	t.Logf("blobs on disk referenced by nothing: %d", c.blobCheck(t))
}

// reportFaults logs the figures overall and in the second after each
// kill, and fails on any error.
func reportFaults(t *testing.T, recs []opRecord, when map[string]time.Time, faults []fault) {
	t.Helper()
	if len(recs) == 0 {
		t.Fatal("no round trip")
	}
	first, last := recs[0].start, recs[0].start
	for _, r := range recs {
		if r.start.Before(first) {
			first = r.start
		}
		if r.start.After(last) {
			last = r.start
		}
		if r.err != nil {
			t.Errorf("at %.2fs: %v", r.start.Sub(first).Seconds(), r.err)
		}
	}
	all := summarize(recs, first, last.Add(time.Nanosecond))
	t.Logf("overall: %v (%.0f round trips/s)", all, float64(all.n)/last.Sub(first).Seconds())
	for _, f := range faults {
		at := when[f.name]
		t.Logf("in flight in the second after %q: %v", f.name, summarize(recs, at, at.Add(time.Second)))
	}
}
