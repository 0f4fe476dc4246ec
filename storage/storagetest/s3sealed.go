package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mathrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/kms/sealed"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/bucketkey"
)

// sealedKey returns a real kms/sealed blob of use under keyID at version
// (the root is a constant: the store never opens it).
func sealedKey(t *testing.T, use sealed.Use, keyID string, version uint32) []byte {
	t.Helper()
	ec, err := sealed.EncodeContext(nil)
	must(t, err)
	b, err := sealed.Seal(rand.Reader, sealed.HMACPRF(bytes.Repeat([]byte{7}, 32)), use, keyID, version, ec, make([]byte, 32))
	must(t, err)
	return b
}

// envelope returns a bucket-key envelope whose bucket data key is sealed
// under keyID at version.
func envelope(t *testing.T, use sealed.Use, keyID string, version uint32) []byte {
	t.Helper()
	env, err := bucketkey.Envelope{BucketKey: sealedKey(t, use, keyID, version),
		ObjectKey: sealedKey(t, use, bucketkey.BucketKeyID, 0)}.Marshal()
	must(t, err)
	return env
}

// dependsOn is what the Go parsers say b (of an SSE-S3 or SSE-KMS row)
// depends on: the reference the stores' SQL must agree with.
func dependsOn(t *testing.T, b []byte) (string, int) {
	t.Helper()
	if bucketkey.IsEnvelope(b) {
		e, err := bucketkey.Parse(b)
		must(t, err)
		b = e.BucketKey
	}
	s, err := sealed.Parse(b)
	must(t, err)
	return s.KeyID, int(s.KeyVersion)
}

// reseal returns b re-sealed at version: what a KMS rewrap does, with a
// new salt and nonce, the same key id and (here) the same ciphertext,
// which the tests use as the identity of the object key.
func reseal(t *testing.T, b []byte, version uint32) []byte {
	t.Helper()
	if bucketkey.IsEnvelope(b) {
		e, err := bucketkey.Parse(b)
		must(t, err)
		e.BucketKey = reseal(t, e.BucketKey, version)
		out, err := e.Marshal()
		must(t, err)
		return out
	}
	s, err := sealed.Parse(b)
	must(t, err)
	s.KeyVersion = version
	_, _ = rand.Read(s.Salt[:])
	_, _ = rand.Read(s.Nonce[:])
	return s.Marshal()
}

// identity is the part of a sealed key a rewrap keeps: the ciphertext of
// the (innermost KMS-sealed) object or bucket data key.
func identity(t *testing.T, b []byte) string {
	t.Helper()
	if bucketkey.IsEnvelope(b) {
		e, err := bucketkey.Parse(b)
		must(t, err)
		return identity(t, e.BucketKey) + "/" + string(e.ObjectKey)
	}
	s, err := sealed.Parse(b)
	must(t, err)
	return string(s.Ciphertext)
}

