package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/test/kmip/kmipvectors"
)

// kmipCall sends one KMIP 1.4 batch item and returns its Response
// Payload; it fails the test unless the item succeeds.
func kmipCall(t *testing.T, c *kmipvectors.Conn, op kmip14.Operation, payload func(e *ttlv.Encoder)) ttlv.TTLV {
	t.Helper()
	var buf bytes.Buffer
	e := ttlv.NewEncoder(&buf)
	err := e.EncodeStructure(kmip14.TagRequestMessage, func(e *ttlv.Encoder) error {
		_ = e.EncodeStructure(kmip14.TagRequestHeader, func(e *ttlv.Encoder) error {
			_ = e.EncodeStructure(kmip14.TagProtocolVersion, func(e *ttlv.Encoder) error {
				e.EncodeInteger(kmip14.TagProtocolVersionMajor, 1)
				e.EncodeInteger(kmip14.TagProtocolVersionMinor, 4)
				return nil
			})
			e.EncodeInteger(kmip14.TagBatchCount, 1)
			return nil
		})
		return e.EncodeStructure(kmip14.TagBatchItem, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagOperation, uint32(op))
			return e.EncodeStructure(kmip14.TagRequestPayload, func(e *ttlv.Encoder) error {
				payload(e)
				return nil
			})
		})
	})
	if err == nil {
		err = e.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(buf.Bytes())
	if err != nil {
		t.Fatalf("KMIP %s: %v", op, err)
	}
	var m struct {
		BatchItem struct {
			ResultStatus    kmip14.ResultStatus
			ResultMessage   string
			ResponsePayload ttlv.TTLV
		}
	}
	if err := ttlv.Unmarshal(resp, &m); err != nil {
		t.Fatalf("KMIP %s response: %v", op, err)
	}
	if m.BatchItem.ResultStatus != kmip14.ResultStatusSuccess {
		t.Fatalf("KMIP %s failed: %s", op, m.BatchItem.ResultMessage)
	}
	return m.BatchItem.ResponsePayload
}

// kmipCreate creates a symmetric key over KMIP and returns its Unique
// Identifier.
func kmipCreate(t *testing.T, c *kmipvectors.Conn, alg kmip14.CryptographicAlgorithm, length int32) string {
	t.Helper()
	attr := func(e *ttlv.Encoder, name string, value func(e *ttlv.Encoder)) {
		_ = e.EncodeStructure(kmip14.TagAttribute, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagAttributeName, name)
			value(e)
			return nil
		})
	}
	p := kmipCall(t, c, kmip14.OperationCreate, func(e *ttlv.Encoder) {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
		_ = e.EncodeStructure(kmip14.TagTemplateAttribute, func(e *ttlv.Encoder) error {
			attr(e, "Cryptographic Algorithm", func(e *ttlv.Encoder) { e.EncodeEnumeration(kmip14.TagAttributeValue, uint32(alg)) })
			attr(e, "Cryptographic Length", func(e *ttlv.Encoder) { e.EncodeInteger(kmip14.TagAttributeValue, length) })
			return nil
		})
	})
	var r struct{ UniqueIdentifier string }
	if err := ttlv.Unmarshal(p, &r); err != nil || r.UniqueIdentifier == "" {
		t.Fatalf("Create response %s: %v", p, err)
	}
	return r.UniqueIdentifier
}

func kmipID(id string) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) { e.EncodeTextString(kmip14.TagUniqueIdentifier, id) }
}

// devS3 is an S3 client for a dev's S3 node, from its dev.env.
func devS3(t *testing.T, env map[string]string) *s3.Client {
	t.Helper()
	pem, err := os.ReadFile(env["AWS_CA_BUNDLE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	creds := aws.Credentials{AccessKeyID: env["AWS_ACCESS_KEY_ID"], SecretAccessKey: env["AWS_SECRET_ACCESS_KEY"]}
	return s3.New(s3.Options{
		Region:       env["AWS_DEFAULT_REGION"],
		BaseEndpoint: aws.String(env["S3KMS_S3_ENDPOINT"]),
		UsePathStyle: true,
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}},
		RetryMaxAttempts: 1,
	})
}

// TestKMIPKeyAsSSEKMSKey names a key a KMIP client created as the SSE-KMS
// key id of S3 PUTs (issue 6): once Activated it encrypts objects that
// read back; once Revoked new PUTs fail and existing objects still read;
// a 3DES key is refused.
func TestKMIPKeyAsSSEKMSKey(t *testing.T) {
	ctx := context.Background()
	env := startDev(t, t.TempDir())
	addr := kmipEnvAddr(t, env)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kc, err := kmipvectors.Dial(dctx, addr, kmipTLS(t, addr, env))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	c := devS3(t, env)

	id := kmipCreate(t, kc, kmip14.CryptographicAlgorithmAES, 256)
	des := kmipCreate(t, kc, kmip14.CryptographicAlgorithmDES3, 168)
	kmipCall(t, kc, kmip14.OperationActivate, kmipID(id))
	kmipCall(t, kc, kmip14.OperationActivate, kmipID(des))

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("kmip-sse")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, keyID string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("kmip-sse"), Key: aws.String(key), Body: bytes.NewReader([]byte("data of " + key)),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(keyID),
		})
		return err
	}
	get := func(key string) {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kmip-sse"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		if string(b) != "data of "+key || aws.ToString(out.SSEKMSKeyId) != id {
			t.Fatalf("GET %s: %q under %q", key, b, aws.ToString(out.SSEKMSKeyId))
		}
	}
	if err := put("a", id); err != nil {
		t.Fatalf("PUT under the KMIP key: %v", err)
	}
	get("a")
	if err := put("b", des); err == nil {
		t.Error("PUT under a 3DES KMIP key succeeded")
	}

	kmipCall(t, kc, kmip14.OperationRevoke, func(e *ttlv.Encoder) {
		kmipID(id)(e)
		_ = e.EncodeStructure(kmip14.TagRevocationReason, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagRevocationReasonCode, uint32(kmip14.RevocationReasonCodeCessationOfOperation))
			return nil
		})
	})
	err = put("c", id)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "KMS.KMSInvalidStateException" {
		t.Errorf("PUT under the revoked key: %v, want KMS.KMSInvalidStateException", err)
	}
	get("a") // a Deactivated key still decrypts
}

// kmipEnvAddr is the host:port of the dev's KMIP listener.
func kmipEnvAddr(t *testing.T, env map[string]string) string {
	t.Helper()
	addr := env["S3KMS_KMIP_ADDR"]
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		addr = rest
	}
	if addr == "" {
		t.Fatal("dev.env has no S3KMS_KMIP_ADDR")
	}
	return addr
}
