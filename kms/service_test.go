package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/sqlite"
)

var (
	adminID = kms.Identity(strings.Repeat("a", 64))
	nodeID  = kms.Identity(strings.Repeat("b", 64))
	otherID = kms.Identity(strings.Repeat("c", 64))
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	svc   *kms.Service
	store *sqlite.DB
	prot  kms.Protector
	clock *clock
	admin context.Context
	node  context.Context
	other context.Context
}

// newHarness builds a Service on a real SQLite store and the software
// protector.
func newHarness(t testing.TB, cacheSize int) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/kms.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	prot, err := software.New(master)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := kms.NewPolicy([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{adminID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
		{Name: "s3node", Identities: []kms.Identity{nodeID}, Allow: []kms.Rule{{
			Ops: []kms.Op{kms.OpGenerate, kms.OpDecrypt, kms.OpRewrap}, Keys: []string{"bucket/*"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	svc, err := kms.New(kms.Config{
		Store: db.KeyStore(), Audit: db.AuditLog(), Protector: prot, Policy: policy, Now: c.now,
		CacheSize: cacheSize, CacheTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &harness{
		svc: svc, store: db, prot: prot, clock: c,
		admin: kms.WithIdentity(ctx, adminID),
		node:  kms.WithIdentity(ctx, nodeID),
		other: kms.WithIdentity(ctx, otherID),
	}
}

func (h *harness) create(t testing.TB, id string, purpose kms.Purpose) kms.Key {
	t.Helper()
	k, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: id, Purpose: purpose})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", id, err)
	}
	return k
}

func wantCode(t *testing.T, what string, err error, code kms.Code) {
	t.Helper()
	if got := kms.ErrorCode(err); got != code {
		t.Errorf("%s: error code = %q (%v), want %q", what, got, err, code)
	}
}

func TestDataKeyRoundTrip(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	ec := map[string]string{"bucket": "b1", "key": "photos/cat.jpg"}
	dk, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Plaintext) != 32 || dk.KeyVersion != 1 || dk.KeyID != "bucket/b1" {
		t.Fatalf("data key = %d bytes, v%d, %q", len(dk.Plaintext), dk.KeyVersion, dk.KeyID)
	}
	if bytes.Contains(dk.Sealed, dk.Plaintext) {
		t.Fatal("sealed form contains the plaintext key")
	}
	got, err := h.svc.Decrypt(h.node, dk.Sealed, ec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Plaintext, dk.Plaintext) {
		t.Fatal("decrypted data key differs")
	}
	// Two data keys for the same context differ (fresh key, salt, nonce).
	dk2, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(dk2.Plaintext, dk.Plaintext) || bytes.Equal(dk2.Sealed, dk.Sealed) {
		t.Fatal("two data keys are equal")
	}
}

func TestDecryptRejects(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	h.create(t, "bucket/b2", kms.PurposeBucketRoot)
	ec := map[string]string{"bucket": "b1", "key": "k"}
	dk, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.svc.GenerateDataKey(h.node, "bucket/b2", ec)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(dk.Sealed)
		b[i] ^= 0x01
		return b
	}
	// A blob from bucket/b2 relabelled as bucket/b1 (same length ids).
	relabelled := bytes.Replace(other.Sealed, []byte("bucket/b2"), []byte("bucket/b1"), 1)
	tests := []struct {
		name string
		blob []byte
		ec   map[string]string
		code kms.Code
	}{
		{"wrong object key", dk.Sealed, map[string]string{"bucket": "b1", "key": "k2"}, kms.EDecrypt},
		{"extra context", dk.Sealed, map[string]string{"bucket": "b1", "key": "k", "x": "y"}, kms.EDecrypt},
		{"no context", dk.Sealed, nil, kms.EDecrypt},
		{"truncated", dk.Sealed[:len(dk.Sealed)-1], ec, kms.EDecrypt},
		{"empty", nil, ec, kms.EDecrypt},
		{"garbage", []byte("not a sealed key at all, really"), ec, kms.EDecrypt},
		{"last byte flipped", flip(len(dk.Sealed) - 1), ec, kms.EDecrypt},
		{"middle byte flipped", flip(len(dk.Sealed) / 2), ec, kms.EDecrypt},
		{"first byte flipped", flip(0), ec, kms.EDecrypt},
		{"sealed under another key", relabelled, ec, kms.EDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Decrypt(h.node, tt.blob, tt.ec)
			wantCode(t, "Decrypt", err, tt.code)
			if err != nil && strings.Contains(err.Error(), string(dk.Plaintext)) {
				t.Error("error reveals key material")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	ec := map[string]string{"bucket": "b1", "key": "k"}
	old, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	k, err := h.svc.RotateKey(h.admin, "bucket/b1")
	if err != nil {
		t.Fatal(err)
	}
	if k.CurrentVersion != 2 {
		t.Fatalf("after rotate current version = %d", k.CurrentVersion)
	}
	dk, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	if dk.KeyVersion != 2 {
		t.Errorf("new data key under version %d, want 2", dk.KeyVersion)
	}
	got, err := h.svc.Decrypt(h.node, old.Sealed, ec)
	if err != nil || !bytes.Equal(got.Plaintext, old.Plaintext) || got.KeyVersion != 1 {
		t.Fatalf("old data key after rotation: %v", err)
	}
	// Rewrap moves it to version 2 without changing the data key.
	rw, err := h.svc.Rewrap(h.node, old.Sealed, ec)
	if err != nil {
		t.Fatal(err)
	}
	if rw.KeyVersion != 2 || rw.Plaintext != nil {
		t.Errorf("rewrap: version %d, plaintext returned %v", rw.KeyVersion, rw.Plaintext != nil)
	}
	got, err = h.svc.Decrypt(h.node, rw.Sealed, ec)
	if err != nil || !bytes.Equal(got.Plaintext, old.Plaintext) || got.KeyVersion != 2 {
		t.Fatalf("rewrapped data key: %v", err)
	}
	info, err := h.svc.GetKey(h.admin, "bucket/b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Versions) != 2 || info.Versions[0].Wrapped != nil {
		t.Errorf("GetKey versions = %+v (material must not be returned)", info.Versions)
	}
}

func TestRewrapBatch(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	var items []kms.RewrapItem
	var plains [][]byte
	for i := range 5 {
		ec := map[string]string{"bucket": "b1", "key": string(rune('a' + i))}
		dk, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, kms.RewrapItem{Sealed: dk.Sealed, Context: ec})
		plains = append(plains, dk.Plaintext)
	}
	items[2].Context = map[string]string{"bucket": "b1", "key": "wrong"}
	if _, err := h.svc.RotateKey(h.admin, "bucket/b1"); err != nil {
		t.Fatal(err)
	}
	res, err := h.svc.RewrapBatch(h.node, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 2 {
			wantCode(t, "item 2", r.Err, kms.EDecrypt)
			continue
		}
		if r.Err != nil || r.KeyVersion != 2 {
			t.Fatalf("item %d: %v v%d", i, r.Err, r.KeyVersion)
		}
		got, err := h.svc.Decrypt(h.node, r.Sealed, items[i].Context)
		if err != nil || !bytes.Equal(got.Plaintext, plains[i]) {
			t.Fatalf("item %d does not decrypt to the same key: %v", i, err)
		}
	}
	_, err = h.svc.RewrapBatch(h.node, make([]kms.RewrapItem, kms.MaxBatch+1))
	wantCode(t, "oversized batch", err, kms.ETooLarge)
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "app", kms.PurposeNamed)
	ec := map[string]string{"app": "x"}
	ct, _, err := h.svc.Encrypt(h.admin, "app", []byte("hello"), ec)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		do       func() error
		code     kms.Code
		encrypt  kms.Code // Encrypt afterwards
		decrypts kms.Code // Decrypt afterwards
	}{
		{"disable", func() error { _, err := h.svc.SetEnabled(h.admin, "app", false); return err }, "", kms.EDisabled, kms.EDisabled},
		{"enable", func() error { _, err := h.svc.SetEnabled(h.admin, "app", true); return err }, "", "", ""},
		{"destroy active refused", func() error { _, err := h.svc.DestroyKey(h.admin, "app"); return err }, kms.EState, "", ""},
		{"deletion too soon", func() error { _, err := h.svc.ScheduleDeletion(h.admin, "app", 3); return err }, kms.EInvalid, "", ""},
		{"deletion too late", func() error { _, err := h.svc.ScheduleDeletion(h.admin, "app", 31); return err }, kms.EInvalid, "", ""},
		{"schedule deletion", func() error { _, err := h.svc.ScheduleDeletion(h.admin, "app", 7); return err }, "", kms.EDisabled, kms.EDisabled},
		{"schedule twice", func() error { _, err := h.svc.ScheduleDeletion(h.admin, "app", 7); return err }, kms.EState, kms.EDisabled, kms.EDisabled},
		{"enable while pending", func() error { _, err := h.svc.SetEnabled(h.admin, "app", true); return err }, kms.EState, kms.EDisabled, kms.EDisabled},
		{"cancel deletion", func() error { _, err := h.svc.CancelDeletion(h.admin, "app"); return err }, "", kms.EDisabled, kms.EDisabled},
		{"cancel again", func() error { _, err := h.svc.CancelDeletion(h.admin, "app"); return err }, kms.EState, kms.EDisabled, kms.EDisabled},
		{"enable after cancel", func() error { _, err := h.svc.SetEnabled(h.admin, "app", true); return err }, "", "", ""},
		{"deactivate", func() error { _, err := h.svc.SetState(h.admin, "app", kms.StateDeactivated); return err }, "", kms.EState, ""},
		{"reactivate refused", func() error { _, err := h.svc.SetState(h.admin, "app", kms.StateActive); return err }, kms.EState, kms.EState, ""},
		{"rotate deactivated", func() error { _, err := h.svc.RotateKey(h.admin, "app"); return err }, "", kms.EState, ""},
		{"destroy", func() error { _, err := h.svc.DestroyKey(h.admin, "app"); return err }, "", kms.EDestroyed, kms.EDestroyed},
		{"destroy again", func() error { _, err := h.svc.DestroyKey(h.admin, "app"); return err }, "", kms.EDestroyed, kms.EDestroyed},
		{"enable destroyed", func() error { _, err := h.svc.SetEnabled(h.admin, "app", true); return err }, kms.EDestroyed, kms.EDestroyed, kms.EDestroyed},
	}
	for _, s := range steps {
		wantCode(t, s.name, s.do(), s.code)
		_, _, err := h.svc.Encrypt(h.admin, "app", []byte("x"), ec)
		wantCode(t, s.name+": then Encrypt", err, s.encrypt)
		pt, err := h.svc.Decrypt(h.admin, ct, ec)
		wantCode(t, s.name+": then Decrypt", err, s.decrypts)
		if err == nil && string(pt.Plaintext) != "hello" {
			t.Fatalf("%s: decrypted %q", s.name, pt.Plaintext)
		}
	}
	vs, err := h.store.KeyStore().ListVersions(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if len(v.Wrapped) != 0 || v.DestroyedAt == nil {
			t.Errorf("version %d still has material after destroy", v.Version)
		}
	}
}

func TestScheduledDeletionReaper(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/gone", kms.PurposeBucketRoot)
	h.create(t, "bucket/kept", kms.PurposeBucketRoot)
	if _, err := h.svc.ScheduleDeletion(h.admin, "bucket/gone", 7); err != nil {
		t.Fatal(err)
	}
	sys := kms.WithIdentity(context.Background(), "system")
	h.clock.add(6 * 24 * time.Hour)
	if n, err := h.svc.ReapDeletions(sys); err != nil || n != 0 {
		t.Fatalf("reaped %d, %v before the date", n, err)
	}
	h.clock.add(25 * time.Hour)
	if n, err := h.svc.ReapDeletions(sys); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v after the date", n, err)
	}
	info, err := h.svc.GetKey(h.admin, "bucket/gone")
	if err != nil || info.State != kms.StateDestroyed {
		t.Fatalf("state = %s, %v", info.State, err)
	}
	if info, _ := h.svc.GetKey(h.admin, "bucket/kept"); info.State != kms.StateActive {
		t.Fatalf("kept key state = %s", info.State)
	}
}

func TestPolicyEnforced(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	h.create(t, "named", kms.PurposeNamed)
	ec := map[string]string{"bucket": "b1"}
	dk, err := h.svc.GenerateDataKey(h.node, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	named, err := h.svc.GenerateDataKey(h.admin, "named", ec)
	if err != nil {
		t.Fatal(err)
	}
	anon := context.Background()
	tests := []struct {
		name string
		do   func() error
		code kms.Code
	}{
		{"anonymous generate", func() error { _, err := h.svc.GenerateDataKey(anon, "bucket/b1", ec); return err }, kms.EUnauthorized},
		{"unknown identity", func() error { _, err := h.svc.GenerateDataKey(h.other, "bucket/b1", ec); return err }, kms.EUnauthorized},
		{"node creates", func() error {
			_, err := h.svc.CreateKey(h.node, kms.CreateKeyRequest{ID: "bucket/new", Purpose: kms.PurposeBucketRoot})
			return err
		}, kms.EForbidden},
		{"node generates on named", func() error { _, err := h.svc.GenerateDataKey(h.node, "named", ec); return err }, kms.EForbidden},
		{"node decrypts named", func() error { _, err := h.svc.Decrypt(h.node, named.Sealed, ec); return err }, kms.EForbidden},
		{"node rotates", func() error { _, err := h.svc.RotateKey(h.node, "bucket/b1"); return err }, kms.EForbidden},
		{"node lists audit", func() error { _, err := h.svc.ListAudit(h.node, kms.AuditFilter{}); return err }, kms.EForbidden},
		{"node decrypts own", func() error { _, err := h.svc.Decrypt(h.node, dk.Sealed, ec); return err }, ""},
		{"node lists keys", func() error {
			ks, _, err := h.svc.ListKeys(h.node, "", 10)
			if err == nil && len(ks) != 0 {
				t.Errorf("node sees %d keys, want none (no read permission)", len(ks))
			}
			return err
		}, ""},
		{"generate on unknown key", func() error { _, err := h.svc.GenerateDataKey(h.node, "bucket/nope", ec); return err }, kms.ENotFound},
		{"invalid id", func() error { _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "bad id"}); return err }, kms.EInvalid},
		{"duplicate", func() error { _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "named"}); return err }, kms.EConflict},
		{"exportable bucket key", func() error {
			_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "bucket/x", Purpose: kms.PurposeBucketRoot, Exportable: true})
			return err
		}, kms.EInvalid},
		{"payload too large", func() error { _, _, err := h.svc.Encrypt(h.admin, "named", make([]byte, 4097), nil); return err }, kms.ETooLarge},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.do(), tt.code)
	}
	// Every one of those was audited, refusals included.
	events, err := h.svc.ListAudit(h.admin, kms.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, e := range events {
		results[e.Result]++
	}
	if results[string(kms.EForbidden)] < 5 || results[string(kms.EUnauthorized)] < 2 {
		t.Errorf("audit results = %v", results)
	}
}

