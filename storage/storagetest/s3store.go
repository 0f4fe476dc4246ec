package storagetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/s3kms/s3kms/s3node"
)

// ExerciseS3Store runs the S3 metadata conformance suite. newStore
// returns a fresh, empty, migrated store for each subtest.
//
// Besides the s3node interface contracts it pins: maps that are empty
// come back nil; times come back in UTC (compared at microseconds); a
// Bucket or User is returned exactly as stored.
func ExerciseS3Store(t *testing.T, newStore func(t *testing.T) s3node.MetadataStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, s3node.MetadataStore)
	}{
		{"Buckets", testBuckets},
		{"BucketNotEmpty", testBucketNotEmpty},
		{"Users", testUsers},
		{"ObjectFieldsRoundTrip", testObjectFields},
		{"Unversioned", testUnversioned},
		{"Enabled", testEnabled},
		{"Suspended", testSuspended},
		{"DeleteVersionPromotes", testDeleteVersionPromotes},
		{"UpdateObject", testUpdateObject},
		{"ConcurrentPutsLastWriterWins", testConcurrentPuts},
		{"ListObjectsMatchesBruteForce", testListProperty},
		{"ListObjectsArguments", testListArguments},
		{"ListVersionsMatchesBruteForce", testListVersionsProperty},
		{"Multipart", testMultipart},
		{"MultipartErrors", testMultipartErrors},
		{"ListUploads", testListUploads},
		{"BlobReferenced", testBlobReferenced},
		{"SealedDependency", testSealedDependency},
		{"SealedDependencyRandom", testSealedDependencyRandom},
		{"ListSealed", testListSealed},
		{"ResealKey", testResealKey},
		{"ResealNoLostUpdate", testResealNoLostUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func wantS3(t *testing.T, err error, code s3node.Code, reason s3node.Reason) {
	t.Helper()
	if got := s3node.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
	if got := s3node.ErrorReason(err); reason != "" && got != reason {
		t.Fatalf("error reason = %q, want %q (err: %v)", got, reason, err)
	}
	if code != "" {
		var se *s3node.Error
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *s3node.Error", err)
		}
	}
}

func newBucket(t *testing.T, s s3node.MetadataStore, name string, v s3node.VersioningState) s3node.Bucket {
	t.Helper()
	b := s3node.Bucket{ID: s3node.NewID(), Name: name, Owner: "owner-1", CreatedAt: t0, Versioning: v}
	must(t, s.CreateBucket(context.Background(), b))
	return b
}

func testBuckets(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	b := s3node.Bucket{ID: s3node.NewID(), Name: "photos", Owner: "alice", CreatedAt: t0, Region: "eu-west-1",
		Tags: map[string]string{"team": "a"}, Encryption: []byte(`{"sse":"AES256"}`)}
	must(t, s.CreateBucket(ctx, b))
	got, err := s.GetBucket(ctx, "photos")
	must(t, err)
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("GetBucket = %+v, want %+v", got, b)
	}
	dup := b
	dup.ID = s3node.NewID()
	wantS3(t, s.CreateBucket(ctx, dup), s3node.EConflict, s3node.BucketAlreadyExists)
	wantS3(t, s.CreateBucket(ctx, s3node.Bucket{Name: "no-id"}), s3node.EInvalid, "")
	must(t, s.CreateBucket(ctx, s3node.Bucket{ID: s3node.NewID(), Name: "Zeta", Owner: "bob", CreatedAt: t0}))
	must(t, s.CreateBucket(ctx, s3node.Bucket{ID: s3node.NewID(), Name: "alpha", Owner: "alice", CreatedAt: t0}))
	names := func(owner string) []string {
		bs, err := s.ListBuckets(ctx, owner)
		must(t, err)
		var out []string
		for _, b := range bs {
			out = append(out, b.Name)
		}
		return out
	}
	if got := names(""); !slices.Equal(got, []string{"Zeta", "alpha", "photos"}) {
		t.Fatalf("ListBuckets() = %v (byte order wanted)", got)
	}
	if got := names("alice"); !slices.Equal(got, []string{"alpha", "photos"}) {
		t.Fatalf("ListBuckets(alice) = %v", got)
	}
	_, err = s.GetBucket(ctx, "nope")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchBucket)

	must(t, s.SetVersioning(ctx, "photos", s3node.Enabled))
	wantS3(t, s.SetVersioning(ctx, "photos", s3node.Unversioned), s3node.EInvalid, s3node.InvalidVersioning)
	must(t, s.SetVersioning(ctx, "photos", s3node.Suspended))
	wantS3(t, s.SetVersioning(ctx, "photos", "Bogus"), s3node.EInvalid, s3node.InvalidVersioning)
	wantS3(t, s.SetVersioning(ctx, "nope", s3node.Enabled), s3node.ENotFound, s3node.NoSuchBucket)
	must(t, s.SetBucketTags(ctx, "photos", nil))
	must(t, s.SetBucketEncryption(ctx, "photos", nil))
	wantS3(t, s.SetBucketTags(ctx, "nope", nil), s3node.ENotFound, s3node.NoSuchBucket)
	wantS3(t, s.SetBucketEncryption(ctx, "nope", []byte("x")), s3node.ENotFound, s3node.NoSuchBucket)
	got, err = s.GetBucket(ctx, "photos")
	must(t, err)
	if got.Versioning != s3node.Suspended || got.Tags != nil || got.Encryption != nil || got.ID != b.ID {
		t.Fatalf("after updates: %+v", got)
	}

	must(t, s.DeleteBucket(ctx, "photos"))
	wantS3(t, s.DeleteBucket(ctx, "photos"), s3node.ENotFound, s3node.NoSuchBucket)
	// The name is free again; the new bucket has a new id.
	nb := newBucket(t, s, "photos", s3node.Unversioned)
	if nb.ID == b.ID {
		t.Fatal("bucket id reused")
	}
	wantS3(t, s.CreateBucket(ctx, s3node.Bucket{ID: "x", Name: "bad\xff"}), s3node.EInvalid, "")
}

