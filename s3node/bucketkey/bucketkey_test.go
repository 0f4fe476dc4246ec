package bucketkey_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
	"github.com/s3kms/s3kms/s3node/bucketkey"
	"github.com/s3kms/s3kms/s3node/objcrypt"
)

// countingKMS counts the calls that reach a real KMS.
type countingKMS struct {
	next     bucketkey.KMS
	gen, dec atomic.Int64
}

func (k *countingKMS) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error) {
	k.gen.Add(1)
	return k.next.GenerateDataKey(ctx, keyID, ec)
}

func (k *countingKMS) Decrypt(ctx context.Context, s []byte, ec map[string]string) (kms.DataKey, error) {
	k.dec.Add(1)
	return k.next.Decrypt(ctx, s, ec)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newCache returns a cache on a real KMS (api/apitest over mutual TLS)
// with a bucket root key "bucket/b1".
func newCache(t *testing.T, maxEntries int) (*bucketkey.Cache, *countingKMS, *clock) {
	t.Helper()
	e := apitest.New(t, apitest.Options{})
	admin := e.Client(t, e.Admin)
	for _, id := range []string{"bucket/b1", "bucket/b2"} {
		if _, err := admin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: id, Purpose: "bucket-root"}); err != nil {
			t.Fatal(err)
		}
	}
	k := &countingKMS{next: e.Client(t, e.S3Node)}
	clk := &clock{t: time.Now()}
	c, err := bucketkey.New(bucketkey.Config{KMS: k, TTL: time.Minute, Max: maxEntries, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, k, clk
}

func bucketCtx(id string) map[string]string { return map[string]string{"s3kms:bucket": id} }
func objectCtx(b, key string) map[string]string {
	return map[string]string{"s3kms:bucket": b, "s3kms:key": key}
}

// TestSealOpen seals many object keys with one KMS call, opens them from
// a cold cache with one more, and refuses an envelope moved to another
// object or bucket.
func TestSealOpen(t *testing.T) {
	c, k, clk := newCache(t, 0)
	ctx := context.Background()
	type sealedObj struct {
		key string
		oek []byte
		env []byte
	}
	var objs []sealedObj
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		oek, env, v, err := c.Seal(ctx, "bucket/b1", bucketCtx("b1"), objectCtx("b1", key), sealed.UseSSES3)
		if err != nil || v != 1 || !bucketkey.IsEnvelope(env) {
			t.Fatalf("Seal: v%d %v", v, err)
		}
		objs = append(objs, sealedObj{key, oek.Bytes(), env})
		oek.Wipe()
	}
	if k.gen.Load() != 1 {
		t.Fatalf("%d GenerateDataKey calls for 20 objects, want 1", k.gen.Load())
	}
	if bytes.Equal(objs[0].oek, objs[1].oek) {
		t.Fatal("two objects share an OEK")
	}
	c.Flush()
	if c.Len() != 0 {
		t.Fatal("Flush left entries")
	}
	for _, o := range objs {
		oek, err := c.Open(ctx, o.env, bucketCtx("b1"), objectCtx("b1", o.key))
		if err != nil || !bytes.Equal(oek.Bytes(), o.oek) {
			t.Fatalf("Open %s: %v", o.key, err)
		}
	}
	if k.dec.Load() != 1 {
		t.Fatalf("%d Decrypt calls for 20 opens of one bucket key, want 1", k.dec.Load())
	}
	if _, err := c.Open(ctx, objs[0].env, bucketCtx("b1"), objectCtx("b1", "other")); !errors.Is(err, bucketkey.ErrWrongObject) {
		t.Fatalf("envelope moved to another key: %v", err)
	}
	c.Flush()
	if _, err := c.Open(ctx, objs[0].env, bucketCtx("b2"), objectCtx("b2", objs[0].key)); kms.ErrorCode(err) != kms.EDecrypt {
		t.Fatalf("envelope moved to another bucket: %v", err)
	}

	// After the TTL a new BDK is made for new objects; old ones still open.
	clk.add(2 * time.Minute)
	_, env2, _, err := c.Seal(ctx, "bucket/b1", bucketCtx("b1"), objectCtx("b1", "new"), sealed.UseSSES3)
	if err != nil || k.gen.Load() != 2 {
		t.Fatalf("after TTL: %v, %d generate calls", err, k.gen.Load())
	}
	e1, _ := bucketkey.Parse(objs[0].env)
	e2, _ := bucketkey.Parse(env2)
	if bytes.Equal(e1.BucketKey, e2.BucketKey) {
		t.Fatal("the BDK outlived its TTL")
	}
}