func listAllSealed(t *testing.T, s s3node.MetadataStore, kind s3node.SealedKind, keyID string, below, limit int) []s3node.SealedRow {
	t.Helper()
	var out []s3node.SealedRow
	var after s3node.SealedCursor
	for {
		page, err := s.ListSealed(context.Background(), kind, keyID, below, after, limit)
		must(t, err)
		if len(page) > limit {
			t.Fatalf("ListSealed returned %d rows, limit %d", len(page), limit)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after = page[len(page)-1].Cursor()
	}
}

// testSealedDependency checks that the key id and version a row depends
// on are read from its sealed bytes, for every kind of sealed key and
// every write path, whatever EncryptionInfo.KeyID and KeyVersion claim.
func testSealedDependency(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	b := newBucket(t, s, "b", s3node.Enabled)
	longID := "k/" + strings.Repeat("x", sealed.MaxKeyIDLen-2) // length byte above 0x7f
	tests := []struct {
		name    string
		typ     s3node.SSEType
		key     []byte
		wantID  string // "" for no KMS key
		wantVer int
		unread  bool // SSE-S3 or SSE-KMS, but the key cannot be read
	}{
		{"SSE-S3", s3node.SSES3, sealedKey(t, sealed.UseSSES3, "bucket/b1", 1), "bucket/b1", 1, false},
		{"SSE-KMS", s3node.SSEKMS, sealedKey(t, sealed.UseSSEKMS, "app-key", 7), "app-key", 7, false},
		{"large version", s3node.SSEKMS, sealedKey(t, sealed.UseSSEKMS, "app-key", 1<<31+5), "app-key", 1<<31 + 5, false},
		{"version bytes", s3node.SSEKMS, sealedKey(t, sealed.UseSSEKMS, "app-key", 0x01a2b3c4), "app-key", 0x01a2b3c4, false},
		{"long key id", s3node.SSEKMS, sealedKey(t, sealed.UseSSEKMS, longID, 300), longID, 300, false},
		{"bucket key SSE-S3", s3node.SSES3, envelope(t, sealed.UseSSES3, "bucket/b1", 2), "bucket/b1", 2, false},
		{"bucket key SSE-KMS", s3node.SSEKMS, envelope(t, sealed.UseSSEKMS, "app-key", 9), "app-key", 9, false},
		{"SSE-C", s3node.SSEC, sealedKey(t, sealed.UseSSEC, "sse-c", 0), "", 0, false},
		{"not a sealed key", s3node.SSES3, []byte{4, 2}, "", 0, true},
		{"unknown format version", s3node.SSEKMS, append([]byte{2}, sealedKey(t, sealed.UseSSEKMS, "app-key", 1)[1:]...), "", 0, true},
		{"envelope of an unknown format", s3node.SSES3, append([]byte{0x42, 0, 3, 2}, sealedKey(t, sealed.UseSSES3, "bucket/b1", 1)[1:]...), "", 0, true},
		{"truncated header", s3node.SSES3, sealedKey(t, sealed.UseSSES3, "bucket/b1", 1)[:12], "", 0, true},
		{"plain", "", nil, "", 0, false},
	}
	type rowWant struct {
		kind   s3node.SealedKind
		name   string
		sealed []byte
	}
	want := map[string][]rowWant{} // key id -> rows
	var unreadObjects, unreadUploads int64
	for i, tt := range tests {
		var enc *s3node.EncryptionInfo
		if tt.typ != "" {
			// KeyID and KeyVersion deliberately wrong: the store must not
			// use them.
			enc = &s3node.EncryptionInfo{Type: tt.typ, SealedKey: tt.key, KeyID: "claimed", KeyVersion: 99,
				Format: "DARE/2.0", Context: map[string]string{"c": tt.name}}
		}
		// PutObject.
		v := obj("b", fmt.Sprintf("put/%d", i), fmt.Sprintf("blob-%d", i))
		v.Encryption = enc
		_, err := s.PutObject(ctx, v)
		must(t, err)
		// CreateUpload, and CompleteUpload of a second upload.
		u := s3node.MultipartUpload{Bucket: "b", Key: fmt.Sprintf("mpu/%d", i), UploadID: s3node.NewID(), Initiated: t0, Owner: "o", Encryption: enc}
		must(t, s.CreateUpload(ctx, u))
		done := u
		done.UploadID, done.Key = s3node.NewID(), fmt.Sprintf("done/%d", i)
		must(t, s.CreateUpload(ctx, done))
		_, err = s.PutPart(ctx, "b", done.Key, done.UploadID, part(1, fmt.Sprintf("part-%d", i), 10))
		must(t, err)
		_, err = s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: done.Key, UploadID: done.UploadID,
			Parts: []s3node.CompletePart{{PartNumber: 1, ETag: fmt.Sprintf(`"etag-part-%d"`, i)}}, Object: s3node.ObjectVersion{ETag: `"x-1"`, LastModified: t0}})
		must(t, err)
		if tt.unread {
			unreadObjects, unreadUploads = unreadObjects+2, unreadUploads+1
		}
		if tt.wantID != "" {
			if id, ver := dependsOn(t, tt.key); id != tt.wantID || ver != tt.wantVer {
				t.Fatalf("%s: test case says %s v%d, the Go parser %s v%d", tt.name, tt.wantID, tt.wantVer, id, ver)
			}
			want[tt.wantID] = append(want[tt.wantID], rowWant{s3node.SealedObject, "put/" + tt.name, tt.key},
				rowWant{s3node.SealedObject, "done/" + tt.name, tt.key}, rowWant{s3node.SealedUpload, "mpu/" + tt.name, tt.key})
		}
	}
	// A delete marker depends on nothing.
	_, err := s.DeleteObject(ctx, "b", "put/0")
	must(t, err)
	objects, uploads, err := s.CountUnattributed(ctx)
	must(t, err)
	if objects != unreadObjects || uploads != unreadUploads {
		t.Errorf("CountUnattributed = %d objects, %d uploads; want %d, %d", objects, uploads, unreadObjects, unreadUploads)
	}

	for _, keyID := range []string{"bucket/b1", "app-key", longID, "claimed", "sse-c", bucketkey.BucketKeyID} {
		var got []rowWant
		wantCounts := map[int]*s3node.SealedCount{}
		for _, kind := range []s3node.SealedKind{s3node.SealedObject, s3node.SealedUpload} {
			for _, r := range listAllSealed(t, s, kind, keyID, 1<<40, 2) {
				if r.Kind != kind || r.KeyID != keyID || r.BucketID != b.ID || r.Bucket != "b" {
					t.Fatalf("%s: row %+v", keyID, r)
				}
				if id, ver := dependsOn(t, r.Encryption.SealedKey); id != r.KeyID || ver != r.KeyVersion {
					t.Fatalf("%s: store says %s v%d, the Go parser %s v%d", r.Key, r.KeyID, r.KeyVersion, id, ver)
				}
				if (kind == s3node.SealedObject) != (r.VersionID != "" && r.UploadID == "") {
					t.Fatalf("row %+v: version and upload ids do not match its kind", r)
				}
				if r.Encryption.Context["c"] == "" || r.Encryption.Format != "DARE/2.0" {
					t.Fatalf("row %+v: encryption not as stored", r)
				}
				prefix, _, _ := strings.Cut(r.Key, "/")
				got = append(got, rowWant{kind, prefix + "/" + r.Encryption.Context["c"], r.Encryption.SealedKey})
				c := wantCounts[r.KeyVersion]
				if c == nil {
					c = &s3node.SealedCount{Version: r.KeyVersion}
					wantCounts[r.KeyVersion] = c
				}
				if kind == s3node.SealedObject {
					c.Objects++
				} else {
					c.Uploads++
				}
			}
		}
		byName := func(a, b rowWant) int { return strings.Compare(a.name, b.name) }
		slices.SortFunc(got, byName)
		w := slices.Clone(want[keyID])
		slices.SortFunc(w, byName)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("rows sealed under %q:\n got %v\nwant %v", keyID, got, w)
		}
		counts, err := s.CountSealed(ctx, keyID)
		must(t, err)
		var wc []s3node.SealedCount
		for _, c := range wantCounts {
			wc = append(wc, *c)
		}
		slices.SortFunc(wc, func(a, b s3node.SealedCount) int { return a.Version - b.Version })
		if !reflect.DeepEqual(counts, wc) {
			t.Errorf("CountSealed(%q) = %v, want %v", keyID, counts, wc)
		}
	}
}

