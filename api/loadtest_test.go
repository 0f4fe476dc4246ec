package api_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/hsm/pkcs11"
	"github.com/s3kms/s3kms/hsm/pkcs11/softhsmtest"
	"github.com/s3kms/s3kms/kms"
)

// The load test is off by default:
//
//	go test ./api -run TestLoad -v -args -load=10s [-protectors=software,pkcs11] [-conc=1,8,64]
var (
	loadDuration = flag.Duration("load", 0, "run TestLoad for this long per operation and concurrency (0: skip)")
	loadProts    = flag.String("protectors", "software", "protectors of TestLoad, comma-separated: software, pkcs11 (SoftHSM2)")
	loadConc     = flag.String("conc", "8,64", "concurrencies of TestLoad, comma-separated")
	loadCache    = flag.Int("cache", 0, "root cache size of TestLoad (0: the default 64; -1: off, every call opens the root)")
)

// TestLoad is a small load tool, off by default. For each protector,
// generate and decrypt, and each concurrency, it calls the KMS over mTLS
// for -load and prints throughput and latency percentiles. With
// -protectors=pkcs11 the KMS runs on SoftHSM2 (a hermetic token in a temp
// dir). It asserts nothing about timing.
func TestLoad(t *testing.T) {
	if *loadDuration <= 0 {
		t.Skip("load test off; enable with -args -load=10s")
	}
	var concs []int
	for _, c := range strings.Split(*loadConc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			t.Fatalf("bad -conc %q", *loadConc)
		}
		concs = append(concs, n)
	}
	for _, name := range strings.Split(*loadProts, ",") {
		name = strings.TrimSpace(name)
		t.Run(name, func(t *testing.T) { loadProtector(t, name, concs) })
	}
}

// loadProtector is TestLoad on one protector.
func loadProtector(t *testing.T, name string, concs []int) {
	opts := apitest.Options{CacheSize: *loadCache}
	switch name {
	case "software":
	case "pkcs11":
		tok, err := softhsmtest.Setup(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
		if _, err := pkcs11.InitMaster(cfg); err != nil {
			t.Fatal(err)
		}
		p, err := pkcs11.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		opts.Protector = p
	default:
		t.Fatalf("unknown protector %q", name)
	}
	e := apitest.New(t, opts)
	if _, err := e.Client(t, e.Admin).CreateKey(context.Background(),
		wire.CreateKeyRequest{ID: "bucket/bench", Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	c := e.Client(t, e.S3Node)
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
	t.Logf("%-9s %-9s %5s %10s %10s %10s %10s %7s", "protector", "op", "conc", "ops", "ops/s", "p50", "p99", "errors")
	for _, op := range ops {
		for _, conc := range concs {
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
			t.Logf("%-9s %-9s %5d %10d %10.0f %10s %10s %7d", name, op.name, conc, len(latencies),
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
