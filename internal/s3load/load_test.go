package s3load

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/internal/s3test"
)

// The load test is off by default: -load sets the time per phase.
//
//	go test ./internal/s3load -run TestLoad -v -args -load=10s -sizes=64KiB,1MiB,64MiB -conc=8 -modes=none,sse-s3,sse-c
//
// For every size, PUT then GET, it runs one phase per encryption mode back
// to back (same op bound, same concurrency) and prints a table with each
// mode's throughput ratio to mode none of the same run, and the KMS calls
// per operation.
//
// It targets an in-process S3 node (SQLite + blobfs in a temp dir, HTTPS
// on 127.0.0.1, a real KMS from api/apitest) unless S3KMS_S3_ENDPOINT is
// set: `source DIR/dev.env` after `s3kms dev` points it at that server
// instead (no KMS call counts, no sse-kms).
var (
	loadFor  = flag.Duration("load", 0, "time per phase of TestLoad (0: skip the load test)")
	sizes    = flag.String("sizes", "64KiB,1MiB,64MiB", "object sizes of TestLoad, comma-separated")
	conc     = flag.Int("conc", 8, "concurrency of TestLoad")
	maxBytes = flag.String("maxbytes", "2GiB", "bound on the bytes moved per phase of TestLoad (sets the op count)")
	verify   = flag.Bool("verify", true, "verify every read of TestLoad against the hash of what was written")
	modes    = flag.String("modes", "none,sse-s3,sse-c", "encryption modes of TestLoad, comma-separated: none, sse-s3, sse-kms (in-process only), sse-c, sse-s3+bk (SSE-S3 on a second in-process node with bucket keys)")
)

// loadKMSKey is the named KMS key of mode sse-kms.
const loadKMSKey = "s3load-key"

// parseSize parses 123, 64KiB, 1MiB, 2GiB.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func endpoint(t testing.TB) s3test.Endpoint {
	if e, ok := s3test.FromEnv(); ok {
		t.Logf("target: %s (from S3KMS_S3_ENDPOINT)", e.URL)
		return e
	}
	e := s3test.Start(t)
	t.Logf("target: in-process S3 node at %s", e.URL)
	return e
}

func config(e s3test.Endpoint, bucket string) Config {
	cfg := Config{Endpoint: e.URL, Region: e.Region, AccessKey: e.AccessKey, Secret: e.Secret,
		CAFile: e.CAFile, Bucket: bucket, KMSKeyID: loadKMSKey}
	if e.KMS != nil {
		cfg.KMSCalls = func() KMSCalls {
			c := e.KMS.Calls()
			return KMSCalls{GenerateDataKey: c.GenerateDataKey, Decrypt: c.Decrypt, CreateBucketKey: c.CreateBucketKey}
		}
	}
	return cfg
}

// parseModes parses -modes; sse-kms needs the KMS of an in-process node,
// where it creates the key.
func parseModes(t *testing.T, e s3test.Endpoint) []Mode {
	var ms []Mode
	for m := range strings.SplitSeq(*modes, ",") {
		m := Mode(strings.TrimSpace(m))
		if !slices.Contains(Modes, m) {
			t.Fatalf("unknown mode %q", m)
		}
		if m == ModeSSES3BucketKey && e.KMSAdmin == nil {
			t.Logf("sse-s3+bk skipped: it needs an in-process node")
			continue
		}
		if m == ModeSSEKMS {
			if e.KMSAdmin == nil {
				t.Logf("sse-kms skipped: the target's KMS is not in-process")
				continue
			}
			if _, err := e.KMSAdmin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: loadKMSKey}); err != nil {
				t.Fatal(err)
			}
		}
		ms = append(ms, m)
	}
	return ms
}

