package storagetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/s3node"
)

func obj(bucket, key, blob string) s3node.ObjectVersion {
	return s3node.ObjectVersion{Bucket: bucket, Key: key, BlobID: blob, Size: 3, StoredSize: 3,
		ETag: `"etag-` + blob + `"`, LastModified: t0, Owner: "owner-1"}
}

func get(t *testing.T, s s3node.MetadataStore, bucket, key, version string) s3node.ObjectVersion {
	t.Helper()
	v, err := s.GetObject(context.Background(), bucket, key, version)
	must(t, err)
	return v
}

func versions(t *testing.T, s s3node.MetadataStore, bucket string) []s3node.ObjectVersion {
	t.Helper()
	res, err := s.ListVersions(context.Background(), bucket, s3node.ListVersionsOptions{MaxKeys: 1000})
	must(t, err)
	return res.Versions
}

func testObjectFields(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	v := s3node.ObjectVersion{Bucket: "b", Key: "dir/ñ 日本.txt", Size: 1 << 40, StoredSize: 1<<40 + 4096,
		ETag: `"abc"`, LastModified: t0, Owner: "o", ContentType: "text/plain", ContentEncoding: "gzip",
		ContentDisposition: "attachment", ContentLanguage: "fr", CacheControl: "no-cache",
		Expires: "Thu, 01 Dec 1994 16:00:00 GMT", UserMetadata: map[string]string{"a": "1", "b": "ü"},
		Tags: map[string]string{"t": "v"}, StorageClass: "STANDARD",
		Checksums: map[string]string{"CRC32C": "AAAAAA=="}, ChecksumType: s3node.ChecksumFullObject,
		BlobID: "blob-1",
		Encryption: &s3node.EncryptionInfo{Type: s3node.SSEKMS, SealedKey: []byte{0, 1, 2, 255}, KeyID: "key-1", BucketKeyEnabled: true,
			KeyVersion: 3, CustomerKeyMD5: "", Format: "DARE/2.0", Context: map[string]string{"x": "y"}}}
	res, err := s.PutObject(ctx, v)
	must(t, err)
	if res.VersionID == "" || res.VersionID == s3node.NullVersionID || len(res.Unreferenced) != 0 {
		t.Fatalf("PutObject = %+v", res)
	}
	got := get(t, s, "b", v.Key, "")
	want := v
	want.VersionID, want.Seq, want.IsLatest = res.VersionID, res.Seq, true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetObject =\n%+v\nwant\n%+v", got, want)
	}
	if got := get(t, s, "b", v.Key, res.VersionID); !reflect.DeepEqual(got, want) {
		t.Fatalf("GetObject by version =\n%+v", got)
	}
	// SSE-C, and an object in clear.
	c := obj("b", "c", "blob-c")
	c.Encryption = &s3node.EncryptionInfo{Type: s3node.SSEC, SealedKey: []byte{7}, CustomerKeyMD5: "md5=="}
	_, err = s.PutObject(ctx, c)
	must(t, err)
	if got := get(t, s, "b", "c", ""); !reflect.DeepEqual(got.Encryption, c.Encryption) || got.UserMetadata != nil || got.Tags != nil {
		t.Fatalf("SSE-C object: %+v", got)
	}
	_, err = s.GetObject(ctx, "b", "missing", "")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchKey)
	_, err = s.GetObject(ctx, "b", v.Key, "no-such-version")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchVersion)
	_, err = s.GetObject(ctx, "nob", "k", "")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
	_, err = s.PutObject(ctx, obj("nob", "k", "x"))
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
	_, err = s.PutObject(ctx, obj("b", "bad\xc3", "x"))
	wantS3(t, err, s3node.EInvalid, "")
	bad := obj("b", "k", "x")
	bad.Parts = []s3node.Segment{{PartNumber: 1, BlobID: "y"}}
	_, err = s.PutObject(ctx, bad)
	wantS3(t, err, s3node.EInvalid, "")
}

