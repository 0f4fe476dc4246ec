package rotation

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Endpoint is an S3 API and a user of it.
type s3Endpoint struct {
	URL, Region, CAFile string
	AccessKey, Secret   string
}

// client returns an aws-sdk-go-v2 client trusting e.CAFile.
func (e s3Endpoint) client() (*s3.Client, error) {
	pemData, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("no certificate in %s", e.CAFile)
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
		// Requests are idempotent here or harmless to repeat (a repeated
		// PUT in a versioned bucket adds a version with the same body).
		RetryMaxAttempts: 3,
	}), nil
}

// Encryption of an object of the data set.
const (
	sseS3  = "sse-s3"
	sseKMS = "sse-kms"
	sseC   = "sse-c"
)

// object is one object version written by the tests, with the SHA-256 of
// its body.
type object struct {
	Key, VersionID string
	SSE            string
	Size           int64
	Sum            [sha256.Size]byte
	Deleted        bool // deleted by version id: must now be absent
}

// upload is a multipart upload left in progress: its first part is
// written when the data set is loaded, the rest when it is completed.
type upload struct {
	Key, UploadID string
	Part1         []byte
}

// dataset is the objects the tests wrote to one versioned bucket and
// read back.
type dataset struct {
	Bucket  string
	KMSKey  string // named KMS key of the SSE-KMS objects
	SSECKey []byte // customer key of the SSE-C objects
	Objects []object
	Uploads []upload
}

// plan is how many object versions of each kind a data set of n SSE-S3
// object versions has.
type plan struct {
	Single, Versioned, Versions, Multipart, Uploads, SSEC, SSEKMS int
}

// planFor splits n SSE-S3 object versions: about a tenth are the versions
// of keys with three versions each, one in 2000 (at least 2) are
// multipart objects of two parts, the rest are single-part objects; plus 2 uploads in progress, and 5
// SSE-C and 5 SSE-KMS objects.
func planFor(n int) plan {
	p := plan{Versioned: n / 10 / 3, Versions: 3, Multipart: max(2, n/2000), Uploads: 2, SSEC: 5, SSEKMS: 5}
	p.Single = max(n-p.Versioned*p.Versions-p.Multipart, 0)
	return p
}

// total is the number of object versions (not uploads) of the plan.
func (p plan) total() int {
	return p.Single + p.Versioned*p.Versions + p.Multipart + p.SSEC + p.SSEKMS
}

// minPart is S3's smallest part size but for the last one.
const minPart = 5 << 20

// newDataset returns an empty data set for bucket.
func newDataset(bucket, kmsKey string) *dataset {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &dataset{Bucket: bucket, KMSKey: kmsKey, SSECKey: k}
}

// body returns n random bytes.
func body(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// smallSize returns a body size between 0 and 4 KiB: rewrap touches
// metadata only, object data size does not matter to it.
func smallSize(i int) int { return (i * 617) % 4097 }

// ssec returns the SSE-C headers' values for key.
func ssec(key []byte) (alg, k, md *string) {
	sum := md5.Sum(key)
	return aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(key)), aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// load creates the versioned bucket and writes the objects of planFor(n)
// with conc workers.
func (d *dataset) load(ctx context.Context, c *s3.Client, n, conc int) error {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &d.Bucket}); err != nil {
		return fmt.Errorf("create bucket %s: %w", d.Bucket, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &d.Bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		return fmt.Errorf("enable versioning: %w", err)
	}
	p := planFor(n)
	type task func() ([]object, error)
	var tasks []task
	add := func(key, sse string, size int) {
		tasks = append(tasks, func() ([]object, error) {
			o, err := d.put(ctx, c, key, sse, body(size))
			return []object{o}, err
		})
	}
	for i := range p.Single {
		add(fmt.Sprintf("single/%05d", i), sseS3, smallSize(i))
	}
	for i := range p.Versioned {
		key := fmt.Sprintf("versioned/%05d", i)
		tasks = append(tasks, func() ([]object, error) {
			var vs []object
			for v := range p.Versions {
				o, err := d.put(ctx, c, key, sseS3, body(smallSize(i+v)))
				if err != nil {
					return nil, err
				}
				vs = append(vs, o)
			}
			return vs, nil
		})
	}
	for i := range p.Multipart {
		key := fmt.Sprintf("multipart/%03d", i)
		tasks = append(tasks, func() ([]object, error) {
			o, err := d.multipart(ctx, c, key, [][]byte{body(minPart), body(1000 + i)})
			return []object{o}, err
		})
	}
	for i := range p.SSEC {
		add(fmt.Sprintf("ssec/%d", i), sseC, smallSize(i)+1)
	}
	for i := range p.SSEKMS {
		add(fmt.Sprintf("ssekms/%d", i), sseKMS, smallSize(i)+1)
	}
	var mu sync.Mutex
	var firstErr error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					return
				}
				vs, err := tasks[i]()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				d.Objects = append(d.Objects, vs...)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for i := range p.Uploads {
		key := fmt.Sprintf("upload/%d", i)
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &d.Bucket, Key: &key,
			ServerSideEncryption: types.ServerSideEncryptionAes256})
		if err != nil {
			return fmt.Errorf("create upload %s: %w", key, err)
		}
		u := upload{Key: key, UploadID: aws.ToString(out.UploadId), Part1: body(minPart)}
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &d.Bucket, Key: &key, UploadId: out.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(u.Part1)}); err != nil {
			return fmt.Errorf("upload part 1 of %s: %w", key, err)
		}
		d.Uploads = append(d.Uploads, u)
	}
	return nil
}