func TestLoad(t *testing.T) {
	if *loadFor <= 0 {
		t.Skip("load test off: run with -args -load=10s")
	}
	budget, err := parseSize(*maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	e := endpoint(t)
	ms := parseModes(t, e)
	// sse-s3+bk runs on a second in-process node with bucket keys on.
	eBK := e
	if slices.Contains(ms, ModeSSES3BucketKey) {
		eBK = s3test.Start(t, s3test.BucketKeyTTL(5*time.Minute))
	}
	// One SSE-C key for the whole run.
	ssec := make([]byte, 32)
	_, _ = rand.Read(ssec)
	t.Logf("concurrency %d, at most %v and %s per phase, verify reads %v, modes %v", *conc, *loadFor, *maxBytes, *verify, ms)
	start := time.Now()
	var rows []Row
	for sz := range strings.SplitSeq(*sizes, ",") {
		sz = strings.TrimSpace(sz)
		size, err := parseSize(sz)
		if err != nil {
			t.Fatal(err)
		}
		count := int(max(budget/max(size, 1), int64(2**conc)))
		for _, op := range []Op{OpPut, OpGet} {
			for _, m := range ms {
				target := e
				if m == ModeSSES3BucketKey {
					target = eBK
				}
				cfg := config(target, "s3load")
				cfg.ObjectSize, cfg.Concurrency, cfg.Duration, cfg.Count = size, *conc, *loadFor, count
				cfg.Op, cfg.VerifyReads, cfg.Mode, cfg.CustomerKey = op, *verify, m, ssec
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%-5s %-4s %-7s in %v: %s", sz, op, m, res.Elapsed.Round(time.Millisecond), strings.TrimSpace(res.String()))
				if res.Errors > 0 || res.Mismatches > 0 || res.FirstError != nil {
					t.Errorf("%s %s %s: %d errors, %d mismatches; first: %v", sz, op, m, res.Errors, res.Mismatches, res.FirstError)
				}
				rows = append(rows, Row{Size: sz, Op: op, Mode: m, Res: res, Counted: cfg.KMSCalls != nil})
			}
		}
	}
	t.Logf("all phases in %v; ratio = MiB/s of the mode / MiB/s of none, same size and op, same run\n%s",
		time.Since(start).Round(time.Second), Table(rows))
}

// TestRunVerifies runs a small mixed load with verification against an
// in-process node: every op succeeds and is counted once.
func TestRunVerifies(t *testing.T) {
	e := s3test.Start(t)
	cfg := config(e, "verify")
	cfg.ObjectSize, cfg.Concurrency, cfg.Count, cfg.Op, cfg.VerifyReads = 100<<10, 4, 40, OpMixed, true
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	if res.FirstError != nil || res.Errors != 0 || res.Mismatches != 0 {
		t.Fatalf("errors %d mismatches %d: %v", res.Errors, res.Mismatches, res.FirstError)
	}
	if res.Ops != 40 || res.Put.Ops != 20 || res.Get.Ops != 20 {
		t.Fatalf("ops %d (put %d get %d), want 40 (20+20)", res.Ops, res.Put.Ops, res.Get.Ops)
	}
	if res.Bytes != 40*100<<10 || res.P99 < res.P50 || res.P50 <= 0 || res.MiBps <= 0 {
		t.Fatalf("bad stats: %+v", res.Stats)
	}
	// Cleanup deleted the objects: another run in the same bucket starts
	// from an empty prefix, and a duration bound alone also terminates.
	cfg.Count, cfg.Duration, cfg.Op = 0, 200*time.Millisecond, OpGet
	res, err = Run(context.Background(), cfg)
	if err != nil || res.Errors != 0 || res.Mismatches != 0 || res.Get.Ops == 0 {
		t.Fatalf("timed run: %v %+v", err, res)
	}
}

func TestConfigChecks(t *testing.T) {
	ok := Config{Endpoint: "https://127.0.0.1:9000", Bucket: "b", Count: 1}
	for name, mod := range map[string]func(*Config){
		"remote":   func(c *Config) { c.Endpoint = "https://s3.amazonaws.com" },
		"no bound": func(c *Config) { c.Count = 0 },
		"op":       func(c *Config) { c.Op = "delete" },
		"bucket":   func(c *Config) { c.Bucket = "" },
		"mode":     func(c *Config) { c.Mode = "rot13" },
		"kms key":  func(c *Config) { c.Mode = ModeSSEKMS },
		"ssec key": func(c *Config) { c.Mode, c.CustomerKey = ModeSSEC, make([]byte, 16) },
		"keys put": func(c *Config) { c.Keys = []string{"k"} },
		"keys verify": func(c *Config) {
			c.Keys, c.Op, c.VerifyReads = []string{"k"}, OpGet, true
		},
	} {
		c := ok
		mod(&c)
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	if ok.Concurrency != 1 || ok.Op != OpPut || ok.Region != "us-east-1" {
		t.Fatalf("defaults: %+v", ok)
	}
}

// TestRunReadsGivenKeys reads objects written before the run (Keys):
// every GET is of one of them, and the run leaves them in place.
func TestRunReadsGivenKeys(t *testing.T) {
	e := s3test.Start(t)
	cfg := config(e, "given")
	cfg.ObjectSize, cfg.Concurrency, cfg.Count, cfg.Mode, cfg.Keep = 1000, 2, 3, ModeSSES3, true
	res, err := Run(context.Background(), cfg)
	if err != nil || res.Put.Ops != 3 {
		t.Fatalf("write: %v %+v", err, res)
	}
	c, err := cfg.client()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("given")})
	if err != nil || len(out.Contents) != 3 {
		t.Fatalf("list: %v %d", err, len(out.Contents))
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	cfg.Op, cfg.Count, cfg.Keys, cfg.Keep = OpGet, 30, keys, false
	res, err = Run(context.Background(), cfg)
	if err != nil || res.FirstError != nil || res.Errors != 0 || res.Get.Ops != 30 || res.Bytes != 30*1000 {
		t.Fatalf("read: %v %+v", err, res)
	}
	out, err = c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("given")})
	if err != nil || len(out.Contents) != 3 {
		t.Fatalf("the given keys were not left in place: %v %d", err, len(out.Contents))
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	if p50, p99 := percentile(ds, 50), percentile(ds, 99); p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %d p99 %d", p50, p99)
	}
	if percentile(ds[:1], 99) != 1 || percentile(nil, 50) != 0 {
		t.Fatal("edge cases")
	}
	for in, want := range map[string]int64{"64KiB": 64 << 10, "1MiB": 1 << 20, "7": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%s) = %d, %v", in, got, err)
		}
	}
}