// testSealedDependencyRandom compares the stores' reading of sealed keys
// with the Go parsers on random key ids (every length, every allowed
// character) and versions (every byte value in every position).
func testSealedDependencyRandom(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	rnd := mathrand.New(mathrand.NewPCG(1, 2))
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-/"
	want := map[string]dependency{} // object key -> dependency
	keyIDs := map[string]bool{}
	for i := range 60 {
		id := make([]byte, 1+rnd.IntN(sealed.MaxKeyIDLen))
		for j := range id {
			id[j] = chars[rnd.IntN(len(chars))]
		}
		version := rnd.Uint32()
		if i%4 == 0 {
			version = uint32(rnd.IntN(300))
		}
		key := sealedKey(t, sealed.UseSSEKMS, string(id), version)
		if i%2 == 1 {
			key = envelope(t, sealed.UseSSEKMS, string(id), version)
		}
		v := obj("b", fmt.Sprintf("r%02d", i), fmt.Sprintf("blob-%d", i))
		v.Encryption = &s3node.EncryptionInfo{Type: s3node.SSEKMS, SealedKey: key}
		_, err := s.PutObject(ctx, v)
		must(t, err)
		want[v.Key] = dependency{string(id), int(version)}
		keyIDs[string(id)] = true
	}
	got := map[string]dependency{}
	for id := range keyIDs {
		for _, r := range listAllSealed(t, s, s3node.SealedObject, id, 1<<33, 100) {
			got[r.Key] = dependency{r.KeyID, r.KeyVersion}
		}
	}
	if !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: store reads %+v, sealed under %+v", k, got[k], w)
			}
		}
		t.FailNow()
	}
	if objects, uploads, err := s.CountUnattributed(ctx); err != nil || objects != 0 || uploads != 0 {
		t.Fatalf("CountUnattributed = %d, %d, %v", objects, uploads, err)
	}
}

