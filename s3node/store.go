package s3node

import (
	"context"
	"io"
	"time"
)

// MetadataStore is everything the S3 node keeps in its database.
// Implementations: storage/postgres and storage/sqlite; both pass
// storage/storagetest.ExerciseS3Store. Every method may also return
// EUnavailable when the database is unreachable, and EInvalid (reason
// InvalidArgument) for a name, key, prefix or marker that is not
// ValidKey.
type MetadataStore interface {
	BucketStore
	ObjectStore
	MultipartStore
	UserStore
	BlobIndex
	SealedKeyStore
}

// BucketStore keeps buckets.
type BucketStore interface {
	// CreateBucket stores b; b.ID and b.Name must be set. Returns
	// EConflict/BucketAlreadyExists if the name (or id) is taken.
	CreateBucket(ctx context.Context, b Bucket) error
	// GetBucket returns the bucket named name. Returns
	// ENotFound/NoSuchBucket.
	GetBucket(ctx context.Context, name string) (Bucket, error)
	// ListBuckets returns the buckets of owner ("" for all) by name.
	ListBuckets(ctx context.Context, owner string) ([]Bucket, error)
	// DeleteBucket removes an empty bucket. Returns ENotFound/NoSuchBucket,
	// or EConflict/BucketNotEmpty while it holds any version, delete
	// marker or multipart upload.
	DeleteBucket(ctx context.Context, name string) error
	// SetVersioning changes the versioning state. Returns
	// ENotFound/NoSuchBucket, or EInvalid/IllegalVersioningConfiguration
	// for Unversioned on a bucket that has been versioned.
	SetVersioning(ctx context.Context, name string, state VersioningState) error
	// SetBucketTags replaces the bucket's tags (nil removes them). Returns
	// ENotFound/NoSuchBucket.
	SetBucketTags(ctx context.Context, name string, tags map[string]string) error
	// SetBucketEncryption replaces the default-encryption configuration
	// (nil removes it). Returns ENotFound/NoSuchBucket.
	SetBucketEncryption(ctx context.Context, name string, config []byte) error
}

// ObjectStore keeps object versions.
type ObjectStore interface {
	// PutObject stores v (Bucket, Key and data fields set; VersionID, Seq
	// and IsLatest are assigned) as the current version of its key, in one
	// transaction, following the bucket's versioning state. Returns
	// ENotFound/NoSuchBucket.
	PutObject(ctx context.Context, v ObjectVersion) (PutResult, error)
	// GetObject returns a version with its Parts: the current one when
	// versionID is "", which may be a delete marker (returned, not an
	// error: the S3 layer answers NoSuchKey with x-amz-delete-marker).
	// Returns ENotFound/NoSuchBucket, NoSuchKey (no version at all), or
	// NoSuchVersion (versionID unknown).
	GetObject(ctx context.Context, bucket, key, versionID string) (ObjectVersion, error)
	// DeleteObject deletes without a version id: removes the null version
	// in an unversioned bucket, adds a delete marker in an enabled one, and
	// replaces the null version with a null delete marker in a suspended
	// one. Deleting a missing key succeeds. Returns ENotFound/NoSuchBucket.
	DeleteObject(ctx context.Context, bucket, key string) (DeleteResult, error)
	// DeleteVersion removes one version or delete marker for good; if it
	// was current, the newest remaining version becomes current. Returns
	// ENotFound/NoSuchBucket or NoSuchVersion.
	DeleteVersion(ctx context.Context, bucket, key, versionID string) (DeleteResult, error)
	// UpdateObject changes the mutable fields of a version (versionID ""
	// for the current one) and returns it. Returns ENotFound/NoSuchBucket,
	// NoSuchKey, NoSuchVersion; EInvalid/InvalidArgument for a delete
	// marker.
	UpdateObject(ctx context.Context, bucket, key, versionID string, u ObjectUpdate) (ObjectVersion, error)
	// ListObjects lists current, non-deleted objects in key byte order.
	// Returns ENotFound/NoSuchBucket.
	ListObjects(ctx context.Context, bucket string, o ListObjectsOptions) (ListObjectsResult, error)
	// ListVersions lists versions and delete markers by key, newest first.
	// Returns ENotFound/NoSuchBucket, EInvalid for an unknown
	// VersionIDMarker.
	ListVersions(ctx context.Context, bucket string, o ListVersionsOptions) (ListVersionsResult, error)
}

