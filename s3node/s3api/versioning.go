package s3api

import (
	"encoding/xml"
	"net/url"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// validVersionID reports whether id can name a version: "null" or the
// 32 lower-case hex digits of s3node.NewVersionID.
func validVersionID(id string) bool {
	if id == s3node.NullVersionID {
		return true
	}
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// versionParam returns the versionId query parameter ("" when absent).
// An empty or malformed one is InvalidArgument, as AWS.
func versionParam(q url.Values) (string, error) {
	v, ok := q["versionId"]
	if !ok {
		return "", nil
	}
	switch {
	case v[0] == "":
		return "", s3err.Argument("Version id cannot be the empty string", "versionId", "")
	case !validVersionID(v[0]):
		return "", s3err.Argument("Invalid version id specified", "versionId", v[0])
	}
	return v[0], nil
}

// versionHeader is the x-amz-version-id value a response carries for
// version id in bucket b: none in a bucket never versioned, where every
// version is the null one.
func versionHeader(b s3node.Bucket, id string) string {
	if id == "" || (id == s3node.NullVersionID && b.Versioning == s3node.Unversioned) {
		return ""
	}
	return id
}

type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	NS        string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

// getBucketVersioning serves GetBucketVersioning: an empty document for a
// bucket that was never versioned, as AWS.
func (s *Server) getBucketVersioning(rq *request) (*response, error) {
	return &response{doc: versioningConfiguration{NS: xmlNS, Status: string(rq.bucket.Versioning)}}, nil
}

// putBucketVersioning serves PutBucketVersioning. MFA delete is not
// supported.
func (s *Server) putBucketVersioning(rq *request) (*response, error) {
	var c versioningConfiguration
	ok, err := rq.readXML(&c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s3err.New(s3err.MalformedXML)
	}
	switch c.MfaDelete {
	case "", "Disabled":
	case "Enabled":
		return nil, s3err.Msg(s3err.NotImplemented, "MFA delete is not supported.")
	default:
		return nil, s3err.New(s3err.MalformedXML)
	}
	state := s3node.VersioningState(c.Status)
	switch state {
	case s3node.Enabled, s3node.Suspended:
	case "":
		// AWS accepts a configuration without Status and changes nothing.
		return &response{}, nil
	default:
		return nil, s3err.New(s3err.IllegalVersioningConfiguration)
	}
	if err := s.meta.SetVersioning(rq.r.Context(), rq.bucketName, state); err != nil {
		return nil, err
	}
	return &response{}, nil
}

type listVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	NS                  string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Entries             []any          // versionEntry and deleteMarkerEntry, in listing order
	CommonPrefixes      []commonPrefix `xml:"CommonPrefixes"`
}

type versionEntry struct {
	XMLName           xml.Name `xml:"Version"`
	Key               string   `xml:"Key"`
	VersionID         string   `xml:"VersionId"`
	IsLatest          bool     `xml:"IsLatest"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	ChecksumAlgorithm string   `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              int64    `xml:"Size"`
	Owner             owner    `xml:"Owner"`
	StorageClass      string   `xml:"StorageClass"`
}

type deleteMarkerEntry struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string   `xml:"Key"`
	VersionID    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified string   `xml:"LastModified"`
	Owner        owner    `xml:"Owner"`
}

// listObjectVersions serves ListObjectVersions (GET ?versions).
func (s *Server) listObjectVersions(rq *request) (*response, error) {
	q := rq.r.URL.Query()
	p, err := parseListParams(q)
	if err != nil {
		return nil, err
	}
	keyMarker, vidMarker := q.Get("key-marker"), q.Get("version-id-marker")
	if !s3node.ValidKey(keyMarker) {
		return nil, s3err.Argument("Invalid key-marker", "key-marker", keyMarker)
	}
	if vidMarker != "" {
		if keyMarker == "" {
			return nil, s3err.Argument("A version-id marker cannot be specified without a key marker.", "version-id-marker", vidMarker)
		}
		if !validVersionID(vidMarker) {
			return nil, s3err.Argument("Invalid version id specified", "version-id-marker", vidMarker)
		}
	}
	res, err := s.meta.ListVersions(rq.r.Context(), rq.bucketName, s3node.ListVersionsOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, VersionIDMarker: vidMarker, MaxKeys: p.maxKeys,
	})
	if err != nil {
		return nil, err
	}
	out := listVersionsResult{
		NS: xmlNS, Name: rq.bucketName, Prefix: p.encode(p.prefix), KeyMarker: p.encode(keyMarker),
		VersionIDMarker: vidMarker, MaxKeys: p.maxKeys, Delimiter: p.encode(p.delimiter),
		EncodingType: q.Get("encoding-type"), IsTruncated: res.IsTruncated,
	}
	if res.IsTruncated {
		out.NextKeyMarker = p.encode(res.NextKeyMarker)
		out.NextVersionIDMarker = res.NextVersionIDMarker
	}
	ownerOf := func(id string) owner {
		if id == "" { // delete markers are stored without an owner
			id = rq.bucket.Owner
		}
		o := owner{ID: id}
		if id == rq.user.CanonicalID {
			o.DisplayName = rq.user.DisplayName
		}
		return o
	}
	for _, v := range res.Versions {
		vid := v.VersionID
		if vid == "" {
			vid = s3node.NullVersionID
		}
		if v.DeleteMarker {
			out.Entries = append(out.Entries, deleteMarkerEntry{Key: p.encode(v.Key), VersionID: vid, IsLatest: v.IsLatest,
				LastModified: isoTime(v.LastModified), Owner: ownerOf(v.Owner)})
			continue
		}
		e := versionEntry{Key: p.encode(v.Key), VersionID: vid, IsLatest: v.IsLatest, LastModified: isoTime(v.LastModified),
			ETag: v.ETag, ChecksumType: v.ChecksumType, Size: v.Size, Owner: ownerOf(v.Owner), StorageClass: v.StorageClass}
		if e.StorageClass == "" {
			e.StorageClass = "STANDARD"
		}
		for alg := range v.Checksums {
			e.ChecksumAlgorithm = alg
		}
		out.Entries = append(out.Entries, e)
	}
	for _, cp := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	return &response{doc: out}, nil
}