// dependency is a key id and version a sealed key depends on.
type dependency struct {
	keyID   string
	version int
}

// testListSealed pages through rows below a version in (version, id)
// order.
func testListSealed(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	newBucket(t, s, "c", s3node.Unversioned)
	type ref struct {
		key     string
		version int
	}
	var want []ref
	for i := range 30 {
		version := 1 + (i*7)%4 // 1..4, interleaved in id order
		bucket := []string{"b", "c"}[i%2]
		v := obj(bucket, fmt.Sprintf("k%02d", i), fmt.Sprintf("blob-%d", i))
		key := sealedKey(t, sealed.UseSSES3, "key-a", uint32(version))
		if i%3 == 0 {
			key = envelope(t, sealed.UseSSES3, "key-a", uint32(version))
		}
		v.Encryption = &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: key}
		_, err := s.PutObject(ctx, v)
		must(t, err)
		if version < 3 {
			want = append(want, ref{v.Key, version})
		}
		other := obj("b", fmt.Sprintf("other%02d", i), fmt.Sprintf("other-%d", i))
		other.Encryption = &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: sealedKey(t, sealed.UseSSES3, "key-b", 1)}
		_, err = s.PutObject(ctx, other)
		must(t, err)
	}
	// Stable order: by version, then by write order (the keys were
	// written in order).
	slices.SortStableFunc(want, func(a, b ref) int { return a.version - b.version })
	for _, limit := range []int{1, 4, 100} {
		var got []ref
		var ids []int64
		for _, r := range listAllSealed(t, s, s3node.SealedObject, "key-a", 3, limit) {
			got = append(got, ref{r.Key, r.KeyVersion})
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("limit %d:\n got %v\nwant %v", limit, got, want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].version == got[i-1].version && ids[i] <= ids[i-1] {
				t.Fatalf("limit %d: ids not ascending within version %d", limit, got[i].version)
			}
		}
	}
	if rs, err := s.ListSealed(ctx, s3node.SealedObject, "key-a", 1, s3node.SealedCursor{}, 10); err != nil || len(rs) != 0 {
		t.Fatalf("below the lowest version: %v, %v", rs, err)
	}
	if rs, err := s.ListSealed(ctx, s3node.SealedUpload, "key-a", 10, s3node.SealedCursor{}, 10); err != nil || len(rs) != 0 {
		t.Fatalf("no uploads: %v, %v", rs, err)
	}
	_, err := s.ListSealed(ctx, "part", "key-a", 3, s3node.SealedCursor{}, 10)
	wantS3(t, err, s3node.EInvalid, s3node.InvalidArgument)
	_, err = s.ListSealed(ctx, s3node.SealedObject, "key-a", 3, s3node.SealedCursor{}, 0)
	wantS3(t, err, s3node.EInvalid, s3node.InvalidArgument)
}

