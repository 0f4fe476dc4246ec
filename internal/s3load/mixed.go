package s3load

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MixOp is an operation of a mixed run.
type MixOp int

// Operations of a mixed run, in the order they are reported.
const (
	MixPut MixOp = iota
	MixGet
	MixList
	MixDelete
	numMixOps
)

var mixOpNames = [numMixOps]string{"PUT", "GET", "LIST", "DELETE"}

func (o MixOp) String() string { return mixOpNames[o] }

// MixConfig is a mixed run: Concurrency workers PUT, GET, LIST and DELETE
// objects in proportion to Weights for a bounded time or number of
// operations, each PUT in a mode of Modes (at random) with a size drawn
// from a mix of 0 B to 1 MiB objects and a few larger ones.
//
// The driver keeps a model of the bucket: for every key, the content
// written last (reproducible from a shared random buffer, so that the
// model costs a few bytes per key) and its mode. A worker holds a key's
// lock from before its request until the model is updated, so the model
// is exact: every GET (whole or ranged) is compared byte for byte with
// it, its SSE response headers with the mode, a GET of a deleted key must
// be NoSuchKey. Half the operations use keys shared by all workers, half
// the keys of a prefix owned by the worker, and every LIST lists the
// worker's prefix (in small pages) and compares keys and sizes with the
// model.
type MixConfig struct {
	Endpoint  string // https://127.0.0.1:port (loopback only)
	Region    string // default us-east-1
	AccessKey string
	Secret    string
	CAFile    string // PEM bundle trusting the server; "" for system roots
	Bucket    string // created if missing

	Concurrency int           // workers (default 64)
	Duration    time.Duration // stop after this long ...
	Count       int           // ... or this many operations (one must be set)
	// Weights of PUT, GET, LIST, DELETE (default 35/40/10/15).
	Weights [numMixOps]int
	// Modes of the PUTs, chosen at random (default none, sse-s3, sse-c,
	// and sse-kms if KMSKeyID is set; sse-s3+bk is sse-s3).
	Modes    []Mode
	KMSKeyID string
	// LargeSize bounds the "larger" objects: one PUT in a hundred is of
	// 1 MiB to LargeSize (default 8 MiB; below 1 MiB: none).
	LargeSize int64
	// SharedKeys is the number of keys shared by the workers (default 2
	// per worker); each worker also owns OwnKeys keys (default 4). Few
	// keys keep most of them present (PUTs outnumber DELETEs) so that
	// most GETs read an object, and make workers contend for keys.
	SharedKeys, OwnKeys int
	// Keep leaves the objects in place; by default they are deleted.
	Keep bool
}

// MixResult is the outcome of RunMixed.
type MixResult struct {
	Total   Stats            // every operation
	ByOp    [numMixOps]Stats // by operation
	Elapsed time.Duration    // length of the timed phase
	// PutsByMode counts the successful PUTs of each mode; GetMisses the
	// GETs of absent keys (answered NoSuchKey, as the model said);
	// RangedGets the GETs of a byte range.
	PutsByMode        map[Mode]int64
	GetMisses         int64
	RangedGets        int64
	BytesIn, BytesOut int64 // object bytes written and read
	// FirstError is the first error or mismatch seen, if any.
	FirstError error
}

// Errors and Mismatches over all operations.
func (r MixResult) Errors() int64     { return r.Total.Errors }
func (r MixResult) Mismatches() int64 { return r.Total.Mismatches }

// object is the model of one key's content: LEN bytes of the run's
// random buffer from OFF with STAMP over its first bytes.
type object struct {
	off, size int64
	stamp     [16]byte
	mode      Mode
	ssec      int // index of the SSE-C key (ModeSSEC)
}

// slot is one key of the model. known is false while the key's state is
// unknown (a request on it failed or was cut off): it is then not checked
// until a PUT or DELETE succeeds on it.
type slot struct {
	mu    sync.Mutex
	key   string
	obj   *object // nil: absent
	known bool
	// present mirrors obj != nil for a look without the lock: GETs
	// prefer keys that exist.
	present atomic.Bool
}

// set records the key's state; the caller holds mu.
func (sl *slot) set(o *object) {
	sl.obj, sl.known = o, true
	sl.present.Store(o != nil)
}

