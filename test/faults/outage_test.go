package faults

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// outageMix is the steady load the outages happen under: small objects,
// every encryption, a few multipart uploads.
var outageMix = mix{put: 40, multipart: 1, copy: 10, del: 10, delMany: 3, get: 40,
	sse: []sseKind{plain, sseS3, sseKMS, sseC}, maxSize: 256 << 10}

const outageWorkers = 4

// warmup is how long the load runs before the outage.
const warmup = time.Second

// load is a set of workers running until stopped.
type load struct {
	rec     *recorder
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, st *stack, m *model, mx mix, prefix string) *load {
	t.Helper()
	l := &load{rec: &recorder{}, stop: make(chan struct{})}
	c := st.ep.client(t)
	for i := range outageWorkers {
		w := newWorker(i, fmt.Sprintf("%s/w%d", prefix, i), c, m, uint64(time.Now().UnixNano()), mx, l.rec)
		w.pause = 50 * time.Millisecond
		l.workers = append(l.workers, w)
		l.wg.Go(func() { w.run(l.stop) })
	}
	return l
}

// end stops the workers, fails the test for any corrupt read, and returns
// every request made.
func (l *load) end(t *testing.T) []event {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	for _, w := range l.workers {
		for _, s := range w.corrupt {
			t.Errorf("corrupt read: %s", s)
		}
	}
	return l.rec.snapshot()
}

// waitRecovered waits until every worker has had a request matching
// relevant acknowledged that started after since (at most a minute).
func (l *load) waitRecovered(t *testing.T, since time.Time, relevant func(event) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, _, ok := recovery(l.rec.snapshot(), since, relevant, len(l.workers)); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("a minute after the dependency came back, not every client has succeeded")
}

// recovery returns how long after since the first relevant request
// succeeded, and the time by which every worker had one succeed.
func recovery(events []event, since time.Time, relevant func(event) bool, workers int) (first, all time.Duration, ok bool) {
	firstOf := map[int]time.Duration{}
	first = -1
	for _, e := range events {
		if e.out != nil || !e.start.After(since) || !relevant(e) {
			continue
		}
		d := e.end.Sub(since)
		if first < 0 || d < first {
			first = d
		}
		if f, seen := firstOf[e.worker]; !seen || d < f {
			firstOf[e.worker] = d
		}
	}
	for _, d := range firstOf {
		all = max(all, d)
	}
	return first, all, len(firstOf) == workers
}

// outageReport checks the requests that ended while a dependency was down
// (between from and to) and matched affected: each failure must be an S3
// error response (503 ServiceUnavailable with Retry-After, or 500
// InternalError; the same codes for a key of DeleteObjects) within
// requestBound. It logs the counts and returns the
// number of failures.
func outageReport(t *testing.T, what string, events []event, from, to time.Time, affected func(event) bool) int {
	t.Helper()
	var during []event
	var failed int
	var slowest time.Duration
	for _, e := range events {
		if e.end.Before(from) || e.start.After(to) || !affected(e) {
			continue
		}
		during = append(during, e)
		if e.out == nil {
			continue
		}
		failed++
		slowest = max(slowest, e.end.Sub(e.start))
		switch {
		case e.out.Status == 503 && e.out.Code == "ServiceUnavailable":
			if e.out.RetryAfter == "" {
				t.Errorf("%s: %s: 503 without Retry-After", what, e.op)
			}
		case e.out.Status == 500 && e.out.Code == "InternalError":
		case e.out.Status == 200 && (e.out.Code == "ServiceUnavailable" || e.out.Code == "InternalError"):
			// A key's <Error> in a DeleteObjects result.
		default:
			t.Errorf("%s: %s failed with %s (%s), want 503 ServiceUnavailable or 500 InternalError", what, e.op, e.out.key(), e.out.Message)
		}
	}
	t.Logf("%s: %d requests during the outage (%s); slowest failure %v", what, len(during), tally(during), slowest.Round(time.Millisecond))
	return failed
}

func createBucket(t *testing.T, st *stack, name string) *model {
	t.Helper()
	c := st.ep.client(t)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return newModel(name)
}

func verifyModel(t *testing.T, st *stack, m *model, when string) {
	t.Helper()
	vs, bad := m.verify(context.Background(), st.ep.client(t))
	for _, b := range bad {
		t.Errorf("%s: %s", when, b)
	}
	t.Logf("%s: verified %d keys (%d present, %d absent, %d whose last request failed), %d MiB", when, vs.Keys, vs.Present, vs.Absent, vs.Ambiguous, vs.Bytes>>20)
}

func every(event) bool { return true }

// pgMetadataTimeout is the S3 node's metadata_timeout in
// TestPostgresOutage: how long a request waits for a stalled database.
const pgMetadataTimeout = 2 * time.Second

