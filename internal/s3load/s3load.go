// Package s3load is a load driver for S3 endpoints built on
// aws-sdk-go-v2: a fixed number of workers PUT and/or GET objects of one
// size for a bounded time and number of operations, optionally verifying
// every read against a SHA-256 of what was written, and report
// throughput, operation rate and latency percentiles per operation. Objects
// are plain or encrypted with SSE-S3, SSE-KMS or SSE-C (Mode); with a KMS
// call counter (Config.KMSCalls) a run also reports the KMS calls made
// during its timed phase.
//
// It is a development tool: Run refuses endpoints that are not on a
// loopback address. The test in this package drives it against an
// in-process S3 node or a running `s3kms dev` (see load_test.go).
package s3load

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Op selects the operations a run issues.
type Op string

// Operations.
const (
	OpPut   Op = "put"   // PUT new objects
	OpGet   Op = "get"   // GET objects written before the timed phase
	OpMixed Op = "mixed" // alternate PUT and GET
)

// Mode is the server-side encryption of the objects a run writes and reads.
type Mode string

// Encryption modes.
const (
	ModeNone   Mode = "none"    // plain objects
	ModeSSES3  Mode = "sse-s3"  // x-amz-server-side-encryption: AES256
	ModeSSEKMS Mode = "sse-kms" // aws:kms with Config.KMSKeyID
	ModeSSEC   Mode = "sse-c"   // customer key Config.CustomerKey, sent on PUT and GET
	// ModeSSES3BucketKey is SSE-S3 against a node with bucket keys on
	// (s3node/bucketkey): the requests are those of ModeSSES3; the driver
	// only labels the node (the test starts a second in-process node).
	ModeSSES3BucketKey Mode = "sse-s3+bk"
)

// Modes are the encryption modes, in the order they are reported.
var Modes = []Mode{ModeNone, ModeSSES3, ModeSSEKMS, ModeSSEC, ModeSSES3BucketKey}

// KMSCalls counts calls an S3 node made to its KMS.
type KMSCalls struct {
	GenerateDataKey int64
	Decrypt         int64
	CreateBucketKey int64
}

// Total is the number of calls of every kind.
func (c KMSCalls) Total() int64 { return c.GenerateDataKey + c.Decrypt + c.CreateBucketKey }

// Config is one load run.
type Config struct {
	Endpoint  string // https://127.0.0.1:port (loopback only)
	Region    string // default us-east-1
	AccessKey string
	Secret    string
	CAFile    string // PEM bundle trusting the server; "" for system roots

	Bucket      string // created if missing
	ObjectSize  int64  // bytes per object
	Concurrency int    // workers (default 1)
	// The run stops at whichever bound is reached first; at least one
	// must be set.
	Duration time.Duration // timed phase length
	Count    int           // operations in the timed phase

	Op          Op   // default OpPut
	Mode        Mode // default ModeNone
	KMSKeyID    string
	CustomerKey []byte // 32 bytes (ModeSSEC); random for the run if nil
	// KMSCalls, if set, returns the node's cumulative KMS calls: the
	// result then has those of the timed phase.
	KMSCalls    func() KMSCalls
	VerifyReads bool // hash every GET body and compare with the PUT
	// Keys, with OpGet, are existing objects of Bucket to read in turn
	// instead of objects the run writes first: a steady GET load on a
	// data set made elsewhere (e.g. while a rewrap job re-seals it). The
	// run neither verifies nor deletes them; Mode must match how they
	// were written (only the SSE-C key is sent).
	Keys []string
	// Keep leaves the objects in place; by default they are deleted
	// (the bucket is left).
	Keep bool
}

// Stats summarizes one kind of operation (or all of them).
type Stats struct {
	Ops        int64 // successful operations
	Bytes      int64 // object bytes moved by them
	Errors     int64
	Mismatches int64 // verified GETs whose body differed from the PUT
	P50        time.Duration
	P90        time.Duration
	P99        time.Duration
	MiBps      float64 // Bytes per second of the timed phase, in MiB
	OpsPerSec  float64
}

// Result is the outcome of Run.
type Result struct {
	Stats                  // all operations
	Put, Get Stats         // by operation
	Elapsed  time.Duration // length of the timed phase
	// KMS are the KMS calls of the timed phase (zero without
	// Config.KMSCalls). Operations cut off by the deadline may have made
	// calls without being counted in Stats.
	KMS KMSCalls
	// FirstError is the first operation error seen, if any.
	FirstError error
}

