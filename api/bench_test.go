package api_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// benchEnv starts a KMS with a bucket key and returns an S3-node client.
func benchEnv(b testing.TB) (*apitest.Env, *kmsclient.Client) {
	e := apitest.New(b, apitest.Options{})
	if _, err := e.Client(b, e.Admin).CreateKey(context.Background(),
		wire.CreateKeyRequest{ID: "bucket/bench", Purpose: "bucket-root"}); err != nil {
		b.Fatal(err)
	}
	return e, e.Client(b, e.S3Node)
}

// BenchmarkHTTPGenerateDataKey measures generate over mTLS, end to end
// (client, TLS, server, service, SQLite audit write).
func BenchmarkHTTPGenerateDataKey(b *testing.B) {
	_, c := benchEnv(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ec := map[string]string{"bucket": "bench", "key": "o" + strconv.FormatInt(n.Add(1), 10)}
			dk, err := c.GenerateDataKey(ctx, "bucket/bench", ec)
			if err != nil {
				b.Error(err)
				return
			}
			dk.Wipe()
		}
	})
}

// BenchmarkHTTPDecrypt measures decrypt of one sealed data key over mTLS.
func BenchmarkHTTPDecrypt(b *testing.B) {
	_, c := benchEnv(b)
	ctx := context.Background()
	ec := map[string]string{"bucket": "bench", "key": "obj"}
	dk, err := c.GenerateDataKey(ctx, "bucket/bench", ec)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			got, err := c.Decrypt(ctx, dk.Sealed, ec)
			if err != nil {
				b.Error(err)
				return
			}
			got.Wipe()
		}
	})
}