// TestPostgresOutage stops the S3 node's PostgreSQL under load, then
// starts it again: once with a fast shutdown (the node's connections are
// closed: requests fail at once), once frozen (SIGSTOP: connections stay
// open and nothing answers, so requests fail when metadata_timeout ends).
func TestPostgresOutage(t *testing.T) {
	s3pg := pgtest.New(t)
	st := newStack(t, stackOptions{s3PG: s3pg, kmsPG: pgtest.Shared(t), metaTimeout: pgMetadataTimeout})
	var thaw func()
	for i, tc := range []struct {
		name       string
		hold       time.Duration // how long it stays down
		stop, back func()
	}{
		{"PostgreSQL stopped", 2 * time.Second, func() {
			if err := s3pg.Stop(); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := s3pg.Start(); err != nil {
				t.Fatal(err)
			}
		}},
		{"PostgreSQL frozen", pgMetadataTimeout + time.Second, func() { thaw = freezePostgres(t, s3pg) }, func() { thaw() }},
	} {
		m := createBucket(t, st, fmt.Sprintf("pg-outage-%d", i))
		l := startLoad(t, st, m, outageMix, tc.name)
		time.Sleep(warmup)
		down := time.Now()
		tc.stop()
		time.Sleep(tc.hold)
		tc.back()
		up := time.Now() // PostgreSQL accepts connections (or runs again)
		l.waitRecovered(t, up, every)
		events := l.end(t)
		if failed := outageReport(t, tc.name, events, down, up, every); failed == 0 {
			t.Errorf("%s: no request failed", tc.name)
		}
		first, all, _ := recovery(events, up, every, outageWorkers)
		t.Logf("%s: down %v; after it was back, first success in %v, every client in %v; %d requests in all (%s)",
			tc.name, up.Sub(down).Round(time.Millisecond), first.Round(time.Millisecond), all.Round(time.Millisecond), len(events), tally(events))
		verifyModel(t, st, m, "after "+tc.name)
	}
}

// kmsCallTimeout is the S3 node's kms.call_timeout in TestKMSOutage.
const kmsCallTimeout = time.Second

// TestKMSOutage stops the KMS process (SIGKILL, SIGTERM, SIGSTOP) and,
// with the KMS running, the KMS's own PostgreSQL, under load: SSE-S3 and
// SSE-KMS requests fail with 503 ServiceUnavailable, plain and SSE-C
// requests keep working, and the node recovers by itself.
func TestKMSOutage(t *testing.T) {
	kmsPG := pgtest.New(t)
	st := newStack(t, stackOptions{s3PG: pgtest.Shared(t), kmsPG: kmsPG, kmsTimeout: kmsCallTimeout})
	needsKMS := func(e event) bool { return e.kms }
	noKMS := func(e event) bool { return !e.kms }
	for i, tc := range []struct {
		name       string
		hold       time.Duration // how long it stays down
		stop, back func()
	}{
		{"KMS SIGKILL", 2 * time.Second, func() { st.kms.signal(t, syscall.SIGKILL) }, st.startKMS},
		{"KMS SIGTERM", 2 * time.Second, func() { st.kms.signal(t, syscall.SIGTERM) }, st.startKMS},
		// Connections stay open, nothing answers: SSE requests fail
		// once their KMS calls have timed out (3 attempts).
		{"KMS frozen (SIGSTOP)", 3*kmsCallTimeout + 1500*time.Millisecond, func() { _ = st.kms.cmd.Process.Signal(syscall.SIGSTOP) }, func() { _ = st.kms.cmd.Process.Signal(syscall.SIGCONT) }},
		{"KMS's PostgreSQL down", 2 * time.Second, func() {
			if err := kmsPG.Stop(); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := kmsPG.Start(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		m := createBucket(t, st, fmt.Sprintf("kms-outage-%d", i))
		l := startLoad(t, st, m, outageMix, tc.name)
		time.Sleep(warmup)
		down := time.Now()
		tc.stop()
		time.Sleep(tc.hold)
		tc.back()
		up := time.Now() // the KMS (or its database) accepts connections
		l.waitRecovered(t, up, needsKMS)
		events := l.end(t)
		if failed := outageReport(t, tc.name, events, down, up, needsKMS); failed == 0 {
			t.Errorf("%s: no SSE-S3 or SSE-KMS request failed while the KMS was down", tc.name)
		}
		for _, e := range events {
			if e.out != nil && !e.kms {
				t.Errorf("%s: %s needs no KMS, yet failed: %s %s", tc.name, e.op, e.out.key(), e.out.Message)
			}
		}
		plainDuring := 0
		for _, e := range events {
			if noKMS(e) && e.end.After(down) && e.start.Before(up) {
				plainDuring++
			}
		}
		first, all, _ := recovery(events, up, needsKMS, outageWorkers)
		t.Logf("%s: down %v; %d requests that need no KMS (plain, SSE-C, deletes) succeeded meanwhile; after it was back, first SSE-S3/SSE-KMS success in %v, every client in %v; %d requests in all (%s)",
			tc.name, up.Sub(down).Round(time.Millisecond), plainDuring, first.Round(time.Millisecond), all.Round(time.Millisecond), len(events), tally(events))
		verifyModel(t, st, m, "after "+tc.name)
	}
}