func TestListKeysPaging(t *testing.T) {
	h := newHarness(t, 0)
	for _, id := range []string{"b", "a", "c/1", "c/2", "B"} {
		h.create(t, id, kms.PurposeNamed)
	}
	var got []string
	after := ""
	for range 10 {
		ks, next, err := h.svc.ListKeys(h.admin, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if strings.Join(got, ",") != "B,a,b,c/1,c/2" {
		t.Errorf("listing = %v", got)
	}
}

func TestCacheServesRepeatedUse(t *testing.T) {
	h := newHarness(t, 16)
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	for range 10 {
		if _, err := h.svc.GenerateDataKey(h.node, "bucket/b1", nil); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses := h.svc.CacheStats()
	if misses != 1 || hits != 9 {
		t.Errorf("cache hits/misses = %d/%d, want 9/1", hits, misses)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, 2) // small cache: evictions while in use
	for _, id := range []string{"bucket/1", "bucket/2", "bucket/3"} {
		h.create(t, id, kms.PurposeBucketRoot)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"bucket/1", "bucket/2", "bucket/3"}[g%3]
			for i := range 20 {
				ec := map[string]string{"g": string(rune('a' + g)), "i": string(rune('a' + i))}
				dk, err := h.svc.GenerateDataKey(h.node, id, ec)
				if err != nil {
					errs <- err
					return
				}
				got, err := h.svc.Decrypt(h.node, dk.Sealed, ec)
				if err != nil || !bytes.Equal(got.Plaintext, dk.Plaintext) {
					errs <- err
					return
				}
				if g == 0 && i%5 == 0 {
					if _, err := h.svc.RotateKey(h.admin, id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func benchmarkService(b *testing.B, cacheSize int) (*harness, map[string]string) {
	h := newHarness(b, cacheSize)
	h.create(b, "bucket/bench", kms.PurposeBucketRoot)
	return h, map[string]string{"bucket": "bench", "key": "some/object/key.bin"}
}

// BenchmarkGenerateDataKey measures GenerateDataKey in-process on SQLite
// with the software protector (each call also writes an audit record).
func BenchmarkGenerateDataKey(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"cache", 1024}, {"nocache", 0}} {
		b.Run(c.name, func(b *testing.B) {
			h, ec := benchmarkService(b, c.size)
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.svc.GenerateDataKey(h.node, "bucket/bench", ec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecrypt measures Decrypt of a sealed data key in-process.
func BenchmarkDecrypt(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"cache", 1024}, {"nocache", 0}} {
		b.Run(c.name, func(b *testing.B) {
			h, ec := benchmarkService(b, c.size)
			dk, err := h.svc.GenerateDataKey(h.node, "bucket/bench", ec)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.svc.Decrypt(h.node, dk.Sealed, ec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCacheExpires(t *testing.T) {
	h := newHarness(t, 16) // TTL one minute
	h.create(t, "bucket/b1", kms.PurposeBucketRoot)
	gen := func() {
		t.Helper()
		if _, err := h.svc.GenerateDataKey(h.node, "bucket/b1", nil); err != nil {
			t.Fatal(err)
		}
	}
	gen()
	gen()
	h.clock.add(2 * time.Minute)
	gen()
	if hits, misses := h.svc.CacheStats(); hits != 1 || misses != 2 {
		t.Errorf("cache hits/misses = %d/%d, want 1/2 (expired entry reopened)", hits, misses)
	}
}