func testUnversioned(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	r1, err := s.PutObject(ctx, obj("b", "k", "blob1"))
	must(t, err)
	r2, err := s.PutObject(ctx, obj("b", "k", "blob2"))
	must(t, err)
	if r1.VersionID != s3node.NullVersionID || r2.VersionID != s3node.NullVersionID {
		t.Fatalf("version ids %q %q, want null", r1.VersionID, r2.VersionID)
	}
	if len(r1.Unreferenced) != 0 || !slices.Equal(r2.Unreferenced, []string{"blob1"}) {
		t.Fatalf("unreferenced %v %v", r1.Unreferenced, r2.Unreferenced)
	}
	if vs := versions(t, s, "b"); len(vs) != 1 || vs[0].BlobID != "blob2" || !vs[0].IsLatest {
		t.Fatalf("versions %+v", vs)
	}
	d, err := s.DeleteObject(ctx, "b", "k")
	must(t, err)
	if d.DeleteMarker || !slices.Equal(d.Unreferenced, []string{"blob2"}) {
		t.Fatalf("DeleteObject = %+v", d)
	}
	if vs := versions(t, s, "b"); len(vs) != 0 {
		t.Fatalf("versions after delete %+v", vs)
	}
	d, err = s.DeleteObject(ctx, "b", "k")
	must(t, err)
	if d.VersionID != "" || d.DeleteMarker || len(d.Unreferenced) != 0 {
		t.Fatalf("second DeleteObject = %+v", d)
	}
	_, err = s.DeleteObject(ctx, "nob", "k")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
}

func testEnabled(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	var ids []string
	for i := range 3 {
		r, err := s.PutObject(ctx, obj("b", "k", fmt.Sprint("blob", i)))
		must(t, err)
		if len(r.Unreferenced) != 0 || slices.Contains(ids, r.VersionID) || r.VersionID == s3node.NullVersionID {
			t.Fatalf("put %d: %+v", i, r)
		}
		ids = append(ids, r.VersionID)
	}
	if got := get(t, s, "b", "k", ""); got.VersionID != ids[2] || got.BlobID != "blob2" {
		t.Fatalf("current %+v", got)
	}
	if got := get(t, s, "b", "k", ids[0]); got.BlobID != "blob0" || got.IsLatest {
		t.Fatalf("old version %+v", got)
	}
	d, err := s.DeleteObject(ctx, "b", "k")
	must(t, err)
	if !d.DeleteMarker || d.VersionID == "" || len(d.Unreferenced) != 0 {
		t.Fatalf("DeleteObject = %+v", d)
	}
	cur := get(t, s, "b", "k", "")
	if !cur.DeleteMarker || cur.VersionID != d.VersionID || !cur.IsLatest {
		t.Fatalf("current after delete: %+v", cur)
	}
	res, err := s.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: 10})
	must(t, err)
	if len(res.Objects) != 0 {
		t.Fatalf("a deleted key is listed: %+v", res.Objects)
	}
	vs := versions(t, s, "b")
	var got []string
	for _, v := range vs {
		got = append(got, v.VersionID)
	}
	if want := []string{d.VersionID, ids[2], ids[1], ids[0]}; !slices.Equal(got, want) {
		t.Fatalf("ListVersions order %v, want newest first %v", got, want)
	}
	if !vs[0].IsLatest || !vs[0].DeleteMarker || vs[1].IsLatest {
		t.Fatalf("IsLatest/DeleteMarker wrong: %+v", vs[:2])
	}
	// Deleting the marker brings the last version back.
	d2, err := s.DeleteVersion(ctx, "b", "k", d.VersionID)
	must(t, err)
	if !d2.DeleteMarker || len(d2.Unreferenced) != 0 {
		t.Fatalf("DeleteVersion(marker) = %+v", d2)
	}
	if got := get(t, s, "b", "k", ""); got.VersionID != ids[2] || !got.IsLatest {
		t.Fatalf("current after removing the marker: %+v", got)
	}
	_, err = s.DeleteVersion(ctx, "b", "k", d.VersionID)
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchVersion)
	// Enabled: a delete of a key that never existed still adds a marker.
	d3, err := s.DeleteObject(ctx, "b", "never")
	must(t, err)
	if !d3.DeleteMarker {
		t.Fatalf("DeleteObject(never) = %+v", d3)
	}
}

func testSuspended(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	_, err := s.PutObject(ctx, obj("b", "k", "null-1"))
	must(t, err)
	must(t, s.SetVersioning(ctx, "b", s3node.Enabled))
	rv, err := s.PutObject(ctx, obj("b", "k", "v-1"))
	must(t, err)
	must(t, s.SetVersioning(ctx, "b", s3node.Suspended))
	// A PUT in a suspended bucket replaces the null version only.
	r, err := s.PutObject(ctx, obj("b", "k", "null-2"))
	must(t, err)
	if r.VersionID != s3node.NullVersionID || !slices.Equal(r.Unreferenced, []string{"null-1"}) {
		t.Fatalf("suspended put = %+v", r)
	}
	vs := versions(t, s, "b")
	if len(vs) != 2 || vs[0].BlobID != "null-2" || vs[1].VersionID != rv.VersionID {
		t.Fatalf("versions %+v", vs)
	}
	// DELETE replaces the null version by a null delete marker.
	d, err := s.DeleteObject(ctx, "b", "k")
	must(t, err)
	if !d.DeleteMarker || d.VersionID != s3node.NullVersionID || !slices.Equal(d.Unreferenced, []string{"null-2"}) {
		t.Fatalf("suspended delete = %+v", d)
	}
	vs = versions(t, s, "b")
	if len(vs) != 2 || !vs[0].DeleteMarker || vs[0].VersionID != s3node.NullVersionID || vs[1].VersionID != rv.VersionID || vs[1].IsLatest {
		t.Fatalf("versions after delete %+v", vs)
	}
	// And a PUT replaces the null marker.
	r, err = s.PutObject(ctx, obj("b", "k", "null-3"))
	must(t, err)
	if len(r.Unreferenced) != 0 || len(versions(t, s, "b")) != 2 {
		t.Fatalf("put over null marker = %+v", r)
	}
}

