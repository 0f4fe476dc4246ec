package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// mix is the weight of each operation a worker picks, and the
// encryptions and sizes it writes.
type mix struct {
	put, multipart, copy, del, delMany, get int
	sse                                     []sseKind
	maxSize                                 int64 // single PUTs: 0 to maxSize bytes (a few reach it)
}

// event is one request a worker made.
type event struct {
	worker     int
	op         string // e.g. "put sse-s3"
	kms        bool   // the request needs the KMS
	start, end time.Time
	out        *outcome // nil: acknowledged
}

// recorder collects the events of all workers.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// worker runs operations on keys of its own (prefix) and records them in
// the model.
type worker struct {
	id      int
	prefix  string
	c       *s3.Client
	m       *model
	rng     *rand.Rand
	mix     mix
	rec     *recorder
	seq     int
	pool    []*keyRec     // keys whose one possible state is present
	pause   time.Duration // sleep after a failed request, as a client backing off
	corrupt []string      // reads that returned something never written
}

func newWorker(id int, prefix string, c *s3.Client, m *model, seed uint64, mx mix, rec *recorder) *worker {
	return &worker{id: id, prefix: prefix, c: c, m: m, rng: rand.New(rand.NewPCG(seed, uint64(id))), mix: mx, rec: rec}
}

// run performs operations until stop is closed (the operation in flight
// then completes or fails).
func (w *worker) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		w.step()
	}
}

// step performs one operation picked by the mix.
func (w *worker) step() {
	mx := w.mix
	total := mx.put + mx.multipart + mx.copy + mx.del + mx.delMany + mx.get
	n := w.rng.IntN(total)
	switch {
	case n < mx.put:
		w.put()
	case n < mx.put+mx.multipart:
		w.multipartUpload()
	case n < mx.put+mx.multipart+mx.copy:
		w.copyObject()
	case n < mx.put+mx.multipart+mx.copy+mx.del:
		w.deleteObject()
	case n < mx.put+mx.multipart+mx.copy+mx.del+mx.delMany:
		w.deleteObjects()
	default:
		w.get()
	}
}

func (w *worker) newKey(sse sseKind) *keyRec {
	w.seq++
	r := &keyRec{key: fmt.Sprintf("%s/%05d-%s", w.prefix, w.seq, sse), sse: sse, states: []state{absent}}
	if sse == sseC {
		r.ckey = newCustomerKey(r.key)
	}
	w.m.add(r)
	return r
}

func (w *worker) pickSSE() sseKind { return w.mix.sse[w.rng.IntN(len(w.mix.sse))] }

// size picks a body size: mostly small, some medium, a few up to maxSize.
func (w *worker) size() int64 {
	max := w.mix.maxSize
	switch p := w.rng.IntN(10); {
	case p < 1:
		return 0
	case p < 6:
		return w.rng.Int64N(min(64<<10, max) + 1)
	case p < 9:
		return w.rng.Int64N(min(1<<20, max) + 1)
	default:
		return w.rng.Int64N(max + 1)
	}
}

// do runs one request and records it.
func (w *worker) do(op string, kms bool, f func(ctx context.Context) error) *outcome {
	ctx, cancel := opContext()
	defer cancel()
	start := time.Now()
	o := classify(f(ctx))
	w.rec.add(event{worker: w.id, op: op, kms: kms, start: start, end: time.Now(), out: o})
	if o != nil && w.pause > 0 {
		time.Sleep(w.pause)
	}
	return o
}

func stateOf(b []byte, etag string, sse sseKind) state {
	return state{present: true, sum: sha256.Sum256(b), size: int64(len(b)), etag: etag, sse: sse}
}

func (w *worker) put() { w.putSize(w.pickSSE(), w.size()) }

// putSize PUTs a new key of n bytes.
func (w *worker) putSize(sse sseKind, n int64) {
	r := w.newKey(sse)
	b := body(r.key, n)
	want := stateOf(b, "", sse)
	in := &s3.PutObjectInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key), Body: bytes.NewReader(b)}
	setSSE(sse, r.ckey, &in.ServerSideEncryption, &in.SSEKMSKeyId, &in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5)
	var etag string
	o := w.do("put "+string(sse), sse.needsKMS(), func(ctx context.Context) error {
		out, err := w.c.PutObject(ctx, in)
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	w.settle(r, want, etag, o)
}

// settle records the result of a write of want to r.
func (w *worker) settle(r *keyRec, want state, etag string, o *outcome) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if o == nil {
		want.etag = etag
		r.applied(want)
		if want.present {
			w.pool = append(w.pool, r)
		}
		return
	}
	r.maybe(want)
}

func setSSE(sse sseKind, ck *customerKey, typ *types.ServerSideEncryption, kmsKey, alg, key, md5 **string) {
	switch sse {
	case sseS3:
		*typ = types.ServerSideEncryptionAes256
	case sseKMS:
		*typ = types.ServerSideEncryptionAwsKms
		*kmsKey = aws.String("faults-kms")
	case sseC:
		*alg, *key, *md5 = aws.String("AES256"), aws.String(ck.Key), aws.String(ck.MD5)
	}
}