// MultipartStore keeps multipart uploads and their parts.
type MultipartStore interface {
	// CreateUpload stores u (UploadID set). Returns ENotFound/NoSuchBucket,
	// EConflict/UploadAlreadyExists.
	CreateUpload(ctx context.Context, u MultipartUpload) error
	// GetUpload returns an upload. Returns ENotFound/NoSuchUpload (also
	// when bucket or key do not match).
	GetUpload(ctx context.Context, bucket, key, uploadID string) (MultipartUpload, error)
	// PutPart stores p, replacing a part with the same number, whose blob
	// is then returned as unreferenced. Returns ENotFound/NoSuchUpload.
	PutPart(ctx context.Context, bucket, key, uploadID string, p Part) (unreferenced []string, err error)
	// ListParts lists parts by number. Returns ENotFound/NoSuchUpload.
	ListParts(ctx context.Context, bucket, key, uploadID string, o ListPartsOptions) (ListPartsResult, error)
	// ListUploads lists uploads in progress. Returns ENotFound/NoSuchBucket.
	ListUploads(ctx context.Context, bucket string, o ListUploadsOptions) (ListUploadsResult, error)
	// CompleteUpload turns the upload into the current object version in
	// one transaction, with the listed parts as its segments, as PutObject
	// would. Parts not listed become unreferenced. Returns
	// ENotFound/NoSuchUpload; EInvalid/InvalidPart (a part missing or its
	// ETag differs), InvalidPartOrder (numbers not ascending, or no
	// parts), EntityTooSmall (a part but the last below MinPartSize).
	CompleteUpload(ctx context.Context, r CompleteRequest) (PutResult, error)
	// AbortUpload removes the upload and returns its parts' blobs. Returns
	// ENotFound/NoSuchUpload.
	AbortUpload(ctx context.Context, bucket, key, uploadID string) (unreferenced []string, err error)
}

// UserStore keeps S3 users.
type UserStore interface {
	// CreateUser stores u. Returns EConflict/UserAlreadyExists.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with the access key id. Returns
	// ENotFound/NoSuchUser.
	GetUser(ctx context.Context, accessKeyID string) (User, error)
	// ListUsers returns all users by access key id.
	ListUsers(ctx context.Context) ([]User, error)
	// DeleteUser removes a user. Returns ENotFound/NoSuchUser.
	DeleteUser(ctx context.Context, accessKeyID string) error
}

// BlobIndex answers the data store's sweeper.
type BlobIndex interface {
	// BlobReferenced reports whether any object version, segment or part
	// references the blob.
	BlobReferenced(ctx context.Context, blobID string) (bool, error)
}

// DataStore keeps immutable blobs of object data. It only ever sees
// ciphertext when the object is encrypted. Implementation: storage/blobfs.
// Any method may return EUnavailable for an I/O failure.
type DataStore interface {
	// Create starts a new blob. Nothing is visible until Commit.
	Create(ctx context.Context) (BlobWriter, error)
	// Open opens a committed blob. Returns ENotFound/NoSuchBlob, EInvalid
	// for a malformed id.
	Open(ctx context.Context, id string) (Blob, error)
	// Delete removes a blob. Deleting a missing blob succeeds. Returns
	// EInvalid for a malformed id.
	Delete(ctx context.Context, id string) error
	// List calls fn for every committed blob, in no particular order,
	// stopping at fn's first error, which it returns.
	List(ctx context.Context, fn func(BlobInfo) error) error
}

// BlobWriter streams a new blob. Exactly one of Commit or Abort must be
// called.
type BlobWriter interface {
	io.Writer
	// Commit makes the blob durable under a new id (temp file, fsync,
	// rename, directory fsync) and returns the id.
	Commit(ctx context.Context) (id string, err error)
	// Abort discards what was written.
	Abort() error
}

// Blob is an open blob.
type Blob interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}
