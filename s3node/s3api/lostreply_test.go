package s3api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/s3node"
)

// lostReply is the real metadata store whose answer to PutObject and
// PutPart is lost once armed: the update commits, then the caller gets
// EUnavailable, as when the connection drops (or the client's request is
// cancelled) between COMMIT and its reply.
type lostReply struct {
	s3node.MetadataStore
	armed atomic.Bool
}

var errLost = s3node.Wrap(s3node.EUnavailable, errors.New("connection reset after COMMIT"), "put: database unavailable")

func (l *lostReply) PutObject(ctx context.Context, v s3node.ObjectVersion) (s3node.PutResult, error) {
	res, err := l.MetadataStore.PutObject(ctx, v)
	if err == nil && l.armed.Load() {
		return s3node.PutResult{}, errLost
	}
	return res, err
}

func (l *lostReply) PutPart(ctx context.Context, bucket, key, uploadID string, p s3node.Part) ([]string, error) {
	old, err := l.MetadataStore.PutPart(ctx, bucket, key, uploadID, p)
	if err == nil && l.armed.Load() {
		return nil, errLost
	}
	return old, err
}

// TestLostCommitReply: a write whose metadata commit succeeded but whose
// answer was lost gets 503, and its data stays: the object (or part) the
// database now holds reads back instead of pointing at a deleted blob.
func TestLostCommitReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lost := &lostReply{MetadataStore: e.s.meta}
		e.s.meta = lost
		c := e.client(alice())
		mustCreateBucket(t, c, "lost")
		mustPut(t, c, "lost", "src", []byte("copy source"))
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lost"), Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		lost.armed.Store(true)
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"PutObject", func() error {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lost"), Key: aws.String("put"), Body: bytes.NewReader([]byte("put body"))})
				return err
			}},
			{"CopyObject", func() error {
				_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lost"), Key: aws.String("copy"), CopySource: aws.String("lost/src")})
				return err
			}},
			{"UploadPart", func() error {
				_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lost"), Key: aws.String("mp"), UploadId: up.UploadId,
					PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("last part"))})
				return err
			}},
		} {
			wantCode(t, tc.call(), "ServiceUnavailable", 503)
		}
		lost.armed.Store(false)
		for key, want := range map[string]string{"put": "put body", "copy": "copy source"} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lost"), Key: aws.String(key)})
			if err != nil {
				t.Errorf("GET %s after its lost commit reply: %v", key, err)
				continue
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || string(b) != want {
				t.Errorf("GET %s = %q, %v; want %q", key, b, err, want)
			}
		}
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lost"), Key: aws.String("mp"), UploadId: up.UploadId})
		if err != nil || len(parts.Parts) != 1 {
			t.Fatalf("ListParts: %v, %+v", err, parts)
		}
		if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lost"), Key: aws.String("mp"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: parts.Parts[0].ETag}}}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lost"), Key: aws.String("mp")})
		if err != nil {
			t.Fatalf("GET of the upload whose part's commit reply was lost: %v", err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "last part" {
			t.Errorf("GET mp = %q", b)
		}
	})
}