// multipartUpload uploads a 5 MiB part and a small last part, then
// completes.
func (w *worker) multipartUpload() {
	sse := w.pickSSE()
	r := w.newKey(sse)
	w.m.mu.Lock()
	r.multipart, r.createSent = true, true
	w.m.mu.Unlock()
	kms := sse.needsKMS()
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key)}
	setSSE(sse, r.ckey, &create.ServerSideEncryption, &create.SSEKMSKeyId, &create.SSECustomerAlgorithm, &create.SSECustomerKey, &create.SSECustomerKeyMD5)
	var id string
	if o := w.do("multipart-create "+string(sse), kms, func(ctx context.Context) error {
		out, err := w.c.CreateMultipartUpload(ctx, create)
		if err == nil {
			id = aws.ToString(out.UploadId)
		}
		return err
	}); o != nil {
		return
	}
	w.m.mu.Lock()
	r.uploadID = id
	w.m.mu.Unlock()
	b := body(r.key, 5<<20+1+w.rng.Int64N(1<<20))
	parts := [][]byte{b[:5<<20], b[5<<20:]}
	var done []types.CompletedPart
	for i, p := range parts {
		in := &s3.UploadPartInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key), UploadId: aws.String(id),
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)}
		if r.ckey != nil {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(r.ckey.Key), aws.String(r.ckey.MD5)
		}
		if o := w.do("multipart-part "+string(sse), kms, func(ctx context.Context) error {
			out, err := w.c.UploadPart(ctx, in)
			if err == nil {
				done = append(done, types.CompletedPart{PartNumber: in.PartNumber, ETag: out.ETag})
			}
			return err
		}); o != nil {
			return // the upload stays in progress
		}
	}
	want := stateOf(b, "", sse)
	var etag string
	o := w.do("multipart-complete "+string(sse), kms, func(ctx context.Context) error {
		in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key), UploadId: aws.String(id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}
		if r.ckey != nil {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(r.ckey.Key), aws.String(r.ckey.MD5)
		}
		out, err := w.c.CompleteMultipartUpload(ctx, in)
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	if o == nil {
		w.m.mu.Lock()
		r.completeAcked = true
		w.m.mu.Unlock()
	}
	w.settle(r, want, etag, o)
}

// pick returns a random key of the pool (acknowledged, present), or nil.
func (w *worker) pick() *keyRec {
	if len(w.pool) == 0 {
		return nil
	}
	return w.pool[w.rng.IntN(len(w.pool))]
}

// retire takes r out of the pool (it is being deleted).
func (w *worker) retire(r *keyRec) {
	for i, x := range w.pool {
		if x == r {
			w.pool = append(w.pool[:i], w.pool[i+1:]...)
			return
		}
	}
}

func (w *worker) copyObject() {
	src := w.pick()
	if src == nil {
		w.put()
		return
	}
	w.m.mu.Lock()
	srcState, _ := src.acked()
	w.m.mu.Unlock()
	sse := w.pickSSE()
	r := w.newKey(sse)
	in := &s3.CopyObjectInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key), CopySource: aws.String(w.m.bucket + "/" + src.key)}
	setSSE(sse, r.ckey, &in.ServerSideEncryption, &in.SSEKMSKeyId, &in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5)
	if src.ckey != nil {
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = aws.String("AES256"), aws.String(src.ckey.Key), aws.String(src.ckey.MD5)
	}
	want := state{present: true, sum: srcState.sum, size: srcState.size, sse: sse}
	var etag string
	o := w.do("copy "+string(src.sse)+">"+string(sse), sse.needsKMS() || src.sse.needsKMS(), func(ctx context.Context) error {
		out, err := w.c.CopyObject(ctx, in)
		if err == nil && out.CopyObjectResult != nil {
			etag = aws.ToString(out.CopyObjectResult.ETag)
		}
		return err
	})
	w.settle(r, want, etag, o)
}

func (w *worker) deleteObject() {
	r := w.pick()
	if r == nil {
		w.put()
		return
	}
	w.retire(r)
	o := w.do("delete", false, func(ctx context.Context) error {
		_, err := w.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.m.bucket), Key: aws.String(r.key)})
		return err
	})
	w.settle(r, absent, "", o)
}

func (w *worker) deleteObjects() {
	var rs []*keyRec
	for range 2 + w.rng.IntN(3) {
		if r := w.pick(); r != nil && !containsRec(rs, r) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		w.put()
		return
	}
	var ids []types.ObjectIdentifier
	for _, r := range rs {
		w.retire(r)
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(r.key)})
	}
	var out *s3.DeleteObjectsOutput
	o := w.do("delete-objects", false, func(ctx context.Context) error {
		var err error
		out, err = w.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(w.m.bucket), Delete: &types.Delete{Objects: ids}})
		return err
	})
	deleted := map[string]bool{}
	if o == nil {
		for _, d := range out.Deleted {
			deleted[aws.ToString(d.Key)] = true
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			w.rec.add(event{worker: w.id, op: "delete-objects entry", start: time.Now(), end: time.Now(),
				out: &outcome{Status: 200, Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)}})
		}
	}
	for _, r := range rs {
		if deleted[r.key] {
			w.settle(r, absent, "", nil)
		} else {
			w.settle(r, absent, "", &outcome{})
		}
	}
}

func containsRec(rs []*keyRec, r *keyRec) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// get reads a key of the pool back and checks it.
func (w *worker) get() {
	r := w.pick()
	if r == nil {
		w.put()
		return
	}
	var got state
	o := w.do("get "+string(r.sse), r.sse.needsKMS(), func(ctx context.Context) error {
		var err error
		got, err = readKey(ctx, w.c, w.m.bucket, r)
		return err
	})
	if o != nil {
		return
	}
	w.m.mu.Lock()
	ok := r.matches(got)
	want := r.statesString()
	w.m.mu.Unlock()
	if !ok {
		w.corrupt = append(w.corrupt, fmt.Sprintf("%s: read %s, want %s", r.key, got, want))
	}
}

// tally counts events by operation and outcome, for the log.
func tally(events []event) string {
	counts := map[string]int{}
	for _, e := range events {
		k := "ok"
		if e.out != nil {
			k = e.out.key()
		}
		counts[k]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, counts[k])
	}
	return b.String()
}
