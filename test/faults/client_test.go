package faults

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// endpoint is an S3 API and a user of it.
type endpoint struct {
	URL, Region, CAFile string
	AccessKey, Secret   string
}

// client returns an aws-sdk-go-v2 client trusting e.CAFile. It never
// retries: the tests must know whether the one attempt was acknowledged.
func (e endpoint) client(t testing.TB) *s3.Client {
	t.Helper()
	pemData, err := os.ReadFile(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("no certificate in %s", e.CAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 32
	return s3.New(s3.Options{
		Region: e.Region, BaseEndpoint: aws.String(e.URL), UsePathStyle: true,
		HTTPClient: &http.Client{Transport: tr},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: e.AccessKey, SecretAccessKey: e.Secret}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// outcome is what became of one request.
type outcome struct {
	Status     int    // HTTP status of an error response; 0 if none came
	Code       string // S3 error code of an error response
	Message    string
	RetryAfter string // Retry-After header of an error response
}

// classify returns the outcome of err: nil for success, an HTTP error
// response (Status > 0), or a transport failure (Status 0).
func classify(err error) *outcome {
	if err == nil {
		return nil
	}
	o := &outcome{Code: "transport", Message: err.Error()}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		o.Status = re.HTTPStatusCode()
		o.RetryAfter = re.Response.Header.Get("Retry-After")
		o.Code = "(none)"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && o.Status > 0 {
		o.Code, o.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	return o
}

// key returns "status code" for counting.
func (o *outcome) key() string {
	if o.Status == 0 {
		return "transport"
	}
	return fmt.Sprintf("%d %s", o.Status, o.Code)
}

// body returns the n bytes of the body written under key (deterministic,
// so that only its hash needs keeping).
func body(key string, n int64) []byte {
	h := sha256.Sum256([]byte(key))
	r := rand.NewChaCha8(h)
	b := make([]byte, n)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint64())
	}
	return b
}

// customerKey is an SSE-C key with the header values it needs.
type customerKey struct {
	Key, MD5 string // base64
}

func newCustomerKey(key string) *customerKey {
	k := sha256.Sum256([]byte("sse-c key of " + key))
	m := md5.Sum(k[:])
	return &customerKey{Key: base64.StdEncoding.EncodeToString(k[:]), MD5: base64.StdEncoding.EncodeToString(m[:])}
}

// opContext bounds one request: requests must fail within a bounded time
// whatever is down.
func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestBound)
}

// requestBound is the longest a request may take, failed or not.
const requestBound = 20 * time.Second