const (
	mib          = 1 << 20
	defaultLarge = 8 * mib
	listPage     = 2 // LIST page size: several pages per prefix
)

type mixRun struct {
	cfg    MixConfig
	c      *s3.Client
	prefix string
	base   []byte // random content of every object
	ssec   [2]struct{ key, md5 *string }
	shared []*slot
	own    [][]*slot // by worker

	stamp   atomic.Uint64
	errOnce sync.Once
	first   error
}

type mixSample struct {
	op       MixOp
	d        time.Duration
	in, out  int64
	err      bool
	mismatch bool
	miss     bool
	ranged   bool
	mode     Mode
}

func (cfg *MixConfig) check() error {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Weights == [numMixOps]int{} {
		cfg.Weights = [numMixOps]int{35, 40, 10, 15}
	}
	if len(cfg.Modes) == 0 {
		cfg.Modes = []Mode{ModeNone, ModeSSES3, ModeSSEC}
		if cfg.KMSKeyID != "" {
			cfg.Modes = append(cfg.Modes, ModeSSEKMS)
		}
	}
	if cfg.LargeSize == 0 {
		cfg.LargeSize = defaultLarge
	}
	if cfg.SharedKeys <= 0 {
		cfg.SharedKeys = 2 * cfg.Concurrency
	}
	if cfg.OwnKeys <= 0 {
		cfg.OwnKeys = 4
	}
	for _, w := range cfg.Weights {
		if w < 0 {
			return errors.New("s3load: negative weight")
		}
	}
	for _, m := range cfg.Modes {
		if !slices.Contains(Modes, m) {
			return fmt.Errorf("s3load: unknown mode %q", m)
		}
		if m == ModeSSEKMS && cfg.KMSKeyID == "" {
			return errors.New("s3load: sse-kms without KMSKeyID")
		}
	}
	c := Config{Endpoint: cfg.Endpoint, Bucket: cfg.Bucket, Duration: cfg.Duration, Count: cfg.Count}
	return c.check()
}

// RunMixed performs the mixed load described by cfg.
func RunMixed(ctx context.Context, cfg MixConfig) (MixResult, error) {
	if err := cfg.check(); err != nil {
		return MixResult{}, err
	}
	cc := Config{Endpoint: cfg.Endpoint, Region: cfg.Region, AccessKey: cfg.AccessKey, Secret: cfg.Secret,
		CAFile: cfg.CAFile, Concurrency: cfg.Concurrency}
	c, err := cc.client()
	if err != nil {
		return MixResult{}, err
	}
	r := &mixRun{cfg: cfg, c: c, base: make([]byte, max(cfg.LargeSize, mib))}
	_, _ = rand.Read(r.base)
	var id [6]byte
	_, _ = rand.Read(id[:])
	r.prefix = fmt.Sprintf("s3mix/%x/", id)
	for i := range r.ssec {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		sum := md5.Sum(k)
		r.ssec[i].key = aws.String(base64.StdEncoding.EncodeToString(k))
		r.ssec[i].md5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	// Every key starts absent: the prefix is new.
	for i := range cfg.SharedKeys {
		r.shared = append(r.shared, &slot{key: fmt.Sprintf("%sshared/%05d", r.prefix, i), known: true})
	}
	r.own = make([][]*slot, cfg.Concurrency)
	for w := range cfg.Concurrency {
		for i := range cfg.OwnKeys {
			r.own[w] = append(r.own[w], &slot{key: fmt.Sprintf("%sown/w%03d/%04d", r.prefix, w, i), known: true})
		}
	}
	bk := &run{cfg: Config{Bucket: cfg.Bucket}, c: c}
	if err := bk.ensureBucket(ctx); err != nil {
		return MixResult{}, err
	}
	if !cfg.Keep {
		defer r.cleanup()
	}

	rctx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var issued atomic.Int64
	per := make([][]mixSample, cfg.Concurrency)
	seed := mrand.Uint64()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)))
			buf := make([]byte, mib)
			for {
				n := issued.Add(1)
				if (cfg.Count > 0 && n > int64(cfg.Count)) || rctx.Err() != nil {
					return
				}
				var s mixSample
				s, buf = r.one(rctx, rng, w, buf)
				if s.err && rctx.Err() != nil {
					return // cut off by the deadline: not an error
				}
				per[w] = append(per[w], s)
			}
		})
	}
	wg.Wait()
	res := MixResult{Elapsed: time.Since(start), PutsByMode: map[Mode]int64{}}
	var all []sample
	var byOp [numMixOps][]sample
	for _, ss := range per {
		for _, s := range ss {
			sm := sample{d: s.d, n: s.in + s.out, err: s.err, mismatch: s.mismatch}
			all = append(all, sm)
			byOp[s.op] = append(byOp[s.op], sm)
			if s.err || s.mismatch {
				continue
			}
			res.BytesIn += s.in
			res.BytesOut += s.out
			switch {
			case s.op == MixPut:
				res.PutsByMode[s.mode]++
			case s.miss:
				res.GetMisses++
			case s.ranged:
				res.RangedGets++
			}
		}
	}
	res.Total = summarize(all, res.Elapsed)
	for op := range numMixOps {
		res.ByOp[op] = summarize(byOp[op], res.Elapsed)
	}
	res.FirstError = r.first
	return res, nil
}

