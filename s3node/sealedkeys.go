package s3node

import "context"

// SealedKind names the kind of row a SealedRow is.
type SealedKind string

// Kinds of rows whose sealed key may depend on a KMS key.
const (
	SealedObject SealedKind = "object" // an object version
	SealedUpload SealedKind = "upload" // a multipart upload in progress
)

// SealedCount is how many rows have a sealed key that depends on one
// version of a KMS key.
type SealedCount struct {
	Version int   // root-key version
	Objects int64 // object versions
	Uploads int64 // multipart uploads in progress
}

// SealedCursor is where ListSealed goes on: after the row (Version, ID).
// The zero value starts at the first row.
type SealedCursor struct {
	Version int
	ID      int64
}

// SealedRow is an object version or multipart upload whose sealed key
// depends on a KMS key: what re-sealing it under a newer root-key version
// takes.
type SealedRow struct {
	Kind SealedKind
	// ID is the store's row id (for objects, ObjectVersion.Seq). With
	// Kind it names the row for ResealKey; Bucket, Key, VersionID and
	// UploadID are for logs and the encryption context.
	ID        int64
	BucketID  string // the bucket's internal id, part of the encryption context
	Bucket    string // the bucket's name
	Key       string
	VersionID string // SealedObject only
	UploadID  string // SealedUpload only
	// Encryption is the row's encryption as stored. Its SealedKey is also
	// the compare-and-set token ResealKey takes as old.
	Encryption EncryptionInfo
	// KeyID and KeyVersion are the KMS key and root-key version the sealed
	// key depends on, as the store reads them from SealedKey: for a
	// bucket-key envelope (s3node/bucketkey), those of the KMS-sealed
	// bucket data key inside.
	KeyID      string
	KeyVersion int
}

// Cursor returns the cursor that continues a listing after r.
func (r SealedRow) Cursor() SealedCursor { return SealedCursor{Version: r.KeyVersion, ID: r.ID} }

// SealedKeyStore finds and re-seals the sealed object keys that depend on
// a KMS key, for key rotation: the rewrap job and the per-version counts
// of `admin key show`.
//
// What a row's sealed key depends on is read by the store from the
// sealed bytes (kms/sealed: key id and version of the blob; s3node/
// bucketkey envelope: those of the KMS-sealed bucket data key inside),
// never taken from EncryptionInfo.KeyID/KeyVersion, so it holds whichever
// path wrote the row. SSE-C and unencrypted rows depend on no KMS key.
// An SSE-S3 or SSE-KMS row whose sealed key the store cannot read (a
// format it does not know, corrupt bytes) is counted by CountUnattributed
// only: while that count is not zero, CountSealed does not account for
// every sealed key, and no root-key version may be destroyed on its word.
type SealedKeyStore interface {
	// CountSealed returns, in ascending version order, how many object
	// versions and multipart uploads have a sealed key depending on each
	// version of KMS key keyID. Versions without any are left out; an
	// unknown key id gives none.
	CountSealed(ctx context.Context, keyID string) ([]SealedCount, error)
	// CountUnattributed returns how many SSE-S3 and SSE-KMS object
	// versions and multipart uploads have a sealed key from which no KMS
	// key and version can be read.
	CountUnattributed(ctx context.Context) (objects, uploads int64, err error)
	// ListSealed returns up to limit rows of kind whose sealed key
	// depends on KMS key keyID at a version below below, in (KeyVersion,
	// ID) order, starting after the cursor after. Fewer than limit rows
	// means the listing is complete. Returns EInvalid/InvalidArgument for
	// an unknown kind or a limit below 1.
	ListSealed(ctx context.Context, kind SealedKind, keyID string, below int, after SealedCursor, limit int) ([]SealedRow, error)
	// ResealKey replaces the sealed key of row id of kind with sealed if
	// the row still holds old (compare and set; every seal draws a fresh
	// salt, so equal bytes mean no write in between), and returns the
	// root-key version the row now depends on, which also becomes its
	// EncryptionInfo.KeyVersion. sealed must depend on the
	// same KMS key as old. Returns ENotFound when the row is gone (deleted,
	// or replaced by a new write), EConflict when its sealed key changed
	// since it was listed (a concurrent write won: list again), and
	// EInvalid/InvalidArgument when old or sealed does not depend on a KMS
	// key or they depend on different keys. On error nothing changed.
	ResealKey(ctx context.Context, kind SealedKind, id int64, old, sealed []byte) (version int, err error)
}
