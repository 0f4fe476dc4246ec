package api_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// loadDuration enables TestLoad: go test ./api -run TestLoad -v -args -load=10s
var loadDuration = flag.Duration("load", 0, "run TestLoad for this long per operation and concurrency (0: skip)")

// TestLoad is a small load tool, off by default. For generate and decrypt,
// at concurrency 8 and 64, it calls the KMS over mTLS for -load and prints
// throughput and latency percentiles. It asserts nothing about timing.
func TestLoad(t *testing.T) {
	if *loadDuration <= 0 {
		t.Skip("load test off; enable with -args -load=10s")
	}
	e, c := benchEnv(t)
	ctx := context.Background()
	ec := map[string]string{"bucket": "bench", "key": "obj"}
	sealedKey, err := c.GenerateDataKey(ctx, "bucket/bench", ec)
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		do   func(i int64) error
	}{
		{"generate", func(i int64) error {
			dk, err := c.GenerateDataKey(ctx, "bucket/bench",
				map[string]string{"bucket": "bench", "key": "o" + strconv.FormatInt(i, 10)})
			dk.Wipe()
			return err
		}},
		{"decrypt", func(int64) error {
			dk, err := c.Decrypt(ctx, sealedKey.Sealed, ec)
			dk.Wipe()
			return err
		}},
	}
	t.Logf("%-9s %5s %10s %10s %10s %10s %7s", "op", "conc", "ops", "ops/s", "p50", "p99", "errors")
	for _, op := range ops {
		for _, conc := range []int{8, 64} {
			var (
				mu        sync.Mutex
				latencies []time.Duration
				n, errs   atomic.Int64
				wg        sync.WaitGroup
			)
			deadline := time.Now().Add(*loadDuration)
			start := time.Now()
			for range conc {
				wg.Go(func() {
					local := make([]time.Duration, 0, 1024)
					for time.Now().Before(deadline) {
						t0 := time.Now()
						if err := op.do(n.Add(1)); err != nil {
							if errs.Add(1) == 1 {
								t.Logf("%s: first error: %v (code %s)", op.name, err, kms.ErrorCode(err))
							}
							continue
						}
						local = append(local, time.Since(t0))
					}
					mu.Lock()
					latencies = append(latencies, local...)
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			slices.Sort(latencies)
			t.Logf("%-9s %5d %10d %10.0f %10s %10s %7d", op.name, conc, len(latencies),
				float64(len(latencies))/elapsed.Seconds(), pct(latencies, 50), pct(latencies, 99), errs.Load())
		}
	}
	hits, misses := e.Service.CacheStats()
	t.Logf("root cache: %d hits, %d misses", hits, misses)
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	d := sorted[min(len(sorted)-1, len(sorted)*p/100)]
	return fmt.Sprint(d.Round(10 * time.Microsecond))
}