// String renders the result as one line per operation kind that ran.
func (r Result) String() string {
	var b bytes.Buffer
	for _, s := range []struct {
		name string
		st   Stats
	}{{"PUT", r.Put}, {"GET", r.Get}} {
		if s.st.Ops+s.st.Errors == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s %8.1f MiB/s %8.1f ops/s  p50 %-9v p90 %-9v p99 %-9v ops %d errors %d mismatches %d\n",
			s.name, s.st.MiBps, s.st.OpsPerSec, round(s.st.P50), round(s.st.P90), round(s.st.P99),
			s.st.Ops, s.st.Errors, s.st.Mismatches)
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// check validates cfg and fills in defaults.
func (cfg *Config) check() error {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Op == "" {
		cfg.Op = OpPut
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeNone
	}
	switch {
	case cfg.Op != OpPut && cfg.Op != OpGet && cfg.Op != OpMixed:
		return fmt.Errorf("s3load: unknown op %q", cfg.Op)
	case !slices.Contains(Modes, cfg.Mode):
		return fmt.Errorf("s3load: unknown mode %q", cfg.Mode)
	case cfg.Mode == ModeSSEKMS && cfg.KMSKeyID == "":
		return errors.New("s3load: sse-kms without KMSKeyID")
	case cfg.Mode == ModeSSEC && cfg.CustomerKey != nil && len(cfg.CustomerKey) != 32:
		return errors.New("s3load: CustomerKey is not 32 bytes")
	case cfg.Duration <= 0 && cfg.Count <= 0:
		return errors.New("s3load: set Duration or Count")
	case cfg.ObjectSize < 0:
		return errors.New("s3load: negative ObjectSize")
	case len(cfg.Keys) > 0 && (cfg.Op != OpGet || cfg.VerifyReads):
		return errors.New("s3load: Keys go with OpGet and without VerifyReads")
	case cfg.Bucket == "":
		return errors.New("s3load: no bucket")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("s3load: bad endpoint %q", cfg.Endpoint)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("s3load: endpoint %s is not on a loopback address", cfg.Endpoint)
	}
	return nil
}

// client builds an SDK client for cfg with one idle connection per worker.
func (cfg *Config) client() (*s3.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = cfg.Concurrency * 2
	tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
	if cfg.CAFile != "" {
		pemData, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("s3load: no certificate in %s", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return s3.New(s3.Options{
		Region:           cfg.Region,
		BaseEndpoint:     aws.String(cfg.Endpoint),
		UsePathStyle:     true,
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
		Credentials:      aws.NewCredentialsCache(staticCreds{cfg.AccessKey, cfg.Secret}),
	}), nil
}

type staticCreds struct{ id, secret string }

func (c staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret, Source: "s3load"}, nil
}

// run is the state shared by the workers of one Run.
type run struct {
	cfg    Config
	c      *s3.Client
	prefix string
	base   []byte    // random payload; each object stamps its first bytes
	bufs   sync.Pool // of *[]byte, len(base)

	ssecKey, ssecMD5 *string // base64 SSE-C headers (ModeSSEC)

	mu      sync.Mutex
	written map[string][sha256.Size]byte // key -> hash of its content
	keys    []string                     // readable keys, in write order
	errOnce sync.Once
	first   error
}

// sample is one operation's outcome.
type sample struct {
	get      bool
	d        time.Duration
	n        int64
	err      bool
	mismatch bool
}

// Run performs the load described by cfg.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	c, err := cfg.client()
	if err != nil {
		return Result{}, err
	}
	r := &run{cfg: cfg, c: c, written: map[string][sha256.Size]byte{},
		base: make([]byte, cfg.ObjectSize)}
	var id [6]byte
	_, _ = rand.Read(id[:])
	_, _ = rand.Read(r.base)
	r.prefix = fmt.Sprintf("s3load/%x/", id)
	if cfg.Mode == ModeSSEC {
		k := cfg.CustomerKey
		if k == nil {
			k = make([]byte, 32)
			_, _ = rand.Read(k)
		}
		sum := md5.Sum(k)
		r.ssecKey = aws.String(base64.StdEncoding.EncodeToString(k))
		r.ssecMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	if err := r.ensureBucket(ctx); err != nil {
		return Result{}, err
	}
	if !cfg.Keep && len(cfg.Keys) == 0 {
		defer r.cleanup()
	}
	switch {
	case len(cfg.Keys) > 0:
		r.keys = slices.Clone(cfg.Keys)
	case cfg.Op != OpPut:
		// Objects to read: one per worker, written before the clock starts.
		if err := r.prefill(ctx); err != nil {
			return Result{}, err
		}
	}

	var issued atomic.Int64
	rctx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	per := make([][]sample, cfg.Concurrency)
	var wg sync.WaitGroup
	var kms0 KMSCalls
	if cfg.KMSCalls != nil {
		kms0 = cfg.KMSCalls()
	}
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Go(func() {
			for {
				n := issued.Add(1)
				if (cfg.Count > 0 && n > int64(cfg.Count)) || rctx.Err() != nil {
					return
				}
				get := cfg.Op == OpGet || (cfg.Op == OpMixed && n%2 == 0)
				var s sample
				if get {
					s = r.get(rctx, n)
				} else {
					s = r.put(rctx, fmt.Sprintf("w%d/%d", w, n), n)
				}
				if s.err && rctx.Err() != nil {
					return // cut off by the deadline: not an error
				}
				per[w] = append(per[w], s)
			}
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), FirstError: r.first}
	if cfg.KMSCalls != nil {
		k := cfg.KMSCalls()
		res.KMS = KMSCalls{k.GenerateDataKey - kms0.GenerateDataKey, k.Decrypt - kms0.Decrypt,
			k.CreateBucketKey - kms0.CreateBucketKey}
	}
	var all, puts, gets []sample
	for _, ss := range per {
		for _, s := range ss {
			all = append(all, s)
			if s.get {
				gets = append(gets, s)
			} else {
				puts = append(puts, s)
			}
		}
	}
	res.Stats = summarize(all, res.Elapsed)
	res.Put = summarize(puts, res.Elapsed)
	res.Get = summarize(gets, res.Elapsed)
	return res, nil
}

func (r *run) fail(err error) {
	r.errOnce.Do(func() { r.first = err })
}

func (r *run) ensureBucket(ctx context.Context) error {
	_, err := r.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.cfg.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("s3load: create bucket: %w", err)
	}
	return nil
}

func (r *run) prefill(ctx context.Context) error {
	errs := make([]error, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range r.cfg.Concurrency {
		wg.Go(func() {
			if s := r.put(ctx, fmt.Sprintf("seed/%d", w), -int64(w)-1); s.err {
				errs[w] = fmt.Errorf("s3load: prefill: %w", r.first)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// payload returns the content of the object numbered n: the shared random
// bytes with n and a per-call counter stamped at the start, so that every
// object differs.
func (r *run) payload(n int64) *[]byte {
	bp, _ := r.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
		*bp = make([]byte, len(r.base))
	}
	p := *bp
	copy(p, r.base)
	var stamp [16]byte
	binary.BigEndian.PutUint64(stamp[:8], uint64(n))
	binary.BigEndian.PutUint64(stamp[8:], uint64(time.Now().UnixNano()))
	copy(p, stamp[:])
	return bp
}

func (r *run) put(ctx context.Context, name string, n int64) sample {
	key := r.prefix + name
	bp := r.payload(n)
	p := *bp
	var sum [sha256.Size]byte
	if r.cfg.VerifyReads {
		sum = sha256.Sum256(p)
	}
	t0 := time.Now()
	in := &s3.PutObjectInput{
		Bucket: aws.String(r.cfg.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
	}
	switch r.cfg.Mode {
	case ModeSSES3, ModeSSES3BucketKey:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case ModeSSEKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(r.cfg.KMSKeyID)
	case ModeSSEC:
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), r.ssecKey, r.ssecMD5
	}
	_, err := r.c.PutObject(ctx, in)
	s := sample{d: time.Since(t0), n: int64(len(p))}
	if err != nil {
		// The transport may still be reading a failed request's body:
		// the buffer is not reused.
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("put %s: %w", key, err))
		}
		return sample{err: true}
	}
	r.bufs.Put(bp)
	r.mu.Lock()
	r.written[key] = sum
	r.keys = append(r.keys, key)
	r.mu.Unlock()
	return s
}

func (r *run) get(ctx context.Context, n int64) sample {
	r.mu.Lock()
	key := r.keys[int(n)%len(r.keys)]
	want := r.written[key]
	r.mu.Unlock()
	t0 := time.Now()
	in := &s3.GetObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(key)}
	if r.cfg.Mode == ModeSSEC {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), r.ssecKey, r.ssecMD5
	}
	out, err := r.c.GetObject(ctx, in)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("get %s: %w", key, err))
		}
		return sample{get: true, err: true}
	}
	defer out.Body.Close()
	var w io.Writer = io.Discard
	h := sha256.New()
	if r.cfg.VerifyReads {
		w = h
	}
	got, err := io.Copy(w, out.Body)
	s := sample{get: true, d: time.Since(t0), n: got}
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("get %s: read body: %w", key, err))
		}
		return sample{get: true, err: true}
	}
	if r.cfg.VerifyReads && (got != r.cfg.ObjectSize || !bytes.Equal(h.Sum(nil), want[:])) {
		s.mismatch = true
		r.fail(fmt.Errorf("get %s: body differs from what was written (%d bytes read)", key, got))
	}
	return s
}

