package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// timeISO is S3's timestamp format in XML documents.
const timeISO = "2006-01-02T15:04:05.000Z"

func isoTime(t time.Time) string { return t.UTC().Format(timeISO) }

// bucketRegion is the region a bucket reports.
func (s *Server) bucketRegion(b s3node.Bucket) string {
	if b.Region != "" {
		return b.Region
	}
	return s.region
}

// headBucket serves HeadBucket: the router has loaded the bucket and
// checked its owner.
func (s *Server) headBucket(rq *request) (*response, error) {
	resp := &response{}
	resp.setHeader("x-amz-bucket-region", s.bucketRegion(rq.bucket))
	return resp, nil
}

// deleteBucket serves DeleteBucket. The bucket's root key is then
// scheduled for deletion: after the waiting period nothing it sealed can
// be opened (crypto-shredding). A KMS failure is logged, not answered:
// the bucket is gone either way, and the key can still be scheduled by an
// operator (`s3kms admin key delete`).
func (s *Server) deleteBucket(rq *request) (*response, error) {
	ctx := rq.r.Context()
	if err := s.meta.DeleteBucket(ctx, rq.bucketName); err != nil {
		return nil, err
	}
	if s.kms != nil {
		id := kms.BucketKeyID(rq.bucket.ID)
		if err := s.kms.ScheduleKeyDeletion(ctx, id, s.keyDeletionDays); err != nil && kms.ErrorCode(err) != kms.ENotFound {
			s.log.LogAttrs(ctx, slog.LevelWarn, "s3: root key of deleted bucket not scheduled for deletion",
				slog.String("request_id", rq.requestID), slog.String("bucket", rq.bucketName),
				slog.String("key_id", id), slog.String("error", err.Error()))
		}
	}
	return &response{status: http.StatusNoContent}, nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

// getBucketLocation serves GetBucketLocation: empty for us-east-1, as AWS.
func (s *Server) getBucketLocation(rq *request) (*response, error) {
	region := s.bucketRegion(rq.bucket)
	if region == DefaultRegion {
		region = ""
	}
	return &response{doc: locationConstraint{NS: xmlNS, Region: region}}, nil
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name      `xml:"ListAllMyBucketsResult"`
	NS                string        `xml:"xmlns,attr"`
	Owner             owner         `xml:"Owner"`
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	ContinuationToken string        `xml:"ContinuationToken,omitempty"`
	Prefix            string        `xml:"Prefix,omitempty"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// listBuckets serves ListBuckets: the caller's buckets by name, filtered
// by prefix and paged by max-buckets and continuation-token.
func (s *Server) listBuckets(rq *request) (*response, error) {
	q := rq.r.URL.Query()
	max := 10000
	if v := q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return nil, s3err.Argument("Argument max-buckets must be an integer between 1 and 10000.", "max-buckets", v)
		}
		max = n
	}
	after := ""
	if tok := q.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, s3err.Argument("The continuation token provided is incorrect", "continuation-token", tok)
		}
		after = string(b)
	}
	prefix := q.Get("prefix")
	buckets, err := s.meta.ListBuckets(rq.r.Context(), rq.user.CanonicalID)
	if err != nil {
		return nil, err
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].Name < buckets[j].Name })
	out := listAllMyBucketsResult{NS: xmlNS, Owner: owner{ID: rq.user.CanonicalID, DisplayName: rq.user.DisplayName},
		Prefix: prefix, Buckets: []bucketEntry{}}
	for _, b := range buckets {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) {
			continue
		}
		if len(out.Buckets) == max {
			out.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Buckets[max-1].Name))
			break
		}
		out.Buckets = append(out.Buckets, bucketEntry{Name: b.Name, CreationDate: isoTime(b.CreatedAt), BucketRegion: s.bucketRegion(b)})
	}
	return &response{doc: out}, nil
}
