package s3api

import (
	"log/slog"

	"encoding/xml"
	"net"
	"strings"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// validBucketName applies AWS's general-purpose bucket naming rules.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return false
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	if net.ParseIP(name) != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, sfx := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, sfx) {
			return false
		}
	}
	return true
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// createBucket serves CreateBucket.
func (s *Server) createBucket(rq *request) (*response, error) {
	if !validBucketName(rq.bucketName) {
		return nil, s3err.New(s3err.InvalidBucketName).With("BucketName", rq.bucketName)
	}
	h := rq.r.Header
	if v := h.Get("x-amz-bucket-object-lock-enabled"); strings.EqualFold(v, "true") {
		return nil, s3err.Msg(s3err.NotImplemented, "Object Lock is not supported.")
	}
	if acl := h.Get("x-amz-acl"); acl != "" && acl != "private" {
		return nil, s3err.Msg(s3err.NotImplemented, "ACLs other than private are not supported.")
	}
	var cfg createBucketConfiguration
	if _, err := rq.readXML(&cfg); err != nil {
		return nil, err
	}
	region := ""
	switch lc := strings.TrimSpace(cfg.LocationConstraint); {
	case lc == "" || lc == s.region && s.region == DefaultRegion:
	case lc == s.region:
		region = lc
	default:
		return nil, s3err.Argument("The specified location-constraint is not valid", "LocationConstraint", lc)
	}
	b := s3node.Bucket{
		ID:        s3node.NewID(),
		Name:      rq.bucketName,
		Owner:     rq.user.CanonicalID,
		CreatedAt: s.now().UTC(),
		Region:    region,
	}
	if err := s.meta.CreateBucket(rq.r.Context(), b); err != nil {
		if s3node.ErrorCode(err) != s3node.EConflict {
			return nil, err
		}
		if old, gerr := s.meta.GetBucket(rq.r.Context(), rq.bucketName); gerr == nil && old.Owner == rq.user.CanonicalID {
			return nil, s3err.New(s3err.BucketAlreadyOwnedByYou).With("BucketName", rq.bucketName)
		}
		return nil, s3err.New(s3err.BucketAlreadyExists).With("BucketName", rq.bucketName)
	}
	s.createBucketKey(rq, b)
	resp := &response{}
	resp.setHeader("Location", "/"+rq.bucketName)
	return resp, nil
}

// createBucketKey creates the bucket's SSE-S3 root key in the KMS. A
// failure does not fail CreateBucket (buckets of plain objects work
// without a KMS): it is logged, and the key is made on first use.
func (s *Server) createBucketKey(rq *request, b s3node.Bucket) {
	if s.kms == nil {
		return
	}
	ctx := rq.r.Context()
	if err := s.kms.CreateBucketKey(ctx, kms.BucketKeyID(b.ID)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "s3: bucket root key not created; it will be on first use",
			slog.String("request_id", rq.requestID), slog.String("bucket", b.Name), slog.String("error", err.Error()))
	}
}