// TestConcurrentSealsShareOneKMSCall checks that a burst of writes to one
// bucket costs one KMS call.
func TestConcurrentSealsShareOneKMSCall(t *testing.T) {
	c, k, _ := newCache(t, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oek, _, _, err := c.Seal(context.Background(), "bucket/b1", bucketCtx("b1"), objectCtx("b1", fmt.Sprint(i)), sealed.UseSSES3)
			if err != nil {
				errs <- err
				return
			}
			oek.Wipe()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if k.gen.Load() != 1 {
		t.Fatalf("%d GenerateDataKey calls, want 1", k.gen.Load())
	}
}

// TestBoundAndErrors checks the LRU bound and that KMS errors pass
// through unchanged.
func TestBoundAndErrors(t *testing.T) {
	c, k, _ := newCache(t, 1)
	ctx := context.Background()
	for _, b := range []string{"b1", "b2", "b1"} {
		oek, _, _, err := c.Seal(ctx, "bucket/"+b, bucketCtx(b), objectCtx(b, "k"), sealed.UseSSES3)
		if err != nil {
			t.Fatal(err)
		}
		oek.Wipe()
		if c.Len() != 1 {
			t.Fatalf("%d entries, bound 1", c.Len())
		}
	}
	if k.gen.Load() != 3 {
		t.Fatalf("%d generate calls, want 3 (evicted)", k.gen.Load())
	}
	if _, _, _, err := c.Seal(ctx, "bucket/none", bucketCtx("x"), objectCtx("x", "k"), sealed.UseSSES3); kms.ErrorCode(err) != kms.ENotFound {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestParse checks malformed envelopes.
func TestParse(t *testing.T) {
	v := loadVector(t)
	good, _ := hex.DecodeString(v.Envelope)
	n := int(good[1])<<8 | int(good[2])
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kms sealed blob", good[3:]},
		{"short", good[:3]},
		{"zero length", append([]byte{bucketkey.Version, 0, 0}, good[3:]...)},
		{"length beyond end", append([]byte{bucketkey.Version, 0xff, 0xff}, good[3:]...)},
		{"no object key", good[:3+n]},
		{"object key not sealed under a bucket key", append(append([]byte{}, good[:3+n]...), good[3:3+n]...)},
	} {
		if _, err := bucketkey.Parse(tc.b); !errors.Is(err, bucketkey.ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := bucketkey.Parse(good); err != nil {
		t.Fatal(err)
	}
}

// vector is testdata/vector.json: an envelope made with a known root key
// (as the software protector would derive it) and its OEK.
type vector struct {
	Root      string            `json:"root_key"`
	BucketCtx map[string]string `json:"bucket_context"`
	ObjectCtx map[string]string `json:"object_context"`
	BDK       string            `json:"bucket_data_key"`
	OEK       string            `json:"object_key"`
	Envelope  string            `json:"envelope"`
}

var update = flag.Bool("update", false, "rewrite testdata/vector.json")

// seqReader is a deterministic "random" source for vectors only.
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

func makeVector(t *testing.T) vector {
	t.Helper()
	root := bytes.Repeat([]byte{0x11}, 32)
	bdk := bytes.Repeat([]byte{0x22}, 32)
	oek := bytes.Repeat([]byte{0x33}, 32)
	v := vector{Root: hex.EncodeToString(root), BucketCtx: bucketCtx("0123456789abcdef"),
		ObjectCtx: objectCtx("0123456789abcdef", "photos/cat.jpg"), BDK: hex.EncodeToString(bdk), OEK: hex.EncodeToString(oek)}
	rnd := &seqReader{}
	bc, _ := sealed.EncodeContext(v.BucketCtx)
	sb, err := sealed.Seal(rnd, sealed.HMACPRF(root), sealed.UseSSES3, "bucket/0123456789abcdef", 3, bc, bdk)
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := sealed.EncodeContext(v.ObjectCtx)
	so, err := sealed.Seal(rnd, sealed.HMACPRF(bdk), sealed.UseSSES3, bucketkey.BucketKeyID, 0, oc, oek)
	if err != nil {
		t.Fatal(err)
	}
	env, err := bucketkey.Envelope{BucketKey: sb, ObjectKey: so}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v.Envelope = hex.EncodeToString(env)
	return v
}

func loadVector(t *testing.T) vector {
	t.Helper()
	var v vector
	b, err := os.ReadFile("testdata/vector.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVector checks the frozen envelope: it is what the format makes
// today, and it opens with the root key the way the KMS and this package
// open it.
func TestVector(t *testing.T) {
	made := makeVector(t)
	if *update {
		b, _ := json.MarshalIndent(made, "", "  ")
		if err := os.WriteFile("testdata/vector.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := loadVector(t)
	if v.Envelope != made.Envelope {
		t.Fatal("the envelope format changed: testdata/vector.json no longer matches (run with -update only if intended)")
	}
	raw, _ := hex.DecodeString(v.Envelope)
	env, err := bucketkey.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := hex.DecodeString(v.Root)
	sb, _ := sealed.Parse(env.BucketKey)
	bc, _ := sealed.EncodeContext(v.BucketCtx)
	bdk, err := sb.Open(sealed.HMACPRF(root), bc)
	if err != nil || hex.EncodeToString(bdk) != v.BDK {
		t.Fatalf("BDK: %v", err)
	}
	so, _ := sealed.Parse(env.ObjectKey)
	oc, _ := sealed.EncodeContext(v.ObjectCtx)
	oek, err := so.Open(sealed.HMACPRF(bdk), oc)
	if err != nil || hex.EncodeToString(oek) != v.OEK {
		t.Fatalf("OEK: %v", err)
	}
	if _, err := objcrypt.ObjectKeyFrom(oek); err != nil {
		t.Fatal(err)
	}
}

// FuzzParse: no input panics Parse, and what parses re-marshals to itself.
func FuzzParse(f *testing.F) {
	v := makeVector(&testing.T{})
	good, _ := hex.DecodeString(v.Envelope)
	f.Add(good)
	f.Add([]byte{bucketkey.Version})
	f.Add([]byte{bucketkey.Version, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := bucketkey.Parse(b)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-marshal differs: %v", err)
		}
	})
}

// TestOpenWithoutCache reads an envelope with the uncached Open.
func TestOpenWithoutCache(t *testing.T) {
	c, k, _ := newCache(t, 0)
	ctx := context.Background()
	oek, env, _, err := c.Seal(ctx, "bucket/b1", bucketCtx("b1"), objectCtx("b1", "k"), sealed.UseSSES3)
	if err != nil {
		t.Fatal(err)
	}
	defer oek.Wipe()
	got, err := bucketkey.Open(ctx, k, env, bucketCtx("b1"), objectCtx("b1", "k"))
	if err != nil || !bytes.Equal(got.Bytes(), oek.Bytes()) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := bucketkey.Open(ctx, k, env, bucketCtx("b1"), objectCtx("b1", "x")); !errors.Is(err, bucketkey.ErrWrongObject) {
		t.Fatalf("moved envelope: %v", err)
	}
}
