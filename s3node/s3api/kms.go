package s3api

import (
	"context"

	"github.com/s3kms/s3kms/kms"
)

// KeyService is what the S3 node asks of the KMS. It is declared here,
// where it is consumed; kms/kmsclient.Client implements it over mutual
// TLS. Errors carry a kms.Code (kms.ErrorCode): ENotFound for an unknown
// key, EDisabled / EState / EDestroyed for a key that cannot be used,
// EForbidden when the node may not use the key, EDecrypt when a sealed
// key does not open, EUnavailable when the KMS cannot be reached; they
// become S3 errors in kmsError.
type KeyService interface {
	// GenerateDataKey returns a fresh OEK sealed under the current
	// version of keyID, bound to the context ec.
	GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error)
	// Decrypt opens a sealed OEK made with the same context.
	Decrypt(ctx context.Context, sealed []byte, ec map[string]string) (kms.DataKey, error)
	// CreateBucketKey creates the root key of a bucket (kms.BucketKeyID);
	// an existing key is not an error.
	CreateBucketKey(ctx context.Context, keyID string) error
	// ScheduleKeyDeletion schedules the destruction of a key after days.
	ScheduleKeyDeletion(ctx context.Context, keyID string, days int) error
}
