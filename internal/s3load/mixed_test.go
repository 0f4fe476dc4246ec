package s3load

import (
	"context"
	"flag"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/internal/s3test"
)

var (
	mixFor  = flag.Duration("loadmix", 10*time.Second, "length of TestLoadMix (the CI default is 10s; `make loadmix LOAD=60s` on PostgreSQL is in test/rotation)")
	mixConc = flag.Int("loadmix.conc", 64, "workers of TestLoadMix")
)

// TestLoadMix is the mixed load test of issue 8 in CI: 64 workers PUT,
// GET, LIST and DELETE (35/40/10/15) plain, SSE-S3, SSE-KMS and SSE-C
// objects of 0 B to 1 MiB (and a few of up to 8 MiB) for 10 s against an
// in-process S3 node over HTTPS (SQLite, blobfs, a real in-process KMS),
// or the `s3kms dev` of S3KMS_S3_ENDPOINT (without SSE-KMS). Every GET
// and LIST is verified against the driver's model; any error or mismatch
// fails the test. The same run against real `kms serve` and `s3 serve`
// processes on PostgreSQL is `make loadmix` (test/rotation TestLoadMix).
func TestLoadMix(t *testing.T) {
	e := endpoint(t)
	cfg := MixConfig{Endpoint: e.URL, Region: e.Region, AccessKey: e.AccessKey, Secret: e.Secret,
		CAFile: e.CAFile, Bucket: "loadmix", Concurrency: *mixConc, Duration: *mixFor}
	if e.KMSAdmin != nil {
		if _, err := e.KMSAdmin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: loadKMSKey}); err != nil {
			t.Fatal(err)
		}
		cfg.KMSKeyID = loadKMSKey
		cfg.Keep = true // the node's temporary directory goes anyway
	}
	res, err := RunMixed(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mixed load, concurrency %d, %v:\n%s", cfg.Concurrency, cfg.Duration, MixTable(res))
	if res.Errors() > 0 || res.Mismatches() > 0 || res.FirstError != nil {
		t.Fatalf("%d errors, %d mismatches; first: %v", res.Errors(), res.Mismatches(), res.FirstError)
	}
	// Every operation ran (a few hundred in all even on a loaded 2-core
	// machine under the race detector); that every mode round-trips is
	// TestRunMixedSmall's to check, with a fixed number of operations.
	for op := range numMixOps {
		if res.ByOp[op].Ops == 0 {
			t.Errorf("no successful %v", op)
		}
	}
}

// TestRunMixedSmall runs a short mixed load with every mode and few keys
// (so that keys are overwritten, deleted and read after deletion), then
// checks the bucket is left empty.
func TestRunMixedSmall(t *testing.T) {
	e := s3test.Start(t)
	if _, err := e.KMSAdmin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: loadKMSKey}); err != nil {
		t.Fatal(err)
	}
	cfg := MixConfig{Endpoint: e.URL, Region: e.Region, AccessKey: e.AccessKey, Secret: e.Secret,
		CAFile: e.CAFile, Bucket: "mixsmall", Concurrency: 4, Count: 160, KMSKeyID: loadKMSKey,
		SharedKeys: 6, OwnKeys: 5, LargeSize: 2 << 20}
	res, err := RunMixed(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + MixTable(res))
	if res.Errors() > 0 || res.Mismatches() > 0 || res.FirstError != nil {
		t.Fatalf("%d errors, %d mismatches; first: %v", res.Errors(), res.Mismatches(), res.FirstError)
	}
	if res.Total.Ops != 160 || res.GetMisses == 0 || res.RangedGets == 0 || len(res.PutsByMode) != 4 {
		t.Fatalf("ops %d, GET misses %d, ranged %d, modes %v", res.Total.Ops, res.GetMisses, res.RangedGets, res.PutsByMode)
	}
	cc := Config{Endpoint: e.URL, Region: e.Region, AccessKey: e.AccessKey, Secret: e.Secret, CAFile: e.CAFile}
	c, err := cc.client()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("mixsmall")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("after the run: %v, %d objects left", err, len(out.Contents))
	}
}