func testDeleteVersionPromotes(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	r1, _ := s.PutObject(ctx, obj("b", "k", "b1"))
	r2, _ := s.PutObject(ctx, obj("b", "k", "b2"))
	d, err := s.DeleteVersion(ctx, "b", "k", r2.VersionID)
	must(t, err)
	if d.DeleteMarker || !slices.Equal(d.Unreferenced, []string{"b2"}) {
		t.Fatalf("DeleteVersion = %+v", d)
	}
	if got := get(t, s, "b", "k", ""); got.VersionID != r1.VersionID || !got.IsLatest {
		t.Fatalf("promoted %+v", got)
	}
	d, err = s.DeleteVersion(ctx, "b", "k", r1.VersionID)
	must(t, err)
	_, err = s.GetObject(ctx, "b", "k", "")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchKey)
	_, err = s.DeleteVersion(ctx, "nob", "k", "x")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
}

func testUpdateObject(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	r1, _ := s.PutObject(ctx, obj("b", "k", "b1"))
	_, _ = s.PutObject(ctx, obj("b", "k", "b2"))
	tags := map[string]string{"k": "v"}
	v, err := s.UpdateObject(ctx, "b", "k", r1.VersionID, s3node.ObjectUpdate{SetTags: true, Tags: tags})
	must(t, err)
	if !reflect.DeepEqual(v.Tags, tags) || v.BlobID != "b1" {
		t.Fatalf("UpdateObject = %+v", v)
	}
	if got := get(t, s, "b", "k", r1.VersionID); !reflect.DeepEqual(got.Tags, tags) {
		t.Fatalf("tags not stored: %+v", got.Tags)
	}
	if got := get(t, s, "b", "k", ""); got.Tags != nil {
		t.Fatalf("tags of another version changed: %+v", got.Tags)
	}
	enc := &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: []byte{1}, KeyID: "root", KeyVersion: 2}
	_, err = s.UpdateObject(ctx, "b", "k", "", s3node.ObjectUpdate{SetEncryption: true, Encryption: enc})
	must(t, err)
	if got := get(t, s, "b", "k", ""); !reflect.DeepEqual(got.Encryption, enc) {
		t.Fatalf("encryption not stored: %+v", got.Encryption)
	}
	_, err = s.UpdateObject(ctx, "b", "k", "", s3node.ObjectUpdate{SetTags: true})
	must(t, err)
	if got := get(t, s, "b", "k", ""); got.Tags != nil {
		t.Fatalf("tags not removed: %+v", got.Tags)
	}
	_, _ = s.DeleteObject(ctx, "b", "k")
	_, err = s.UpdateObject(ctx, "b", "k", "", s3node.ObjectUpdate{SetTags: true, Tags: tags})
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.UpdateObject(ctx, "b", "nokey", "", s3node.ObjectUpdate{})
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchKey)
}

// Eight writers race on one key of an unversioned bucket: the last to
// commit is current, and every other blob is reported unreferenced
// exactly once.
func testConcurrentPuts(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	const n = 8
	var mu sync.Mutex
	var unref []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for j := range 3 {
				r, err := s.PutObject(ctx, obj("b", "k", fmt.Sprintf("blob-%d-%d", i, j)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				unref = append(unref, r.Unreferenced...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cur := get(t, s, "b", "k", "")
	all := []string{cur.BlobID}
	all = append(all, unref...)
	slices.Sort(all)
	var want []string
	for i := range n {
		for j := range 3 {
			want = append(want, fmt.Sprintf("blob-%d-%d", i, j))
		}
	}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("current %s + unreferenced %v: want each of %v exactly once", cur.BlobID, unref, want)
	}
	if vs := versions(t, s, "b"); len(vs) != 1 {
		t.Fatalf("%d versions in an unversioned bucket", len(vs))
	}
}