// TestRunModes runs a small verified mixed load in every encryption mode
// against one in-process node and checks the KMS calls of each: one
// GenerateDataKey per PUT and one Decrypt per GET for SSE-S3 and SSE-KMS,
// none for plain and SSE-C objects, and for SSE-S3 on a node with bucket
// keys at most one GenerateDataKey in all (and no Decrypt: the key is
// cached).
func TestRunModes(t *testing.T) {
	e := s3test.Start(t)
	eBK := s3test.Start(t, s3test.BucketKeyTTL(time.Minute))
	if _, err := e.KMSAdmin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: loadKMSKey}); err != nil {
		t.Fatal(err)
	}
	for _, m := range Modes {
		target := e
		if m == ModeSSES3BucketKey {
			target = eBK
		}
		cfg := config(target, "modes")
		cfg.ObjectSize, cfg.Concurrency, cfg.Count, cfg.Op, cfg.VerifyReads, cfg.Mode = 70<<10, 2, 20, OpMixed, true, m
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.FirstError != nil || res.Errors != 0 || res.Mismatches != 0 || res.Put.Ops != 10 || res.Get.Ops != 10 {
			t.Fatalf("%s: %+v: %v", m, res.Stats, res.FirstError)
		}
		want := KMSCalls{}
		switch m {
		case ModeSSES3, ModeSSEKMS:
			want = KMSCalls{GenerateDataKey: 10, Decrypt: 10}
		case ModeSSES3BucketKey:
			// The bucket data key is made by the first PUT, which may
			// fall before the counted phase; reads find it cached.
			if res.KMS.GenerateDataKey <= 1 {
				want.GenerateDataKey = res.KMS.GenerateDataKey
			}
		}
		if res.KMS != want {
			t.Errorf("%s: KMS calls %+v, want %+v", m, res.KMS, want)
		}
	}
}

// TestTable renders phases of two modes: the ratio is to mode none of the
// same size and operation, the KMS calls are per operation of the row.
func TestTable(t *testing.T) {
	rows := []Row{
		{Size: "1MiB", Op: OpPut, Mode: ModeNone, Counted: true, Res: Result{Put: Stats{Ops: 10, MiBps: 200}}},
		{Size: "1MiB", Op: OpPut, Mode: ModeSSES3, Counted: true, Res: Result{Put: Stats{Ops: 8, MiBps: 150}, KMS: KMSCalls{GenerateDataKey: 8}}},
		{Size: "1MiB", Op: OpGet, Mode: ModeSSEC, Res: Result{Get: Stats{Ops: 4, MiBps: 50}}},
	}
	tab := Table(rows)
	t.Log("\n" + tab)
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 4 || !strings.Contains(lines[2], "0.75") || !strings.Contains(lines[2], "1.00/0.00/0.00") ||
		strings.Contains(lines[3], ".00/") || !strings.Contains(lines[3], "-") {
		t.Fatalf("table:\n%s", tab)
	}
}