// TestMixCompare feeds the verifier of GETs wrong answers: each is a
// mismatch.
func TestMixCompare(t *testing.T) {
	r := &mixRun{cfg: MixConfig{KMSKeyID: "k1"}, base: make([]byte, 64)}
	r.ssec[0].md5, r.ssec[1].md5 = aws.String("md5-0"), aws.String("md5-1")
	for i := range r.base {
		r.base[i] = byte(i)
	}
	obj := func(m Mode) *object { return &object{off: 3, size: 20, stamp: [16]byte{9, 9}, mode: m, ssec: 1} }
	body := func(o *object) []byte { return r.content(o, nil) }
	for _, tc := range []struct {
		name string
		o    *object
		out  s3.GetObjectOutput
		got  []byte
		ok   bool
	}{
		{"plain", obj(ModeNone), s3.GetObjectOutput{}, body(obj(ModeNone)), true},
		{"plain flipped byte", obj(ModeNone), s3.GetObjectOutput{}, flip(body(obj(ModeNone)), 19), false},
		{"plain short", obj(ModeNone), s3.GetObjectOutput{}, body(obj(ModeNone))[:19], false},
		{"plain said encrypted", obj(ModeNone), s3.GetObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAes256}, body(obj(ModeNone)), false},
		{"sse-s3", obj(ModeSSES3), s3.GetObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAes256}, body(obj(ModeSSES3)), true},
		{"sse-s3 said plain", obj(ModeSSES3), s3.GetObjectOutput{}, body(obj(ModeSSES3)), false},
		{"sse-kms", obj(ModeSSEKMS), s3.GetObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("arn:aws:kms:us-east-1:0:key/k1")}, body(obj(ModeSSEKMS)), true},
		{"sse-kms other key", obj(ModeSSEKMS), s3.GetObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("k2")}, body(obj(ModeSSEKMS)), false},
		{"sse-c", obj(ModeSSEC), s3.GetObjectOutput{SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKeyMD5: aws.String("md5-1")}, body(obj(ModeSSEC)), true},
		{"sse-c other key", obj(ModeSSEC), s3.GetObjectOutput{SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKeyMD5: aws.String("md5-0")}, body(obj(ModeSSEC)), false},
		{"absent", nil, s3.GetObjectOutput{}, nil, false},
	} {
		var want []byte
		if tc.o != nil {
			want = body(tc.o)
		}
		if msg := r.compare(tc.o, &tc.out, tc.got, want); (msg == "") != tc.ok {
			t.Errorf("%s: compare said %q", tc.name, msg)
		}
	}
}

func flip(b []byte, i int) []byte {
	b[i] ^= 1
	return b
}

// TestMixDistributions draws operations and sizes: every operation and
// size class occurs, in about the configured proportions.
func TestMixDistributions(t *testing.T) {
	r := &mixRun{cfg: MixConfig{Weights: [numMixOps]int{35, 40, 10, 15}, LargeSize: 3 << 20}}
	rng := mrand.New(mrand.NewPCG(1, 2))
	const n = 100000
	var ops [numMixOps]int
	var empty, large int
	for range n {
		ops[r.pick(rng)]++
		switch s := r.size(rng); {
		case s == 0:
			empty++
		case s > mib:
			large++
			if s > 3<<20 {
				t.Fatalf("size %d above LargeSize", s)
			}
		}
	}
	for op, w := range r.cfg.Weights {
		if got := float64(ops[op]) / n * 100; got < float64(w)-1 || got > float64(w)+1 {
			t.Errorf("%v: %.1f %%, want %d %%", MixOp(op), got, w)
		}
	}
	if empty < n/12 || empty > n/8 || large < n/200 || large > n/50 {
		t.Errorf("empty %d, large %d of %d", empty, large, n)
	}
}

func TestMixConfigChecks(t *testing.T) {
	ok := MixConfig{Endpoint: "https://127.0.0.1:9000", Bucket: "b", Count: 1}
	for name, mod := range map[string]func(*MixConfig){
		"remote":  func(c *MixConfig) { c.Endpoint = "https://s3.amazonaws.com" },
		"bound":   func(c *MixConfig) { c.Count = 0 },
		"weight":  func(c *MixConfig) { c.Weights = [numMixOps]int{1, -1, 0, 0} },
		"mode":    func(c *MixConfig) { c.Modes = []Mode{"rot13"} },
		"kms key": func(c *MixConfig) { c.Modes = []Mode{ModeSSEKMS} },
	} {
		c := ok
		mod(&c)
		if _, err := RunMixed(context.Background(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	if ok.Concurrency != 64 || ok.Weights != [numMixOps]int{35, 40, 10, 15} || len(ok.Modes) != 3 ||
		ok.SharedKeys != 128 || ok.OwnKeys != 4 || ok.LargeSize != defaultLarge || !strings.HasPrefix(ok.Region, "us-") {
		t.Fatalf("defaults: %+v", ok)
	}
}