func (r *mixRun) fail(err error) {
	r.errOnce.Do(func() { r.first = err })
}

// pick returns an operation drawn with the configured weights.
func (r *mixRun) pick(rng *mrand.Rand) MixOp {
	total := 0
	for _, w := range r.cfg.Weights {
		total += w
	}
	x := rng.IntN(total)
	for op, w := range r.cfg.Weights {
		if x < w {
			return MixOp(op)
		}
		x -= w
	}
	return MixPut
}

// size draws an object size: a tenth empty, a tenth of 1 to 16 bytes,
// 40 % up to 64 KiB, the rest up to 1 MiB but 1 % of 1 MiB to LargeSize.
func (r *mixRun) size(rng *mrand.Rand) int64 {
	switch x := rng.IntN(100); {
	case x < 10:
		return 0
	case x < 20:
		return 1 + rng.Int64N(16)
	case x < 60:
		return 17 + rng.Int64N(64<<10-16)
	case x < 99 || r.cfg.LargeSize <= mib:
		return 64<<10 + rng.Int64N(mib-64<<10+1)
	}
	return mib + 1 + rng.Int64N(r.cfg.LargeSize-mib)
}

// content writes o's bytes into buf (grown if needed) and returns them.
func (r *mixRun) content(o *object, buf []byte) []byte {
	if int64(cap(buf)) < o.size {
		buf = make([]byte, o.size)
	}
	p := buf[:o.size]
	copy(p, r.base[o.off:o.off+o.size])
	copy(p, o.stamp[:])
	return p
}

// one performs one operation of worker w; it returns the worker's buffer
// (replaced when a failed PUT may still be reading it).
func (r *mixRun) one(ctx context.Context, rng *mrand.Rand, w int, buf []byte) (mixSample, []byte) {
	op := r.pick(rng)
	if op == MixList {
		return r.list(ctx, w), buf
	}
	pool := r.shared
	if rng.IntN(2) == 0 {
		pool = r.own[w]
	}
	sl := pool[rng.IntN(len(pool))]
	// A GET looks at up to 4 keys for one that exists (it may be gone
	// when the lock is held: the GET then expects NoSuchKey).
	for i := 0; op == MixGet && i < 3 && !sl.present.Load(); i++ {
		sl = pool[rng.IntN(len(pool))]
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	switch op {
	case MixPut:
		return r.put(ctx, rng, sl, buf)
	case MixGet:
		return r.get(ctx, rng, sl), buf
	}
	return r.del(ctx, sl), buf
}

func (r *mixRun) sseHeaders(o *object) (alg, key, md *string) {
	if o.mode != ModeSSEC {
		return nil, nil, nil
	}
	return aws.String("AES256"), r.ssec[o.ssec].key, r.ssec[o.ssec].md5
}

func (r *mixRun) put(ctx context.Context, rng *mrand.Rand, sl *slot, buf []byte) (mixSample, []byte) {
	o := &object{size: r.size(rng), mode: r.cfg.Modes[rng.IntN(len(r.cfg.Modes))], ssec: rng.IntN(len(r.ssec))}
	o.off = rng.Int64N(int64(len(r.base)) - o.size + 1)
	binary.BigEndian.PutUint64(o.stamp[:8], r.stamp.Add(1))
	binary.BigEndian.PutUint64(o.stamp[8:], rng.Uint64())
	p := r.content(o, buf)
	in := &s3.PutObjectInput{
		Bucket: aws.String(r.cfg.Bucket), Key: aws.String(sl.key),
		Body: bytes.NewReader(p), ContentLength: aws.Int64(o.size),
	}
	switch o.mode {
	case ModeSSES3, ModeSSES3BucketKey:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case ModeSSEKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(r.cfg.KMSKeyID)
	case ModeSSEC:
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = r.sseHeaders(o)
	}
	t0 := time.Now()
	_, err := r.c.PutObject(ctx, in)
	s := mixSample{op: MixPut, d: time.Since(t0), in: o.size, mode: o.mode}
	if err != nil {
		// The transport may still read the body: the buffer is not
		// reused. The key's state is unknown until it is written again.
		sl.known = false
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("put %s (%s, %d bytes): %w", sl.key, o.mode, o.size, err))
		}
		return mixSample{op: MixPut, err: true}, make([]byte, mib)
	}
	sl.set(o)
	if cap(p) > mib {
		return s, buf // a large object's buffer is not kept
	}
	return s, p[:cap(p)]
}