// cleanup deletes the objects written, with a fresh context: the run's
// may be done.
func (r *run) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.mu.Lock()
	keys := slices.Clone(r.keys)
	r.mu.Unlock()
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(k)})
			var ae smithy.APIError
			if err != nil && !errors.As(err, &ae) {
				r.fail(fmt.Errorf("cleanup %s: %w", k, err))
			}
		})
	}
	wg.Wait()
}

// summarize computes the stats of samples over elapsed.
func summarize(ss []sample, elapsed time.Duration) Stats {
	var st Stats
	var ds []time.Duration
	for _, s := range ss {
		switch {
		case s.err:
			st.Errors++
			continue
		case s.mismatch:
			st.Mismatches++
		}
		st.Ops++
		st.Bytes += s.n
		ds = append(ds, s.d)
	}
	slices.Sort(ds)
	st.P50, st.P90, st.P99 = percentile(ds, 50), percentile(ds, 90), percentile(ds, 99)
	if sec := elapsed.Seconds(); sec > 0 {
		st.MiBps = float64(st.Bytes) / (1 << 20) / sec
		st.OpsPerSec = float64(st.Ops) / sec
	}
	return st
}

// percentile returns the p-th percentile of sorted ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p + 99) / 100
	return ds[max(i-1, 0)]
}
