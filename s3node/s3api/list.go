package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// maxListKeys is S3's cap (and default) on keys per listing page.
const maxListKeys = 1000

type listEntry struct {
	Key               string `xml:"Key"`
	LastModified      string `xml:"LastModified"`
	ETag              string `xml:"ETag"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
	Size              int64  `xml:"Size"`
	Owner             *owner `xml:"Owner,omitempty"`
	StorageClass      string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listBucketResult is the document of both ListObjects versions; fields
// of the other version are left empty.
type listBucketResult struct {
	XMLName    xml.Name `xml:"ListBucketResult"`
	NS         string   `xml:"xmlns,attr"`
	Name       string   `xml:"Name"`
	Prefix     string   `xml:"Prefix"`
	Marker     *string  `xml:"Marker"`               // v1
	NextMarker string   `xml:"NextMarker,omitempty"` // v1
	// v2
	ContinuationToken     string `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string `xml:"NextContinuationToken,omitempty"`
	StartAfter            string `xml:"StartAfter,omitempty"`
	KeyCount              *int   `xml:"KeyCount"`

	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []listEntry    `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

// listParams are the parameters common to both versions.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            func(string) string
}

func parseListParams(q url.Values) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListKeys, encode: func(s string) string { return s }}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return p, s3err.Argument("Provided max-keys not an integer or within integer range", "max-keys", v[0])
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		p.encode = urlEncodeName
	default:
		return p, s3err.Argument("Invalid Encoding Method specified in Request", "encoding-type", et)
	}
	if !s3node.ValidKey(p.prefix) || !s3node.ValidKey(p.delimiter) {
		return p, s3err.Msg(s3err.InvalidArgument, "Prefix and delimiter must be valid UTF-8 of at most 1024 bytes.")
	}
	return p, nil
}

// urlEncodeName encodes a key as S3 does for encoding-type=url: query
// escaping ('+' for space), '/' kept.
func urlEncodeName(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// list runs one listing and fills the entries of out.
func (s *Server) list(rq *request, p listParams, after string, withOwner bool, out *listBucketResult) (s3node.ListObjectsResult, error) {
	res, err := s.meta.ListObjects(rq.r.Context(), rq.bucketName, s3node.ListObjectsOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, After: after, MaxKeys: p.maxKeys,
	})
	if err != nil {
		return res, err
	}
	out.NS, out.Name, out.MaxKeys, out.IsTruncated = xmlNS, rq.bucketName, p.maxKeys, res.IsTruncated
	out.Prefix, out.Delimiter = p.encode(p.prefix), p.encode(p.delimiter)
	if q := rq.r.URL.Query(); q.Get("encoding-type") != "" {
		out.EncodingType = q.Get("encoding-type")
	}
	for _, o := range res.Objects {
		e := listEntry{Key: p.encode(o.Key), LastModified: isoTime(o.LastModified), ETag: o.ETag, Size: o.Size,
			StorageClass: o.StorageClass, ChecksumType: o.ChecksumType}
		if e.StorageClass == "" {
			e.StorageClass = "STANDARD"
		}
		for alg := range o.Checksums {
			e.ChecksumAlgorithm = alg
		}
		if withOwner {
			e.Owner = &owner{ID: o.Owner}
			if o.Owner == rq.user.CanonicalID {
				e.Owner.DisplayName = rq.user.DisplayName
			}
		}
		out.Contents = append(out.Contents, e)
	}
	for _, cp := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	return res, nil
}

// listObjectsV2 serves ListObjectsV2. The continuation token is the
// base64url of the last entry returned: opaque to clients.
func (s *Server) listObjectsV2(rq *request) (*response, error) {
	q := rq.r.URL.Query()
	p, err := parseListParams(q)
	if err != nil {
		return nil, err
	}
	after := q.Get("start-after")
	tok, hasTok := q["continuation-token"]
	if hasTok {
		b, err := base64.RawURLEncoding.DecodeString(tok[0])
		if err != nil || tok[0] == "" || !s3node.ValidKey(string(b)) {
			return nil, s3err.Argument("The continuation token provided is incorrect", "continuation-token", tok[0])
		}
		after = string(b)
	}
	if !s3node.ValidKey(after) {
		return nil, s3err.Argument("Invalid start-after", "start-after", after)
	}
	out := listBucketResult{}
	res, err := s.list(rq, p, after, q.Get("fetch-owner") == "true", &out)
	if err != nil {
		return nil, err
	}
	if hasTok {
		out.ContinuationToken = tok[0]
	}
	out.StartAfter = p.encode(q.Get("start-after"))
	n := len(out.Contents) + len(out.CommonPrefixes)
	out.KeyCount = &n
	if res.IsTruncated {
		out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.NextMarker))
	}
	return &response{doc: out}, nil
}

// listObjectsV1 serves ListObjects (version 1). NextMarker is only
// returned with a delimiter, as AWS (clients use the last key otherwise).
func (s *Server) listObjectsV1(rq *request) (*response, error) {
	q := rq.r.URL.Query()
	if lt, ok := q["list-type"]; ok {
		return nil, s3err.Argument("Invalid List Type specified in Request", "list-type", lt[0])
	}
	p, err := parseListParams(q)
	if err != nil {
		return nil, err
	}
	marker := q.Get("marker")
	if !s3node.ValidKey(marker) {
		return nil, s3err.Argument("Invalid marker", "marker", marker)
	}
	out := listBucketResult{}
	res, err := s.list(rq, p, marker, true, &out)
	if err != nil {
		return nil, err
	}
	m := p.encode(marker)
	out.Marker = &m
	if res.IsTruncated && p.delimiter != "" {
		out.NextMarker = p.encode(res.NextMarker)
	}
	return &response{doc: out}, nil
}