// noSuchKey reports whether err is S3's NoSuchKey.
func noSuchKey(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey"
}

func (r *mixRun) get(ctx context.Context, rng *mrand.Rand, sl *slot) mixSample {
	o := sl.obj
	in := &s3.GetObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(sl.key)}
	var lo, hi int64 // expected bytes [lo, hi) of o
	if o != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = r.sseHeaders(o)
		hi = o.size
		if o.size > 0 && rng.IntN(4) == 0 {
			lo = rng.Int64N(o.size)
			hi = lo + 1 + rng.Int64N(o.size-lo)
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", lo, hi-1))
		}
	}
	t0 := time.Now()
	out, err := r.c.GetObject(ctx, in)
	s := mixSample{op: MixGet, ranged: in.Range != nil}
	switch {
	case err != nil && ctx.Err() != nil:
		return mixSample{op: MixGet, err: true}
	case err != nil && noSuchKey(err):
		s.d, s.miss = time.Since(t0), true
		if sl.known && o != nil {
			s.mismatch = true
			r.fail(fmt.Errorf("get %s: NoSuchKey, but the model has %d bytes (%s)", sl.key, o.size, o.mode))
		}
		sl.set(nil) // the key is absent now
		return s
	case err != nil:
		r.fail(fmt.Errorf("get %s: %w", sl.key, err))
		return mixSample{op: MixGet, err: true}
	}
	defer out.Body.Close()
	var want []byte
	if o != nil {
		want = r.content(o, nil)[lo:hi]
	}
	got, err := io.ReadAll(out.Body)
	s.d, s.out = time.Since(t0), int64(len(got))
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("get %s: read body: %w", sl.key, err))
		}
		return mixSample{op: MixGet, err: true}
	}
	if !sl.known {
		return s
	}
	if msg := r.compare(o, out, got, want); msg != "" {
		s.mismatch = true
		r.fail(fmt.Errorf("get %s (range %v): %s", sl.key, aws.ToString(in.Range), msg))
	}
	return s
}

// compare checks a GET's body and SSE headers against the model; it
// returns what differs, or "".
func (r *mixRun) compare(o *object, out *s3.GetObjectOutput, got, want []byte) string {
	if o == nil {
		return fmt.Sprintf("the model has no object, the server returned %d bytes", len(got))
	}
	if !bytes.Equal(got, want) {
		return fmt.Sprintf("body of %d bytes differs from the %d bytes written (%s)", len(got), len(want), o.mode)
	}
	sse, ssec := out.ServerSideEncryption, aws.ToString(out.SSECustomerAlgorithm)
	var ok bool
	switch o.mode {
	case ModeNone:
		ok = sse == "" && ssec == ""
	case ModeSSES3, ModeSSES3BucketKey:
		ok = sse == types.ServerSideEncryptionAes256 && ssec == ""
	case ModeSSEKMS:
		ok = sse == types.ServerSideEncryptionAwsKms && strings.HasSuffix(aws.ToString(out.SSEKMSKeyId), r.cfg.KMSKeyID)
	case ModeSSEC:
		ok = ssec == "AES256" && aws.ToString(out.SSECustomerKeyMD5) == aws.ToString(r.ssec[o.ssec].md5)
	}
	if !ok {
		return fmt.Sprintf("written %s, read with SSE %q, SSE-C %q, KMS key %q", o.mode, sse, ssec, aws.ToString(out.SSEKMSKeyId))
	}
	return ""
}

