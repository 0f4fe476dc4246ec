// Package metatimeout bounds the calls the S3 API makes to its metadata
// store. A database that stops answering without closing its connections
// (a stalled server or disk, a paused VM, a network partition) would
// otherwise hold every request until the client gives up, since requests
// have no deadline of their own (objects stream for as long as they
// take). With Wrap, such calls fail after the timeout with EUnavailable,
// which the node answers with 503 ServiceUnavailable.
//
// A call that times out may still commit in the database: callers treat
// EUnavailable as "outcome unknown" (s3api keeps the blob of such a write
// for the orphan sweep instead of deleting it).
package metatimeout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3kms/s3kms/s3node"
)

// Store is a MetadataStore whose bucket, object, multipart, user and
// blob-reference calls each get a deadline. The sealed-key calls of the
// rewrap jobs pass through unbounded: they run in the background and
// some of them (counts) scan whole tables.
type Store struct {
	s3node.MetadataStore
	timeout time.Duration
}

// Wrap returns next with every request-path call bounded by timeout; a
// timeout of 0 or less returns next itself.
func Wrap(next s3node.MetadataStore, timeout time.Duration) s3node.MetadataStore {
	if timeout <= 0 {
		return next
	}
	return &Store{MetadataStore: next, timeout: timeout}
}

// call runs f under the deadline. When the deadline (not the caller's
// context) ended the call, the error is EUnavailable whatever the store
// made of it.
func call[T any](s *Store, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return v, s3node.Wrap(s3node.EUnavailable, err, fmt.Sprintf("the metadata store did not answer within %v", s.timeout))
	}
	return v, err
}

func call0(s *Store, ctx context.Context, f func(context.Context) error) error {
	_, err := call(s, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// CreateBucket implements s3node.BucketStore.
func (s *Store) CreateBucket(ctx context.Context, b s3node.Bucket) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.CreateBucket(ctx, b) })
}

// GetBucket implements s3node.BucketStore.
func (s *Store) GetBucket(ctx context.Context, name string) (s3node.Bucket, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.Bucket, error) { return s.MetadataStore.GetBucket(ctx, name) })
}

// ListBuckets implements s3node.BucketStore.
func (s *Store) ListBuckets(ctx context.Context, owner string) ([]s3node.Bucket, error) {
	return call(s, ctx, func(ctx context.Context) ([]s3node.Bucket, error) { return s.MetadataStore.ListBuckets(ctx, owner) })
}

// DeleteBucket implements s3node.BucketStore.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.DeleteBucket(ctx, name) })
}

// SetVersioning implements s3node.BucketStore.
func (s *Store) SetVersioning(ctx context.Context, name string, state s3node.VersioningState) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.SetVersioning(ctx, name, state) })
}

// SetBucketTags implements s3node.BucketStore.
func (s *Store) SetBucketTags(ctx context.Context, name string, tags map[string]string) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.SetBucketTags(ctx, name, tags) })
}

// SetBucketEncryption implements s3node.BucketStore.
func (s *Store) SetBucketEncryption(ctx context.Context, name string, config []byte) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.SetBucketEncryption(ctx, name, config) })
}

// PutObject implements s3node.ObjectStore.
func (s *Store) PutObject(ctx context.Context, v s3node.ObjectVersion) (s3node.PutResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.PutResult, error) { return s.MetadataStore.PutObject(ctx, v) })
}

// GetObject implements s3node.ObjectStore.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string) (s3node.ObjectVersion, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ObjectVersion, error) {
		return s.MetadataStore.GetObject(ctx, bucket, key, versionID)
	})
}

// DeleteObject implements s3node.ObjectStore.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) (s3node.DeleteResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.DeleteResult, error) {
		return s.MetadataStore.DeleteObject(ctx, bucket, key)
	})
}

// DeleteVersion implements s3node.ObjectStore.
func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) (s3node.DeleteResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.DeleteResult, error) {
		return s.MetadataStore.DeleteVersion(ctx, bucket, key, versionID)
	})
}