func testBucketNotEmpty(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Enabled)
	_, err := s.PutObject(ctx, obj("b", "k", "blob1"))
	must(t, err)
	// A delete marker and an old version still make the bucket non-empty.
	_, err = s.DeleteObject(ctx, "b", "k")
	must(t, err)
	wantS3(t, s.DeleteBucket(ctx, "b"), s3node.EConflict, s3node.BucketNotEmpty)
	vs, err := s.ListVersions(ctx, "b", s3node.ListVersionsOptions{MaxKeys: 10})
	must(t, err)
	for _, v := range vs.Versions {
		_, err := s.DeleteVersion(ctx, "b", v.Key, v.VersionID)
		must(t, err)
	}
	must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: "m", UploadID: "u1", Initiated: t0}))
	wantS3(t, s.DeleteBucket(ctx, "b"), s3node.EConflict, s3node.BucketNotEmpty)
	_, err = s.AbortUpload(ctx, "b", "m", "u1")
	must(t, err)
	must(t, s.DeleteBucket(ctx, "b"))
}

func testUsers(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	u := s3node.User{AccessKeyID: "AKIAEXAMPLE", CanonicalID: "c1", DisplayName: "Alice", SealedSecret: []byte{1, 2, 3}, CreatedAt: t0}
	must(t, s.CreateUser(ctx, u))
	wantS3(t, s.CreateUser(ctx, u), s3node.EConflict, s3node.UserAlreadyExists)
	got, err := s.GetUser(ctx, "AKIAEXAMPLE")
	must(t, err)
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("GetUser = %+v, want %+v", got, u)
	}
	must(t, s.CreateUser(ctx, s3node.User{AccessKeyID: "AKIA0", CreatedAt: t0, SealedSecret: []byte{9}}))
	us, err := s.ListUsers(ctx)
	must(t, err)
	if len(us) != 2 || us[0].AccessKeyID != "AKIA0" {
		t.Fatalf("ListUsers = %+v", us)
	}
	must(t, s.DeleteUser(ctx, "AKIAEXAMPLE"))
	wantS3(t, s.DeleteUser(ctx, "AKIAEXAMPLE"), s3node.ENotFound, s3node.NoSuchUser)
	_, err = s.GetUser(ctx, "AKIAEXAMPLE")
	wantS3(t, err, s3node.ENotFound, s3node.NoSuchUser)
}

func testBlobReferenced(t *testing.T, s s3node.MetadataStore) {
	ctx := context.Background()
	newBucket(t, s, "b", s3node.Unversioned)
	_, err := s.PutObject(ctx, obj("b", "k", "blob-object"))
	must(t, err)
	must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: "m", UploadID: "u", Initiated: t0}))
	_, err = s.PutPart(ctx, "b", "m", "u", s3node.Part{PartNumber: 1, BlobID: "blob-part", ETag: "e1", LastModified: t0})
	must(t, err)
	must(t, s.CreateUpload(ctx, s3node.MultipartUpload{Bucket: "b", Key: "n", UploadID: "u2", Initiated: t0}))
	_, err = s.PutPart(ctx, "b", "n", "u2", s3node.Part{PartNumber: 1, BlobID: "blob-seg", ETag: "e1", LastModified: t0})
	must(t, err)
	_, err = s.CompleteUpload(ctx, s3node.CompleteRequest{Bucket: "b", Key: "n", UploadID: "u2",
		Parts: []s3node.CompletePart{{PartNumber: 1, ETag: "e1"}}, Object: s3node.ObjectVersion{ETag: "x-1", LastModified: t0}})
	must(t, err)
	for id, want := range map[string]bool{"blob-object": true, "blob-part": true, "blob-seg": true, "blob-none": false} {
		got, err := s.BlobReferenced(ctx, id)
		must(t, err)
		if got != want {
			t.Errorf("BlobReferenced(%s) = %v, want %v", id, got, want)
		}
	}
}
