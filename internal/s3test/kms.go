package s3test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/s3node/s3api"
)

// KMSCalls counts the calls an S3 node made to its KMS.
type KMSCalls struct {
	GenerateDataKey int64
	Decrypt         int64
	CreateBucketKey int64
}

// Sub returns c - o, the calls made between two snapshots.
func (c KMSCalls) Sub(o KMSCalls) KMSCalls {
	return KMSCalls{c.GenerateDataKey - o.GenerateDataKey, c.Decrypt - o.Decrypt, c.CreateBucketKey - o.CreateBucketKey}
}

// Total is the number of calls of every kind.
func (c KMSCalls) Total() int64 { return c.GenerateDataKey + c.Decrypt + c.CreateBucketKey }

// KMSCounter is an s3api.KeyService that counts the calls it forwards to
// another. It is safe for concurrent use.
type KMSCounter struct {
	next              s3api.KeyService
	gen, dec, created atomic.Int64
}

// NewKMSCounter counts the calls made to next.
func NewKMSCounter(next s3api.KeyService) *KMSCounter { return &KMSCounter{next: next} }

var _ s3api.KeyService = (*KMSCounter)(nil)

// Calls returns the calls counted so far.
func (k *KMSCounter) Calls() KMSCalls {
	return KMSCalls{GenerateDataKey: k.gen.Load(), Decrypt: k.dec.Load(), CreateBucketKey: k.created.Load()}
}

// GenerateDataKey counts and forwards the call.
func (k *KMSCounter) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error) {
	k.gen.Add(1)
	return k.next.GenerateDataKey(ctx, keyID, ec)
}

// Decrypt counts and forwards the call.
func (k *KMSCounter) Decrypt(ctx context.Context, sealed []byte, ec map[string]string) (kms.DataKey, error) {
	k.dec.Add(1)
	return k.next.Decrypt(ctx, sealed, ec)
}

// CreateBucketKey counts and forwards the call.
func (k *KMSCounter) CreateBucketKey(ctx context.Context, keyID string) error {
	k.created.Add(1)
	return k.next.CreateBucketKey(ctx, keyID)
}

// ScheduleKeyDeletion forwards the call (not counted: it is no part of
// the data path).
func (k *KMSCounter) ScheduleKeyDeletion(ctx context.Context, keyID string, days int) error {
	return k.next.ScheduleKeyDeletion(ctx, keyID, days)
}

// startKMS starts a real in-process KMS (api/apitest) and returns it with
// a client for the S3 node (apitest.S3NodeRules).
func startKMS(t testing.TB) (*apitest.Env, *kmsclient.Client) {
	t.Helper()
	return apitest.NewForS3Node(t, apitest.Options{})
}
