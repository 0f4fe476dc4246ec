package s3test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
)

func TestStartServesTLSWithItsCA(t *testing.T) {
	e := Start(t)
	if !e.Loopback() {
		t.Fatalf("%s is not loopback", e.URL)
	}
	pool, err := e.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Get(e.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden { // anonymous ListBuckets
		t.Fatalf("anonymous GET /: %s", resp.Status)
	}
	if !slices.Contains(e.Env(), "AWS_CA_BUNDLE="+e.CAFile) {
		t.Fatalf("env: %q", e.Env())
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("S3KMS_S3_ENDPOINT", "")
	if _, ok := FromEnv(); ok {
		t.Fatal("ok without S3KMS_S3_ENDPOINT")
	}
	t.Setenv("S3KMS_S3_ENDPOINT", "https://localhost:9000")
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_DEFAULT_REGION", "")
	e, ok := FromEnv()
	if !ok || e.AccessKey != "id" || e.Region != Region || !e.Loopback() {
		t.Fatalf("%+v %v", e, ok)
	}
	if (Endpoint{URL: "https://example.com"}).Loopback() {
		t.Fatal("example.com is loopback")
	}
}

// TestStartServesSSE writes and reads an SSE-S3 and an SSE-KMS object on
// the in-process node and checks the KMS calls counted.
func TestStartServesSSE(t *testing.T) {
	e := Start(t)
	ctx := context.Background()
	pool, err := e.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	c := s3.New(s3.Options{
		Region: e.Region, BaseEndpoint: aws.String(e.URL), UsePathStyle: true,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: e.AccessKey, SecretAccessKey: e.Secret}, nil
		}),
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sse-bucket")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.KMSAdmin.CreateKey(ctx, wire.CreateKeyRequest{ID: "app-key"}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*s3.PutObjectInput{
		{Key: aws.String("s3"), ServerSideEncryption: types.ServerSideEncryptionAes256},
		{Key: aws.String("kms"), ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("app-key")},
	} {
		before := e.KMS.Calls()
		in.Bucket, in.Body = aws.String("sse-bucket"), strings.NewReader("secret")
		out, err := c.PutObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.ServerSideEncryption != in.ServerSideEncryption {
			t.Fatalf("%s: sse %q", *in.Key, out.ServerSideEncryption)
		}
		put := e.KMS.Calls().Sub(before)
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: in.Bucket, Key: in.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil || string(body) != "secret" {
			t.Fatalf("%s: %q %v", *in.Key, body, err)
		}
		get := e.KMS.Calls().Sub(before).Sub(put)
		if put.GenerateDataKey != 1 || put.Decrypt != 0 || get != (KMSCalls{Decrypt: 1}) || get.Total() != 1 {
			t.Fatalf("%s: KMS calls: put %+v get %+v", *in.Key, put, get)
		}
	}
}
