package storagetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/s3kms/s3kms/s3node"
)

func part(n int, blob string, size int64) s3node.Part {
	return s3node.Part{PartNumber: n, BlobID: blob, Size: size, StoredSize: size + 32,
		ETag: fmt.Sprintf(`"etag-%s"`, blob), Checksums: map[string]string{"CRC32": "x" + blob}, LastModified: t0}
}

func testMultipart(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	_, err := s.PutObject(ctx, obj("b", "big", "old-blob"))
	must(t, err)
	u := s3node.MultipartUpload{Bucket: "b", Key: "big", UploadID: s3node.NewID(), Initiated: t0, Owner: "o",
		ContentType: "video/mp4", UserMetadata: map[string]string{"m": "1"}, Tags: map[string]string{"t": "1"},
		StorageClass: "STANDARD", ChecksumAlgorithm: "CRC32", ChecksumType: s3node.ChecksumComposite,
		Encryption: &s3node.EncryptionInfo{Type: s3node.SSES3, SealedKey: []byte{4, 2}, KeyID: "bucket-root", KeyVersion: 1, BucketKeyEnabled: true}}
	must(t, s.CreateUpload(ctx, u))
	wantS3(t, s.CreateUpload(ctx, u), s3node.EConflict, s3node.UploadAlreadyExists)
	got, err := s.GetUpload(ctx, "b", "big", u.UploadID)
	must(t, err)
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("GetUpload = %+v, want %+v", got, u)
	}
	const mib = 1 << 20
	for i, p := range []s3node.Part{part(1, "p1", 5*mib), part(2, "p2-old", 5*mib), part(3, "p3", 5*mib), part(4, "p4", 1)} {
		old, err := s.PutPart(ctx, "b", "big", u.UploadID, p)
		must(t, err)
		if len(old) != 0 {
			t.Fatalf("part %d: unreferenced %v", i, old)
		}
	}
	old, err := s.PutPart(ctx, "b", "big", u.UploadID, part(2, "p2", 5*mib))
	must(t, err)
	if !slices.Equal(old, []string{"p2-old"}) {
		t.Fatalf("replacing part 2: unreferenced %v", old)
	}
	// Parts page by part number.
	var nums []int
	o := s3node.ListPartsOptions{MaxParts: 3}
	for {
		res, err := s.ListParts(ctx, "b", "big", u.UploadID, o)
		must(t, err)
		for _, p := range res.Parts {
			nums = append(nums, p.PartNumber)
		}
		if !res.IsTruncated {
			break
		}
		o.PartNumberMarker = res.NextPartNumberMarker
	}
	if !slices.Equal(nums, []int{1, 2, 3, 4}) {
		t.Fatalf("ListParts paged %v", nums)
	}
	res, err := s.ListParts(ctx, "b", "big", u.UploadID, s3node.ListPartsOptions{MaxParts: 1000})
	must(t, err)
	if want := part(2, "p2", 5*mib); !reflect.DeepEqual(res.Parts[1], want) {
		t.Fatalf("part 2 = %+v, want %+v", res.Parts[1], want)
	}
	// Complete with parts 1, 2 and 4: part 3 becomes garbage, as does the
	// null version it replaces.
	put, err := s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: "big", UploadID: u.UploadID,
		Parts:       []s3node.CompletePart{{PartNumber: 1, ETag: `"etag-p1"`}, {PartNumber: 2, ETag: "etag-p2"}, {PartNumber: 4, ETag: `"etag-p4"`}},
		MinPartSize: 5 * mib,
		Object:      s3node.ObjectVersion{ETag: `"abc-3"`, LastModified: t0, Checksums: map[string]string{"CRC32": "c-3"}, ChecksumType: s3node.ChecksumComposite}})
	must(t, err)
	slices.Sort(put.Unreferenced)
	if put.VersionID != s3node.NullVersionID || !slices.Equal(put.Unreferenced, []string{"old-blob", "p3"}) {
		t.Fatalf("CompleteUpload = %+v", put)
	}
	v := get(t, s, "b", "big", "")
	if v.BlobID != "" || v.PartsCount != 3 || v.Size != 10*mib+1 || v.StoredSize != 10*mib+1+3*32 ||
		v.ContentType != "video/mp4" || !reflect.DeepEqual(v.Encryption, u.Encryption) || v.ETag != `"abc-3"` ||
		!reflect.DeepEqual(v.UserMetadata, u.UserMetadata) || v.ChecksumType != s3node.ChecksumComposite {
		t.Fatalf("completed object %+v", v)
	}
	wantSegs := []s3node.Segment{
		{PartNumber: 1, BlobID: "p1", Offset: 0, Size: 5 * mib, StoredSize: 5*mib + 32, ETag: `"etag-p1"`, Checksums: map[string]string{"CRC32": "xp1"}},
		{PartNumber: 2, BlobID: "p2", Offset: 5 * mib, Size: 5 * mib, StoredSize: 5*mib + 32, ETag: `"etag-p2"`, Checksums: map[string]string{"CRC32": "xp2"}},
		{PartNumber: 4, BlobID: "p4", Offset: 10 * mib, Size: 1, StoredSize: 33, ETag: `"etag-p4"`, Checksums: map[string]string{"CRC32": "xp4"}},
	}
	if !reflect.DeepEqual(v.Parts, wantSegs) {
		t.Fatalf("segments %+v, want %+v", v.Parts, wantSegs)
	}
	// Listings carry no segments.
	lr, err := s.ListObjects(ctx, "b", s3node.ListObjectsOptions{MaxKeys: 10})
	must(t, err)
	if len(lr.Objects) != 1 || lr.Objects[0].Parts != nil || lr.Objects[0].PartsCount != 3 {
		t.Fatalf("listed %+v", lr.Objects)
	}
	_, err = s.GetUpload(ctx, "b", "big", u.UploadID)
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
	// Overwriting the multipart object frees all its segments.
	r, err := s.PutObject(ctx, obj("b", "big", "small"))
	must(t, err)
	slices.Sort(r.Unreferenced)
	if !slices.Equal(r.Unreferenced, []string{"p1", "p2", "p4"}) {
		t.Fatalf("overwrite of a multipart object: unreferenced %v", r.Unreferenced)
	}
	// Abort returns every part.
	u2 := s3node.MultipartUpload{Bucket: "b", Key: "k2", UploadID: "u2", Initiated: t0}
	must(t, s.CreateUpload(ctx, u2))
	_, _ = s.PutPart(ctx, "b", "k2", "u2", part(1, "a1", 1))
	_, _ = s.PutPart(ctx, "b", "k2", "u2", part(7, "a7", 1))
	blobs, err := s.AbortUpload(ctx, "b", "k2", "u2")
	must(t, err)
	slices.Sort(blobs)
	if !slices.Equal(blobs, []string{"a1", "a7"}) {
		t.Fatalf("AbortUpload = %v", blobs)
	}
	_, err = s.AbortUpload(ctx, "b", "k2", "u2")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
}

