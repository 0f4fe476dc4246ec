package s3api

import (
	"encoding/xml"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// AWS's tag limits.
const (
	maxObjectTags  = 10
	maxBucketTags  = 50
	maxTagKeyLen   = 128 // characters
	maxTagValueLen = 256 // characters
)

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type tagSet struct {
	Tags []tag `xml:"Tag"`
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	TagSet  *tagSet  `xml:"TagSet"`
}

// checkTag validates one tag as AWS does.
func checkTag(k, v string) error {
	switch {
	case k == "" || !utf8.ValidString(k):
		return s3err.Msg(s3err.InvalidTag, "The TagKey you have provided is invalid")
	case utf8.RuneCountInString(k) > maxTagKeyLen:
		return s3err.Msg(s3err.InvalidTag, "The TagKey you have provided is too long, max 128")
	case !utf8.ValidString(v):
		return s3err.Msg(s3err.InvalidTag, "The TagValue you have provided is invalid")
	case utf8.RuneCountInString(v) > maxTagValueLen:
		return s3err.Msg(s3err.InvalidTag, "The TagValue you have provided is too long, max 256")
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return s3err.Msg(s3err.InvalidTag, "Your TagKey cannot be prefixed with aws:")
	}
	return nil
}

// tagMap validates a tag set of at most max tags and returns it as a map,
// nil when empty.
func tagMap(tags []tag, max int, tooMany string) (map[string]string, error) {
	if len(tags) > max {
		return nil, s3err.Msg(s3err.InvalidTag, tooMany)
	}
	if len(tags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		if err := checkTag(t.Key, t.Value); err != nil {
			return nil, err
		}
		if _, dup := m[t.Key]; dup {
			return nil, s3err.Msg(s3err.InvalidTag, "Cannot provide multiple Tags with the same key")
		}
		m[t.Key] = t.Value
	}
	return m, nil
}

// readTagging reads a Tagging document of at most max tags.
func (rq *request) readTagging(max int, tooMany string) (map[string]string, error) {
	var doc tagging
	ok, err := rq.readXML(&doc)
	if err != nil {
		return nil, err
	}
	if !ok || doc.TagSet == nil {
		return nil, s3err.New(s3err.MalformedXML)
	}
	return tagMap(doc.TagSet.Tags, max, tooMany)
}

// taggingDoc renders tags sorted by key.
func taggingDoc(m map[string]string) tagging {
	doc := tagging{NS: xmlNS, TagSet: &tagSet{Tags: []tag{}}}
	for k, v := range m {
		doc.TagSet.Tags = append(doc.TagSet.Tags, tag{Key: k, Value: v})
	}
	sort.Slice(doc.TagSet.Tags, func(i, j int) bool { return doc.TagSet.Tags[i].Key < doc.TagSet.Tags[j].Key })
	return doc
}

const tooManyObjectTags = "Object tags cannot be greater than 10"

// taggedVersion returns the version a tagging request addresses: the one
// named by versionId, else the current one. A delete marker is an error,
// as for GetObject.
func (s *Server) taggedVersion(rq *request) (s3node.ObjectVersion, error) {
	vid, err := versionParam(rq.r.URL.Query())
	if err != nil {
		return s3node.ObjectVersion{}, err
	}
	v, err := s.meta.GetObject(rq.r.Context(), rq.bucketName, rq.key, vid)
	if err != nil {
		return v, err
	}
	if v.DeleteMarker {
		return v, deleteMarkerError(rq.bucket, v, vid != "")
	}
	return v, nil
}

// taggingResponse is a response with the version id header.
func taggingResponse(rq *request, status int, versionID string, doc any) *response {
	resp := &response{status: status, doc: doc}
	if id := versionHeader(rq.bucket, versionID); id != "" {
		resp.setHeader("x-amz-version-id", id)
	}
	return resp
}

// getObjectTagging serves GetObjectTagging.
func (s *Server) getObjectTagging(rq *request) (*response, error) {
	v, err := s.taggedVersion(rq)
	if err != nil {
		return nil, err
	}
	return taggingResponse(rq, 0, v.VersionID, taggingDoc(v.Tags)), nil
}

// putObjectTagging serves PutObjectTagging: the tag set replaces the
// version's tags.
func (s *Server) putObjectTagging(rq *request) (*response, error) {
	tags, err := rq.readTagging(maxObjectTags, tooManyObjectTags)
	if err != nil {
		return nil, err
	}
	return s.setObjectTags(rq, tags, http.StatusOK)
}

// deleteObjectTagging serves DeleteObjectTagging.
func (s *Server) deleteObjectTagging(rq *request) (*response, error) {
	return s.setObjectTags(rq, nil, http.StatusNoContent)
}

func (s *Server) setObjectTags(rq *request, tags map[string]string, status int) (*response, error) {
	v, err := s.taggedVersion(rq)
	if err != nil {
		return nil, err
	}
	v, err = s.meta.UpdateObject(rq.r.Context(), rq.bucketName, rq.key, v.VersionID, s3node.ObjectUpdate{SetTags: true, Tags: tags})
	if err != nil {
		return nil, err
	}
	return taggingResponse(rq, status, v.VersionID, nil), nil
}

// getBucketTagging serves GetBucketTagging: NoSuchTagSet without tags.
func (s *Server) getBucketTagging(rq *request) (*response, error) {
	if len(rq.bucket.Tags) == 0 {
		return nil, s3err.New(s3err.NoSuchTagSet).With("BucketName", rq.bucketName)
	}
	return &response{doc: taggingDoc(rq.bucket.Tags)}, nil
}

// putBucketTagging serves PutBucketTagging (204, as AWS).
func (s *Server) putBucketTagging(rq *request) (*response, error) {
	tags, err := rq.readTagging(maxBucketTags, "Bucket tag count cannot be greater than 50")
	if err != nil {
		return nil, err
	}
	if err := s.meta.SetBucketTags(rq.r.Context(), rq.bucketName, tags); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}

// deleteBucketTagging serves DeleteBucketTagging.
func (s *Server) deleteBucketTagging(rq *request) (*response, error) {
	if err := s.meta.SetBucketTags(rq.r.Context(), rq.bucketName, nil); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}