// testResealKey checks the compare-and-set of ResealKey.
func testResealKey(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	put := func(key string, enc *s3node.EncryptionInfo) s3node.SealedRow {
		t.Helper()
		v := obj("b", key, "blob-"+key)
		v.Encryption = enc
		res, err := s.PutObject(ctx, v)
		must(t, err)
		if enc.Type == s3node.SSEC {
			return s3node.SealedRow{Kind: s3node.SealedObject, ID: res.Seq, Encryption: s3node.EncryptionInfo{SealedKey: enc.SealedKey}}
		}
		for _, r := range listAllSealed(t, s, s3node.SealedObject, "key-a", 1<<30, 100) {
			if r.Key == key && r.VersionID == res.VersionID {
				if r.ID != res.Seq {
					t.Fatalf("row id %d, PutResult.Seq %d", r.ID, res.Seq)
				}
				return r
			}
		}
		t.Fatalf("%s not listed", key)
		return s3node.SealedRow{}
	}
	sse := func(key []byte) *s3node.EncryptionInfo {
		return &s3node.EncryptionInfo{Type: s3node.SSEKMS, SealedKey: key, KeyID: "key-a", KeyVersion: 1,
			Format: "DARE/2.0", Context: map[string]string{"x": "y"}, BucketKeyEnabled: true}
	}

	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"kms sealed", sealedKey(t, sealed.UseSSEKMS, "key-a", 1)},
		{"envelope", envelope(t, sealed.UseSSEKMS, "key-a", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.name, sse(tc.key))
			newKey := reseal(t, tc.key, 2)
			version, err := s.ResealKey(ctx, s3node.SealedObject, r.ID, tc.key, newKey)
			must(t, err)
			if version != 2 {
				t.Fatalf("ResealKey version = %d, want 2", version)
			}
			got := get(t, s, "b", tc.name, r.VersionID)
			want := sse(newKey)
			want.KeyVersion = 2
			if !reflect.DeepEqual(got.Encryption, want) {
				t.Fatalf("after ResealKey: %+v, want %+v", got.Encryption, want)
			}
			// The old bytes no longer match: a second rewrap from the
			// same listing loses.
			_, err = s.ResealKey(ctx, s3node.SealedObject, r.ID, tc.key, reseal(t, tc.key, 3))
			wantS3(t, err, s3node.EConflict, "")
			// A new key under another KMS key is refused.
			other := sealedKey(t, sealed.UseSSEKMS, "key-b", 3)
			if bucketkey.IsEnvelope(tc.key) {
				other = envelope(t, sealed.UseSSEKMS, "key-b", 3)
			}
			for _, bad := range [][]byte{other, nil, {1, 2, 3}, sealedKey(t, sealed.UseSSEC, "sse-c", 0)} {
				_, err = s.ResealKey(ctx, s3node.SealedObject, r.ID, newKey, bad)
				wantS3(t, err, s3node.EInvalid, s3node.InvalidArgument)
			}
			if got2 := get(t, s, "b", tc.name, r.VersionID); !reflect.DeepEqual(got2.Encryption, want) {
				t.Fatalf("a refused ResealKey changed the row: %+v", got2.Encryption)
			}
			counts, err := s.CountSealed(ctx, "key-a")
			must(t, err)
			if !slices.ContainsFunc(counts, func(c s3node.SealedCount) bool { return c.Version == 2 && c.Objects >= 1 }) {
				t.Fatalf("counts after ResealKey: %v", counts)
			}
			// Deleted: ENotFound.
			_, err = s.DeleteVersion(ctx, "b", tc.name, r.VersionID)
			must(t, err)
			_, err = s.ResealKey(ctx, s3node.SealedObject, r.ID, newKey, reseal(t, newKey, 3))
			wantS3(t, err, s3node.ENotFound, "")
		})
	}

	t.Run("upload", func(t *testing.T) {
		key := envelope(t, sealed.UseSSES3, "key-a", 4)
		u := s3node.MultipartUpload{Bucket: "b", Key: "up", UploadID: s3node.NewID(), Initiated: t0, Owner: "o",
			Encryption: &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: key}}
		must(t, s.CreateUpload(ctx, u))
		rs := listAllSealed(t, s, s3node.SealedUpload, "key-a", 5, 10)
		if len(rs) != 1 || rs[0].UploadID != u.UploadID || rs[0].KeyVersion != 4 {
			t.Fatalf("uploads listed: %+v", rs)
		}
		newKey := reseal(t, key, 5)
		version, err := s.ResealKey(ctx, s3node.SealedUpload, rs[0].ID, key, newKey)
		must(t, err)
		got, err := s.GetUpload(ctx, "b", "up", u.UploadID)
		must(t, err)
		if version != 5 || !bytes.Equal(got.Encryption.SealedKey, newKey) || got.Encryption.KeyVersion != 5 {
			t.Fatalf("upload after ResealKey (v%d): %+v", version, got.Encryption)
		}
		if rs := listAllSealed(t, s, s3node.SealedUpload, "key-a", 5, 10); len(rs) != 0 {
			t.Fatalf("still below version 5: %+v", rs)
		}
		_, err = s.AbortUpload(ctx, "b", "up", u.UploadID)
		must(t, err)
		_, err = s.ResealKey(ctx, s3node.SealedUpload, rs[0].ID, newKey, reseal(t, newKey, 6))
		wantS3(t, err, s3node.ENotFound, "")
	})

	t.Run("no KMS key", func(t *testing.T) {
		c := sealedKey(t, sealed.UseSSEC, "sse-c", 0)
		r := put("ssec", &s3node.EncryptionInfo{Type: s3node.SSEC, SealedKey: c, KeyID: "sse-c", CustomerKeyMD5: "m"})
		_, err := s.ResealKey(ctx, s3node.SealedObject, r.ID, c, sealedKey(t, sealed.UseSSEC, "sse-c", 0))
		wantS3(t, err, s3node.EInvalid, s3node.InvalidArgument)
		_, err = s.ResealKey(ctx, "part", r.ID, c, c)
		wantS3(t, err, s3node.EInvalid, s3node.InvalidArgument)
	})
}