// put writes one object version with encryption sse.
func (d *dataset) put(ctx context.Context, c *s3.Client, key, sse string, b []byte) (object, error) {
	in := &s3.PutObjectInput{Bucket: &d.Bucket, Key: &key, Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))}
	switch sse {
	case sseS3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case sseKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, &d.KMSKey
	case sseC:
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = ssec(d.SSECKey)
	}
	out, err := c.PutObject(ctx, in)
	if err != nil {
		return object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if out.VersionId == nil {
		return object{}, fmt.Errorf("put %s: no version id (is the bucket versioned?)", key)
	}
	return object{Key: key, VersionID: *out.VersionId, SSE: sse, Size: int64(len(b)), Sum: sha256.Sum256(b)}, nil
}

// multipart writes one SSE-S3 object of parts.
func (d *dataset) multipart(ctx context.Context, c *s3.Client, key string, parts [][]byte) (object, error) {
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &d.Bucket, Key: &key,
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		return object{}, fmt.Errorf("create upload %s: %w", key, err)
	}
	var done []types.CompletedPart
	h := sha256.New()
	var size int64
	for i, p := range parts {
		pn := aws.Int32(int32(i + 1))
		po, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &d.Bucket, Key: &key, UploadId: out.UploadId,
			PartNumber: pn, Body: bytes.NewReader(p)})
		if err != nil {
			return object{}, fmt.Errorf("upload part %d of %s: %w", i+1, key, err)
		}
		done = append(done, types.CompletedPart{ETag: po.ETag, PartNumber: pn})
		h.Write(p)
		size += int64(len(p))
	}
	co, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &d.Bucket, Key: &key,
		UploadId: out.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		return object{}, fmt.Errorf("complete %s: %w", key, err)
	}
	o := object{Key: key, VersionID: aws.ToString(co.VersionId), SSE: sseS3, Size: size}
	copy(o.Sum[:], h.Sum(nil))
	return o, nil
}

// completeUploads writes a last part to every upload in progress and
// completes it; the objects join the data set.
func (d *dataset) completeUploads(ctx context.Context, c *s3.Client) error {
	for _, u := range d.Uploads {
		last := body(777)
		p2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &d.Bucket, Key: &u.Key, UploadId: &u.UploadID,
			PartNumber: aws.Int32(2), Body: bytes.NewReader(last)})
		if err != nil {
			return fmt.Errorf("upload part 2 of %s: %w", u.Key, err)
		}
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &d.Bucket, Key: &u.Key, UploadId: &u.UploadID})
		if err != nil || len(parts.Parts) != 2 {
			return fmt.Errorf("list parts of %s: %v (%d parts)", u.Key, err, len(parts.Parts))
		}
		co, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &d.Bucket, Key: &u.Key,
			UploadId: &u.UploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{ETag: parts.Parts[0].ETag, PartNumber: aws.Int32(1)}, {ETag: p2.ETag, PartNumber: aws.Int32(2)}}}})
		if err != nil {
			return fmt.Errorf("complete %s: %w", u.Key, err)
		}
		d.Objects = append(d.Objects, object{Key: u.Key, VersionID: aws.ToString(co.VersionId), SSE: sseS3,
			Size: int64(len(u.Part1) + len(last)), Sum: sha256.Sum256(append(bytes.Clone(u.Part1), last...))})
	}
	d.Uploads = nil
	return nil
}

// get reads one version (the latest with versionID "") and returns the
// SHA-256 and length of its body.
func (d *dataset) get(ctx context.Context, c *s3.Client, key, versionID, sse string) ([sha256.Size]byte, int64, error) {
	in := &s3.GetObjectInput{Bucket: &d.Bucket, Key: &key}
	if versionID != "" {
		in.VersionId = &versionID
	}
	if sse == sseC {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = ssec(d.SSECKey)
	}
	var sum [sha256.Size]byte
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return sum, 0, err
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return sum, n, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// httpStatus returns the HTTP status of an SDK error, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// verify reads back every object version of the data set with conc
// workers: each must have the recorded length and hash, and each deleted
// one must be gone (404). It returns how many failed and the first
// failures.
func (d *dataset) verify(ctx context.Context, c *s3.Client, conc int) (failed int, first []string) {
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(d.Objects) {
					return
				}
				o := d.Objects[i]
				sum, n, err := d.get(ctx, c, o.Key, o.VersionID, o.SSE)
				var msg string
				switch {
				case o.Deleted && httpStatus(err) != http.StatusNotFound:
					msg = fmt.Sprintf("%s version %s was deleted but reads: %v", o.Key, o.VersionID, err)
				case o.Deleted:
				case err != nil:
					msg = fmt.Sprintf("%s version %s (%s): %v", o.Key, o.VersionID, o.SSE, err)
				case n != o.Size || sum != o.Sum:
					msg = fmt.Sprintf("%s version %s (%s): read %d bytes differing from the %d written", o.Key, o.VersionID, o.SSE, n, o.Size)
				}
				if msg != "" {
					mu.Lock()
					failed++
					if len(first) < 10 {
						first = append(first, msg)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return failed, first
}
