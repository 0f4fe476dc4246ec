package s3node

import "time"

// NullVersionID is the version id of the version written while a bucket
// is unversioned or suspended.
const NullVersionID = "null"

// Checksum types of an object's checksums (x-amz-checksum-type).
const (
	ChecksumFullObject = "FULL_OBJECT"
	ChecksumComposite  = "COMPOSITE"
)

// ObjectVersion is one version of an object, or a delete marker.
//
// Its data is either one blob (BlobID) or, for a completed multipart
// upload, the ordered list of its parts' blobs (Parts), read one after the
// other: no part is ever copied into a single blob. A delete marker has
// neither.
type ObjectVersion struct {
	Bucket    string // bucket name
	Key       string
	VersionID string // NullVersionID, or a random id (NewVersionID)
	// Seq orders the versions of a key: a later committed write has a
	// larger Seq. Assigned by the store.
	Seq          int64
	IsLatest     bool // the current version of its key
	DeleteMarker bool

	Size         int64 // plaintext size in bytes
	StoredSize   int64 // bytes in the data store (ciphertext when encrypted)
	ETag         string
	LastModified time.Time
	Owner        string // canonical id

	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string // the Expires header as given

	UserMetadata map[string]string // x-amz-meta-*, names lower-case; nil when none
	Tags         map[string]string // nil when none
	StorageClass string

	Checksums    map[string]string // algorithm (CRC32, CRC32C, SHA1, SHA256, CRC64NVME) → base64
	ChecksumType string            // ChecksumFullObject, ChecksumComposite or ""

	BlobID     string    // the data of a single-blob object
	PartsCount int       // number of Parts of a multipart object, 0 otherwise
	Parts      []Segment // multipart data; loaded by GetObject only, nil in listings

	Encryption *EncryptionInfo // nil when stored in clear
}

// Segment is one part of a completed multipart object.
type Segment struct {
	PartNumber int
	BlobID     string
	Offset     int64 // plaintext offset of the part in the object
	Size       int64 // plaintext size
	StoredSize int64 // bytes in the data store
	ETag       string
	Checksums  map[string]string
}

// SSEType names a server-side encryption mode.
type SSEType string

// Server-side encryption modes.
const (
	SSES3  SSEType = "SSE-S3"
	SSEKMS SSEType = "SSE-KMS"
	SSEC   SSEType = "SSE-C"
)

// EncryptionInfo is what it takes to decrypt an object version: the
// sealed object key and where it came from. Nothing in it is secret.
type EncryptionInfo struct {
	Type           SSEType
	SealedKey      []byte            // the sealed OEK (kms/sealed format)
	KeyID          string            // KMS key id (bucket root key or named SSE-KMS key)
	KeyVersion     int               // root-key version that sealed SealedKey
	CustomerKeyMD5 string            // SSE-C: base64 MD5 of the customer key
	Format         string            // data format of the blobs, e.g. "DARE/2.0"
	Context        map[string]string // SSE-KMS encryption context; nil when none
	// BucketKeyEnabled records x-amz-server-side-encryption-bucket-key-enabled
	// (SSE-KMS), echoed on reads.
	BucketKeyEnabled bool
}

// PutResult is the outcome of writing a version.
type PutResult struct {
	VersionID string
	Seq       int64
	// Unreferenced lists the blobs that no row references any more (the
	// replaced null version, the parts not used by a completed upload).
	Unreferenced []string
}

// DeleteResult is the outcome of a delete.
type DeleteResult struct {
	// VersionID is the version removed or, for a new delete marker, the
	// marker's id. Empty when nothing was there.
	VersionID string
	// DeleteMarker is true when a marker was created, or when the version
	// removed was a marker.
	DeleteMarker bool
	Unreferenced []string
}

// ObjectUpdate changes the mutable fields of a stored version. A field is
// changed only when its Set flag is true.
type ObjectUpdate struct {
	SetTags bool
	Tags    map[string]string
	// SetEncryption replaces the encryption info unconditionally. The
	// rewrap job uses SealedKeyStore.ResealKey instead, which fails rather
	// than overwrite a concurrent write.
	SetEncryption bool
	Encryption    *EncryptionInfo
}