func testMultipartErrors(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	wantS3(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "nob", Key: "k", UploadID: "u", Initiated: t0}), s3node.ENotFound, s3node.NoSuchBucket)
	must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: "k", UploadID: "u", Initiated: t0}))
	_, err := s.GetUpload(ctx, "b", "other-key", "u")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
	_, err = s.PutPart(ctx, "b", "k", "nope", part(1, "x", 1))
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
	_, err = s.PutPart(ctx, "b", "k", "u", part(0, "x", 1))
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.PutPart(ctx, "b", "k", "u", part(10001, "x", 1))
	wantS3(t, err, s3node.EInvalid, "")
	_, err = s.ListParts(ctx, "b", "k", "nope", s3node.ListPartsOptions{MaxParts: 1})
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
	_, _ = s.PutPart(ctx, "b", "k", "u", part(1, "p1", 1))
	_, _ = s.PutPart(ctx, "b", "k", "u", part(2, "p2", 1))
	complete := func(min int64, parts ...s3node.CompletePart) error {
		_, err := s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: "k", UploadID: "u", Parts: parts, MinPartSize: min,
			Object: s3node.ObjectVersion{LastModified: t0}})
		return err
	}
	wantS3(t, complete(0), s3node.EInvalid, s3node.InvalidPartOrder)
	wantS3(t, complete(0, s3node.CompletePart{PartNumber: 2, ETag: `"etag-p2"`}, s3node.CompletePart{PartNumber: 1, ETag: `"etag-p1"`}), s3node.EInvalid, s3node.InvalidPartOrder)
	wantS3(t, complete(0, s3node.CompletePart{PartNumber: 1, ETag: `"etag-p1"`}, s3node.CompletePart{PartNumber: 1, ETag: `"etag-p1"`}), s3node.EInvalid, s3node.InvalidPartOrder)
	wantS3(t, complete(0, s3node.CompletePart{PartNumber: 1, ETag: `"wrong"`}), s3node.EInvalid, s3node.InvalidPart)
	wantS3(t, complete(0, s3node.CompletePart{PartNumber: 3, ETag: `"etag-p3"`}), s3node.EInvalid, s3node.InvalidPart)
	wantS3(t, complete(2, s3node.CompletePart{PartNumber: 1, ETag: `"etag-p1"`}, s3node.CompletePart{PartNumber: 2, ETag: `"etag-p2"`}), s3node.EInvalid, s3node.EntityTooSmall)
	// Failed completions change nothing.
	res, err := s.ListParts(ctx, "b", "k", "u", s3node.ListPartsOptions{MaxParts: 10})
	must(t, err)
	if len(res.Parts) != 2 {
		t.Fatalf("parts after failed completes: %+v", res.Parts)
	}
	// The last part may be small; in an enabled bucket the completed
	// upload gets a fresh version id.
	_, err = s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: "k", UploadID: "u", MinPartSize: 1,
		Parts: []s3node.CompletePart{{PartNumber: 1, ETag: `"etag-p1"`}, {PartNumber: 2, ETag: `"etag-p2"`}}, Object: s3node.ObjectVersion{LastModified: t0}})
	must(t, err)
	if v := get(t, s, "b", "k", ""); v.VersionID == s3node.NullVersionID || v.PartsCount != 2 {
		t.Fatalf("completed %+v", v)
	}
	_, err = s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: "k", UploadID: "u",
		Parts: []s3node.CompletePart{{PartNumber: 1, ETag: `"etag-p1"`}}})
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
	_, err = s.PutPart(ctx, "b", "k", "u", part(3, "late", 1))
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUpload)
}

