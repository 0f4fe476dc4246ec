package faults

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Encryption of an object.
type sseKind string

const (
	plain  sseKind = "plain"
	sseS3  sseKind = "sse-s3"
	sseKMS sseKind = "sse-kms"
	sseC   sseKind = "sse-c"
)

// needsKMS reports whether reading or writing an object of kind k asks
// the KMS.
func (k sseKind) needsKMS() bool { return k == sseS3 || k == sseKMS }

// state is one state a key may be in: absent, or an object.
type state struct {
	present bool
	sum     [sha256.Size]byte
	size    int64
	etag    string // "" when unknown (the write was not acknowledged)
	sse     sseKind
}

var absent = state{}

// keyRec is what the tests know about one key. Every key is written by
// one worker, once (PUT, copy or multipart upload), and deleted at most
// once, so it has at most a few possible states: states[0] after an
// acknowledged request, and one more for each unacknowledged request
// that may or may not have been applied.
type keyRec struct {
	key    string
	sse    sseKind
	ckey   *customerKey // SSE-C
	states []state

	// Multipart uploads.
	multipart     bool
	uploadID      string // "" until CreateMultipartUpload is acknowledged
	createSent    bool
	completeAcked bool
	aborted       bool
}

// acked reports the key's one possible state, if it has only one.
func (r *keyRec) acked() (state, bool) {
	if len(r.states) == 1 {
		return r.states[0], true
	}
	return state{}, false
}

// applied records an acknowledged request that leaves the key in s.
func (r *keyRec) applied(s state) { r.states = []state{s} }

// maybe records an unacknowledged request that would leave the key in s.
func (r *keyRec) maybe(s state) { r.states = append(r.states, s) }

// model holds every key of a bucket, from all workers.
type model struct {
	mu     sync.Mutex
	bucket string
	keys   map[string]*keyRec
}

func newModel(bucket string) *model {
	return &model{bucket: bucket, keys: map[string]*keyRec{}}
}

func (m *model) add(r *keyRec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[r.key] = r
}

func (m *model) sorted() []*keyRec {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*keyRec, 0, len(m.keys))
	for _, r := range m.keys {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *keyRec) int { return strings.Compare(a.key, b.key) })
	return out
}

// verifyStats counts what verify read.
type verifyStats struct {
	Keys, Present, Absent, Ambiguous int
	Bytes                            int64
}

// verify reads every key of m back and checks that it is in one of its
// possible states, with the right ETag and encryption headers; that the
// bucket lists exactly the present keys; and that the multipart uploads
// listed are those expected. It returns the problems found.
func (m *model) verify(ctx context.Context, c *s3.Client) (verifyStats, []string) {
	var st verifyStats
	var bad []string
	badf := func(format string, args ...any) {
		if len(bad) < 50 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	present := map[string]bool{}
	for _, r := range m.sorted() {
		st.Keys++
		if len(r.states) > 1 {
			st.Ambiguous++
		}
		got, err := readKey(ctx, c, m.bucket, r)
		if err != nil {
			badf("%s: %v", r.key, err)
			continue
		}
		if !got.present {
			st.Absent++
		} else {
			st.Present++
			st.Bytes += got.size
			present[r.key] = true
		}
		if !r.matches(got) {
			badf("%s: read %s, want one of %s", r.key, got, r.statesString())
		}
	}
	// The listing shows exactly the objects read.
	listed := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(m.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			badf("list: %v", err)
			break
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			listed[k] = true
			if !present[k] {
				badf("listed %s (%d bytes), which reads as absent or is unknown", k, aws.ToInt64(o.Size))
			}
		}
	}
	for k := range present {
		if !listed[k] {
			badf("%s reads back but is not listed", k)
		}
	}
	// Uploads: acknowledged ones not completed are listed; a listed one
	// is ours.
	uploads, err := listUploads(ctx, c, m.bucket)
	if err != nil {
		badf("list uploads: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range uploads {
		r := m.keys[aws.ToString(u.Key)]
		switch {
		case r == nil || !r.multipart:
			badf("upload %s of unknown key %s", aws.ToString(u.UploadId), aws.ToString(u.Key))
		case r.uploadID == "" && r.createSent:
			// CreateMultipartUpload was not acknowledged: either way.
		case r.uploadID != aws.ToString(u.UploadId):
			badf("upload %s of %s is unknown (ours: %q)", aws.ToString(u.UploadId), r.key, r.uploadID)
		case r.completeAcked || r.aborted:
			badf("upload %s of %s is listed after its completion or abort was acknowledged", r.uploadID, r.key)
		case present[r.key]:
			badf("upload %s of %s is listed, yet its object exists", r.uploadID, r.key)
		}
	}
	for _, r := range m.keys {
		if !r.multipart || r.uploadID == "" || r.completeAcked || r.aborted || present[r.key] {
			continue
		}
		if !slices.ContainsFunc(uploads, func(u types.MultipartUpload) bool { return aws.ToString(u.UploadId) == r.uploadID }) {
			badf("upload %s of %s (acknowledged, not completed) is not listed", r.uploadID, r.key)
		}
	}
	return st, bad
}

func (r *keyRec) matches(got state) bool {
	for _, s := range r.states {
		if s.present != got.present {
			continue
		}
		if !s.present {
			return true
		}
		if s.sum == got.sum && s.size == got.size && s.sse == got.sse && (s.etag == "" || s.etag == got.etag) {
			return true
		}
	}
	return false
}

func (s state) String() string {
	if !s.present {
		return "absent"
	}
	return fmt.Sprintf("{%d bytes %x… %s etag %s}", s.size, s.sum[:4], s.sse, s.etag)
}

func (r *keyRec) statesString() string {
	var parts []string
	for _, s := range r.states {
		parts = append(parts, s.String())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// readKey GETs key r.key and returns its state. A missing key is absent.
func readKey(ctx context.Context, c *s3.Client, bucket string, r *keyRec) (state, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(r.key)}
	if r.ckey != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(r.ckey.Key), aws.String(r.ckey.MD5)
	}
	out, err := c.GetObject(ctx, in)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
		return absent, nil
	}
	if err != nil {
		return state{}, err
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return state{}, fmt.Errorf("read body: %w", err)
	}
	s := state{present: true, size: n, etag: aws.ToString(out.ETag), sse: plain}
	copy(s.sum[:], h.Sum(nil))
	switch {
	case aws.ToString(out.SSECustomerAlgorithm) == "AES256":
		s.sse = sseC
	case out.ServerSideEncryption == types.ServerSideEncryptionAwsKms:
		s.sse = sseKMS
		if !strings.Contains(aws.ToString(out.SSEKMSKeyId), "faults-kms") {
			return s, fmt.Errorf("SSE-KMS object names key %q", aws.ToString(out.SSEKMSKeyId))
		}
	case out.ServerSideEncryption == types.ServerSideEncryptionAes256:
		s.sse = sseS3
	}
	return s, nil
}

// listUploads lists every multipart upload in progress in bucket.
func listUploads(ctx context.Context, c *s3.Client, bucket string) ([]types.MultipartUpload, error) {
	var out []types.MultipartUpload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	for {
		page, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			return out, err
		}
		out = append(out, page.Uploads...)
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}
