package s3api

import (
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// S3's caps (and defaults) on parts and uploads per listing page.
const (
	maxListParts   = 1000
	maxListUploads = 1000
)

type partEntry struct {
	PartNumber     int    `xml:"PartNumber"`
	LastModified   string `xml:"LastModified"`
	ETag           string `xml:"ETag"`
	Size           int64  `xml:"Size"`
	ChecksumCRC32  string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumSHA1   string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256 string `xml:"ChecksumSHA256,omitempty"`
	ChecksumCRC64  string `xml:"ChecksumCRC64NVME,omitempty"`
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"ListPartsResult"`
	NS                   string      `xml:"xmlns,attr"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string      `xml:"ChecksumType,omitempty"`
	Parts                []partEntry `xml:"Part"`
}

// intParam parses a non-negative integer query parameter.
func intParam(rq *request, name string, def int) (int, error) {
	v, ok := rq.r.URL.Query()[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, s3err.Argument("Provided "+name+" not an integer or within integer range", name, v[0])
	}
	return n, nil
}

// storageClassName is the listed storage class ("" is STANDARD).
func storageClassName(c string) string {
	if c == "" {
		return "STANDARD"
	}
	return c
}

// listParts serves ListParts.
func (s *Server) listParts(rq *request) (*response, error) {
	ctx := rq.r.Context()
	uploadID := rq.r.URL.Query().Get("uploadId")
	maxParts, err := intParam(rq, "max-parts", maxListParts)
	if err != nil {
		return nil, err
	}
	maxParts = min(maxParts, maxListParts)
	marker, err := intParam(rq, "part-number-marker", 0)
	if err != nil {
		return nil, err
	}
	u, err := s.meta.GetUpload(ctx, rq.bucketName, rq.key, uploadID)
	if err != nil {
		return nil, err
	}
	out := listPartsResult{NS: xmlNS, Bucket: rq.bucketName, Key: rq.key, UploadID: uploadID,
		Initiator: s.ownerOf(rq, u.Owner), Owner: s.ownerOf(rq, u.Owner), StorageClass: storageClassName(u.StorageClass),
		PartNumberMarker: marker, MaxParts: maxParts, ChecksumAlgorithm: u.ChecksumAlgorithm}
	out.ChecksumType = u.ChecksumType
	if maxParts > 0 {
		res, err := s.meta.ListParts(ctx, rq.bucketName, rq.key, uploadID, s3node.ListPartsOptions{PartNumberMarker: marker, MaxParts: maxParts})
		if err != nil {
			return nil, err
		}
		out.IsTruncated = res.IsTruncated
		for _, p := range res.Parts {
			out.Parts = append(out.Parts, partEntry{PartNumber: p.PartNumber, LastModified: isoTime(p.LastModified),
				ETag: p.ETag, Size: p.Size, ChecksumCRC32: p.Checksums["CRC32"], ChecksumCRC32C: p.Checksums["CRC32C"],
				ChecksumSHA1: p.Checksums["SHA1"], ChecksumSHA256: p.Checksums["SHA256"],
				ChecksumCRC64: p.Checksums["CRC64NVME"]})
			out.NextPartNumberMarker = p.PartNumber
		}
	}
	return &response{doc: out}, nil
}

// ownerOf is the owner element for a canonical id.
func (s *Server) ownerOf(rq *request, id string) owner {
	o := owner{ID: id}
	if id == rq.user.CanonicalID {
		o.DisplayName = rq.user.DisplayName
	}
	return o
}

type uploadEntry struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         owner  `xml:"Initiator"`
	Owner             owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
	NS                 string         `xml:"xmlns,attr"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

// listMultipartUploads serves ListMultipartUploads.
func (s *Server) listMultipartUploads(rq *request) (*response, error) {
	q := rq.r.URL.Query()
	q.Del("max-keys") // max-uploads is this listing's cap
	p, err := parseListParams(q)
	if err != nil {
		return nil, err
	}
	maxUploads, err := intParam(rq, "max-uploads", maxListUploads)
	if err != nil {
		return nil, err
	}
	maxUploads = min(maxUploads, maxListUploads)
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	if !s3node.ValidKey(keyMarker) {
		return nil, s3err.Argument("Invalid key-marker", "key-marker", keyMarker)
	}
	if keyMarker == "" {
		idMarker = "" // ignored without a key marker, as AWS
	}
	out := listMultipartUploadsResult{NS: xmlNS, Bucket: rq.bucketName, KeyMarker: p.encode(keyMarker),
		UploadIDMarker: idMarker, Prefix: p.encode(p.prefix), Delimiter: p.encode(p.delimiter), MaxUploads: maxUploads}
	if et := q.Get("encoding-type"); et != "" {
		out.EncodingType = et
	}
	if maxUploads == 0 {
		return &response{doc: out}, nil
	}
	res, err := s.meta.ListUploads(rq.r.Context(), rq.bucketName, s3node.ListUploadsOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, UploadIDMarker: idMarker, MaxUploads: maxUploads})
	if err != nil {
		return nil, err
	}
	out.IsTruncated = res.IsTruncated
	out.NextKeyMarker, out.NextUploadIDMarker = p.encode(res.NextKeyMarker), res.NextUploadIDMarker
	for _, u := range res.Uploads {
		out.Uploads = append(out.Uploads, uploadEntry{Key: p.encode(u.Key), UploadID: u.UploadID,
			Initiator: s.ownerOf(rq, u.Owner), Owner: s.ownerOf(rq, u.Owner),
			StorageClass: storageClassName(u.StorageClass), Initiated: isoTime(u.Initiated),
			ChecksumAlgorithm: strings.ToUpper(u.ChecksumAlgorithm)})
	}
	for _, cp := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	return &response{doc: out}, nil
}
