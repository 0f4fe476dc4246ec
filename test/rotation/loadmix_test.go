package rotation

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/s3load"
)

var (
	loadMixFor  = flag.Duration("loadmix", 0, "length of TestLoadMix on PostgreSQL (0: skip; `make loadmix LOAD=60s`)")
	loadMixConc = flag.Int("loadmix.conc", 64, "workers of TestLoadMix")
)

// TestLoadMix is issue 8's mixed load test against real processes: `kms
// serve` and `s3 serve` on a private PostgreSQL (this package's serve
// stack), over HTTPS, with the driver of internal/s3load: 64 workers PUT,
// GET, LIST and DELETE (35/40/10/15) plain, SSE-S3, SSE-KMS and SSE-C
// objects of 0 B to 1 MiB (1 % of up to 8 MiB), every read verified
// against the driver's model. It fails on any error or mismatch and logs
// the table (ops/s, p50/p99 per operation). Off by default:
//
//	make loadmix LOAD=60s
//	go test -count=1 -v ./test/rotation -run TestLoadMix -args -loadmix=60s
//
// The 10 s version against an in-process node runs in CI
// (internal/s3load TestLoadMix).
func TestLoadMix(t *testing.T) {
	if *loadMixFor <= 0 {
		t.Skip("mixed load on PostgreSQL off: make loadmix LOAD=60s (or -args -loadmix=60s)")
	}
	st := newServeStack(t, pgtest.Shared(t), nil)
	const kmsKey = "loadmix-key"
	if _, err := st.cli("key", "create", kmsKey); err != nil {
		t.Fatal(err)
	}
	cfg := s3load.MixConfig{Endpoint: st.s3.URL, Region: st.s3.Region, AccessKey: st.s3.AccessKey, Secret: st.s3.Secret,
		CAFile: st.s3.CAFile, Bucket: "loadmix", Concurrency: *loadMixConc, Duration: *loadMixFor, KMSKeyID: kmsKey}
	start := time.Now()
	res, err := s3load.RunMixed(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mixed load on PostgreSQL (kms serve + s3 serve), concurrency %d, %v (%v with clean-up):\n%s",
		cfg.Concurrency, cfg.Duration, time.Since(start).Round(time.Second), s3load.MixTable(res))
	if res.Errors() > 0 || res.Mismatches() > 0 || res.FirstError != nil {
		t.Fatalf("%d errors, %d mismatches; first: %v\nS3 node log:\n%s", res.Errors(), res.Mismatches(), res.FirstError, st.node().logTail())
	}
}