// testResealNoLostUpdate runs a rewrapper against a writer overwriting
// one key of an unversioned bucket: every overwrite replaces the row, so
// a rewrap of a replaced row must fail, and the object must end with the
// key of the last write (re-sealed or not), never an older one.
func testResealNoLostUpdate(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	const writes = 60
	keys := make([][]byte, writes)
	for i := range keys {
		keys[i] = sealedKey(t, sealed.UseSSES3, "key-a", 1)
		if i%2 == 1 {
			keys[i] = envelope(t, sealed.UseSSES3, "key-a", 1)
		}
	}
	last := keys[writes-1]
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(stop)
		for i, k := range keys {
			v := obj("b", "hot", fmt.Sprintf("blob-%d", i))
			v.Encryption = &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: k}
			if _, err := s.PutObject(ctx, v); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	resealed := 0
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		rs, err := s.ListSealed(ctx, s3node.SealedObject, "key-a", 2, s3node.SealedCursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			_, err := s.ResealKey(ctx, s3node.SealedObject, r.ID, r.Encryption.SealedKey, reseal(t, r.Encryption.SealedKey, 2))
			switch s3node.ErrorCode(err) {
			case "":
				resealed++
			case s3node.ENotFound, s3node.EConflict:
			default:
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	got := get(t, s, "b", "hot", "")
	if identity(t, got.Encryption.SealedKey) != identity(t, last) || got.BlobID != fmt.Sprintf("blob-%d", writes-1) {
		t.Fatalf("the last write's key was lost (blob %s)", got.BlobID)
	}
	if _, ver := dependsOn(t, got.Encryption.SealedKey); !bytes.Equal(got.Encryption.SealedKey, last) && ver != 2 {
		t.Fatalf("a changed key at version %d", ver)
	}
	t.Logf("%d rewraps succeeded during %d writes", resealed, writes)
}

// ExerciseSealedBackfill checks that migration 0008_sse_kms_key_version
// gives rows written before it the key and version their sealed key
// depends on. setup returns a store on a database migrated to just before
// 0008 (the store's write methods work on that schema) and a function
// that migrates it to the current schema.
func ExerciseSealedBackfill(t *testing.T, setup func(t *testing.T) (s s3node.MetadataStore, migrate func())) {
	ctx := context.Background()
	s, migrate := setup(t)
	newBucket(t, s, "b", s3node.Enabled)
	keys := map[string][]byte{
		"sse-s3":   sealedKey(t, sealed.UseSSES3, "bucket/b1", 3),
		"envelope": envelope(t, sealed.UseSSES3, "bucket/b1", 2),
		"sse-kms":  sealedKey(t, sealed.UseSSEKMS, "bucket/b1", 1),
	}
	for name, key := range keys {
		v := obj("b", name, "blob-"+name)
		v.Encryption = &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: key}
		if name == "sse-kms" {
			v.Encryption.Type = s3node.SSEKMS
		}
		_, err := s.PutObject(ctx, v)
		must(t, err)
	}
	c := obj("b", "sse-c", "blob-c")
	c.Encryption = &s3node.EncryptionInfo{Type: s3node.SSEC, SealedKey: sealedKey(t, sealed.UseSSEC, "sse-c", 0)}
	_, err := s.PutObject(ctx, c)
	must(t, err)
	_, err = s.PutObject(ctx, obj("b", "plain", "blob-plain"))
	must(t, err)
	must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: "up", UploadID: s3node.NewID(), Initiated: t0,
		Encryption: &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: envelope(t, sealed.UseSSES3, "bucket/b1", 2)}}))
	migrate()

	counts, err := s.CountSealed(ctx, "bucket/b1")
	must(t, err)
	want := []s3node.SealedCount{{Version: 1, Objects: 1}, {Version: 2, Objects: 1, Uploads: 1}, {Version: 3, Objects: 1}}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("CountSealed after migrating = %v, want %v", counts, want)
	}
	rs := listAllSealed(t, s, s3node.SealedObject, "bucket/b1", 1<<30, 10)
	if len(rs) != 3 {
		t.Fatalf("%d objects listed, want 3", len(rs))
	}
	for _, r := range rs {
		if !bytes.Equal(r.Encryption.SealedKey, keys[r.Key]) {
			t.Fatalf("%s: sealed key differs", r.Key)
		}
		if id, ver := dependsOn(t, r.Encryption.SealedKey); id != r.KeyID || ver != r.KeyVersion {
			t.Fatalf("%s: store says %s v%d, the Go parser %s v%d", r.Key, r.KeyID, r.KeyVersion, id, ver)
		}
	}
	if counts, err := s.CountSealed(ctx, "sse-c"); err != nil || len(counts) != 0 {
		t.Fatalf("SSE-C counted: %v, %v", counts, err)
	}
	if objects, uploads, err := s.CountUnattributed(ctx); err != nil || objects != 0 || uploads != 0 {
		t.Fatalf("CountUnattributed after migrating: %d, %d, %v", objects, uploads, err)
	}
}