func (r *mixRun) del(ctx context.Context, sl *slot) mixSample {
	t0 := time.Now()
	_, err := r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(sl.key)})
	if err != nil {
		sl.known = false
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("delete %s: %w", sl.key, err))
		}
		return mixSample{op: MixDelete, err: true}
	}
	sl.set(nil)
	return mixSample{op: MixDelete, d: time.Since(t0)}
}

// list lists worker w's prefix in pages of listPage keys and compares
// keys and sizes with the model. Only w touches the prefix, and it is
// not doing anything else, so the model is exact (keys of unknown state
// may or may not be listed).
func (r *mixRun) list(ctx context.Context, w int) mixSample {
	prefix := fmt.Sprintf("%sown/w%03d/", r.prefix, w)
	t0 := time.Now()
	got := map[string]int64{}
	var token *string
	for {
		out, err := r.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(r.cfg.Bucket), Prefix: aws.String(prefix),
			MaxKeys: aws.Int32(listPage), ContinuationToken: token,
		})
		if err != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("list %s: %w", prefix, err))
			}
			return mixSample{op: MixList, err: true}
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if _, dup := got[k]; dup {
				r.fail(fmt.Errorf("list %s: %s listed twice", prefix, k))
				return mixSample{op: MixList, d: time.Since(t0), mismatch: true}
			}
			got[k] = aws.ToInt64(o.Size)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if token = out.NextContinuationToken; token == nil {
			r.fail(fmt.Errorf("list %s: truncated without a continuation token", prefix))
			return mixSample{op: MixList, err: true}
		}
	}
	s := mixSample{op: MixList, d: time.Since(t0)}
	for _, sl := range r.own[w] {
		size, listed := got[sl.key]
		delete(got, sl.key)
		switch {
		case !sl.known:
		case sl.obj == nil && listed:
			s.mismatch = true
			r.fail(fmt.Errorf("list %s: deleted key %s listed", prefix, sl.key))
		case sl.obj != nil && (!listed || size != sl.obj.size):
			s.mismatch = true
			r.fail(fmt.Errorf("list %s: %s listed %v with %d bytes, the model has %d", prefix, sl.key, listed, size, sl.obj.size))
		}
	}
	for k := range got {
		s.mismatch = true
		r.fail(fmt.Errorf("list %s: unknown key %s listed", prefix, k))
	}
	return s
}

// cleanup deletes every key that may exist, with a fresh context.
func (r *mixRun) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var keys []string
	for _, sl := range slices.Concat(append([][]*slot{r.shared}, r.own...)...) {
		if sl.obj != nil || !sl.known {
			keys = append(keys, sl.key)
		}
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, _ = r.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(k)})
		})
	}
	wg.Wait()
}

// MixTable renders a mixed run's result: ops, ops/s, MiB/s, p50, p99,
// errors and mismatches per operation and in total.
func MixTable(res MixResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %9s %9s %8s %10s %10s %7s %10s\n", "op", "ops", "ops/s", "MiB/s", "p50", "p99", "errors", "mismatches")
	row := func(name string, st Stats) {
		fmt.Fprintf(&b, "%-7s %9d %9.1f %8.1f %10v %10v %7d %10d\n", name, st.Ops, st.OpsPerSec, st.MiBps,
			round(st.P50), round(st.P99), st.Errors, st.Mismatches)
	}
	for op := range numMixOps {
		row(op.String(), res.ByOp[op])
	}
	row("total", res.Total)
	var modes []string
	for _, m := range Modes {
		if n := res.PutsByMode[m]; n > 0 {
			modes = append(modes, fmt.Sprintf("%s %d", m, n))
		}
	}
	fmt.Fprintf(&b, "in %v: PUTs by mode: %s; GETs: %d ranged, %d of deleted keys (NoSuchKey); %.1f MiB written, %.1f MiB read\n",
		res.Elapsed.Round(time.Millisecond), strings.Join(modes, ", "), res.RangedGets, res.GetMisses,
		float64(res.BytesIn)/mib, float64(res.BytesOut)/mib)
	return b.String()
}