// UpdateObject implements s3node.ObjectStore.
func (s *Store) UpdateObject(ctx context.Context, bucket, key, versionID string, u s3node.ObjectUpdate) (s3node.ObjectVersion, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ObjectVersion, error) {
		return s.MetadataStore.UpdateObject(ctx, bucket, key, versionID, u)
	})
}

// ListObjects implements s3node.ObjectStore.
func (s *Store) ListObjects(ctx context.Context, bucket string, o s3node.ListObjectsOptions) (s3node.ListObjectsResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ListObjectsResult, error) {
		return s.MetadataStore.ListObjects(ctx, bucket, o)
	})
}

// ListVersions implements s3node.ObjectStore.
func (s *Store) ListVersions(ctx context.Context, bucket string, o s3node.ListVersionsOptions) (s3node.ListVersionsResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ListVersionsResult, error) {
		return s.MetadataStore.ListVersions(ctx, bucket, o)
	})
}

// CreateUpload implements s3node.MultipartStore.
func (s *Store) CreateUpload(ctx context.Context, u s3node.MultipartUpload) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.CreateUpload(ctx, u) })
}

// GetUpload implements s3node.MultipartStore.
func (s *Store) GetUpload(ctx context.Context, bucket, key, uploadID string) (s3node.MultipartUpload, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.MultipartUpload, error) {
		return s.MetadataStore.GetUpload(ctx, bucket, key, uploadID)
	})
}

// PutPart implements s3node.MultipartStore.
func (s *Store) PutPart(ctx context.Context, bucket, key, uploadID string, p s3node.Part) ([]string, error) {
	return call(s, ctx, func(ctx context.Context) ([]string, error) {
		return s.MetadataStore.PutPart(ctx, bucket, key, uploadID, p)
	})
}

// ListParts implements s3node.MultipartStore.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, o s3node.ListPartsOptions) (s3node.ListPartsResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ListPartsResult, error) {
		return s.MetadataStore.ListParts(ctx, bucket, key, uploadID, o)
	})
}

// ListUploads implements s3node.MultipartStore.
func (s *Store) ListUploads(ctx context.Context, bucket string, o s3node.ListUploadsOptions) (s3node.ListUploadsResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.ListUploadsResult, error) {
		return s.MetadataStore.ListUploads(ctx, bucket, o)
	})
}

// CompleteUpload implements s3node.MultipartStore.
func (s *Store) CompleteUpload(ctx context.Context, r s3node.CompleteRequest) (s3node.PutResult, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.PutResult, error) { return s.MetadataStore.CompleteUpload(ctx, r) })
}

// AbortUpload implements s3node.MultipartStore.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) ([]string, error) {
	return call(s, ctx, func(ctx context.Context) ([]string, error) {
		return s.MetadataStore.AbortUpload(ctx, bucket, key, uploadID)
	})
}

// CreateUser implements s3node.UserStore.
func (s *Store) CreateUser(ctx context.Context, u s3node.User) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.CreateUser(ctx, u) })
}

// GetUser implements s3node.UserStore.
func (s *Store) GetUser(ctx context.Context, accessKeyID string) (s3node.User, error) {
	return call(s, ctx, func(ctx context.Context) (s3node.User, error) { return s.MetadataStore.GetUser(ctx, accessKeyID) })
}

// ListUsers implements s3node.UserStore.
func (s *Store) ListUsers(ctx context.Context) ([]s3node.User, error) {
	return call(s, ctx, func(ctx context.Context) ([]s3node.User, error) { return s.MetadataStore.ListUsers(ctx) })
}

// DeleteUser implements s3node.UserStore.
func (s *Store) DeleteUser(ctx context.Context, accessKeyID string) error {
	return call0(s, ctx, func(ctx context.Context) error { return s.MetadataStore.DeleteUser(ctx, accessKeyID) })
}

// BlobReferenced implements s3node.BlobIndex.
func (s *Store) BlobReferenced(ctx context.Context, blobID string) (bool, error) {
	return call(s, ctx, func(ctx context.Context) (bool, error) { return s.MetadataStore.BlobReferenced(ctx, blobID) })
}
