package cluster

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"
)

// sse is how an object is encrypted.
type sse struct {
	name      string
	kind      string // "", "AES256", "aws:kms", "sse-c"
	kmsKey    string
	bucketKey bool
	custKey   []byte
}

var (
	plain = sse{name: "plain"}
	sseS3 = sse{name: "sse-s3", kind: "AES256"}
)

func sseKMS(key string, bucketKey bool) sse {
	return sse{name: fmt.Sprintf("sse-kms(bucket key %v)", bucketKey), kind: "aws:kms", kmsKey: key, bucketKey: bucketKey}
}

func sseC() sse {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return sse{name: "sse-c", kind: "sse-c", custKey: k}
}

func (e sse) customer() (alg, key, md *string) {
	if e.custKey == nil {
		return nil, nil, nil
	}
	sum := md5.Sum(e.custKey)
	return aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(e.custKey)), aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// put writes body to bucket/key through client c with encryption e and
// returns the version id (nil if unversioned).
func put(ctx context.Context, c *s3.Client, bucket, key string, body []byte, e sse) (*string, error) {
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}
	switch e.kind {
	case "AES256":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "aws:kms":
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(e.kmsKey)
		in.BucketKeyEnabled = aws.Bool(e.bucketKey)
	}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
	out, err := c.PutObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("put %s/%s (%s): %w", bucket, key, e.name, err)
	}
	return out.VersionId, nil
}

// get reads bucket/key (a version if version is set).
func get(ctx context.Context, c *s3.Client, bucket, key string, version *string, e sse) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key, VersionId: version}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = e.customer()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s (%s): %w", bucket, key, e.name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s (%s): body: %w", bucket, key, e.name, err)
	}
	return b, nil
}

// s3Code returns the S3 error code of err, or "".
func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustBucket(t testing.TB, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// blobCheck reads the metadata database and the shared data directory:
// every blob id is referenced at most once and exists on disk. It
// returns the committed blobs on disk that nothing references (orphans
// the sweeper will remove after its grace period).
func (c *cluster) blobCheck(t testing.TB) (orphans int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.s3DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT blob_id FROM s3_objects WHERE blob_id IS NOT NULL
		UNION ALL SELECT blob_id FROM s3_segments UNION ALL SELECT blob_id FROM s3_parts`)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		refs[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]bool{}
	err = filepath.WalkDir(c.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.dataDir, path)
		if !d.IsDir() && len(d.Name()) == 32 && !strings.HasPrefix(rel, "tmp"+string(os.PathSeparator)) {
			onDisk[d.Name()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range refs {
		if n > 1 {
			t.Errorf("blob %s is referenced %d times", id, n)
		}
		if !onDisk[id] {
			t.Errorf("blob %s is referenced but missing from the data directory", id)
		}
	}
	for id := range onDisk {
		if refs[id] == 0 {
			orphans++
		}
	}
	return orphans
}
