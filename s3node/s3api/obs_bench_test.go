package s3api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/storage/blobfs"
)

// BenchmarkObservability measures HeadObject (a cheap request, where the
// per-request cost of metrics and the access log shows most) through the
// SDK over TLS, with observability off and on (JSON access log to
// io.Discard, metrics on a registry):
//
//	go test ./s3node/s3api -run '^$' -bench Observability -count 5
func BenchmarkObservability(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			data, err := blobfs.New(filepath.Join(dir, "data"))
			if err != nil {
				b.Fatal(err)
			}
			cfg := Config{Meta: metaStore(b, sqliteBackend, dir), Data: data, Users: testUsers, Region: region,
				Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			if on {
				cfg.AccessLog, cfg.Registerer = true, prometheus.NewRegistry()
			}
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			e := &env{s: s, backend: sqliteBackend, payloads: map[string]bool{}}
			e.srv = httptest.NewTLSServer(s.Handler())
			b.Cleanup(e.srv.Close)
			c := e.client(alice())
			ctx := context.Background()
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
				b.Fatal(err)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("k"), Body: nil}); err != nil {
				b.Fatal(err)
			}
			in := &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String("k")}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.HeadObject(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