func testListUploads(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	type up struct{ key, id string }
	var all []up
	for i, k := range []string{"a/1", "a/2", "b", "b", "b", "c/x/y", "d"} {
		id := fmt.Sprintf("up-%02d-%s", 20-i, s3node.NewID()[:4]) // ids not in creation order
		must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: k, UploadID: id, Initiated: t0}))
		all = append(all, up{k, id})
	}
	for _, tc := range []struct {
		delim string
		want  []string
	}{
		{"", []string{"a/1", "a/2", "b", "b", "b", "c/x/y", "d"}},
		{"/", []string{"a/", "b", "b", "b", "c/", "d"}},
	} {
		for _, max := range []int{1, 2, 100} {
			var got []string
			var ids []string
			o := s3node.ListUploadsOptions{Delimiter: tc.delim, MaxUploads: max}
			for range 20 {
				res, err := s.ListUploads(ctx, "b", o)
				must(t, err)
				for _, u := range res.Uploads {
					got = append(got, u.Key)
					ids = append(ids, u.UploadID)
				}
				got = append(got, res.CommonPrefixes...)
				if !res.IsTruncated {
					break
				}
				o.KeyMarker, o.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delim %q max %d: %v, want %v", tc.delim, max, got, tc.want)
			}
			var wantIDs []string
			for _, u := range all {
				if tc.delim == "" || u.key == "b" || u.key == "d" {
					wantIDs = append(wantIDs, u.id)
				}
			}
			if !slices.Equal(ids, wantIDs) {
				t.Fatalf("delim %q max %d: upload order %v, want creation order %v", tc.delim, max, ids, wantIDs)
			}
		}
	}
	res, err := s.ListUploads(ctx, "b", s3node.ListUploadsOptions{Prefix: "c/", Delimiter: "/", MaxUploads: 10})
	must(t, err)
	if len(res.Uploads) != 0 || !slices.Equal(res.CommonPrefixes, []string{"c/x/"}) {
		t.Fatalf("prefix c/: %+v", res)
	}
	_, err = s.ListUploads(ctx, "nob", s3node.ListUploadsOptions{MaxUploads: 1})
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)
}
