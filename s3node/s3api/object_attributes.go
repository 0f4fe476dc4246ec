package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sse"
)

// objectAttributes are the names x-amz-object-attributes accepts.
var objectAttributes = map[string]bool{
	"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true,
}

// checksumXML holds the checksum elements of GetObjectAttributes,
// CopyObjectResult and CopyPartResult.
type checksumXML struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

func newChecksumXML(sums map[string]string, typ string) *checksumXML {
	if len(sums) == 0 {
		return nil
	}
	c := &checksumXML{ChecksumType: typ}
	for alg, v := range sums {
		switch alg {
		case "CRC32":
			c.ChecksumCRC32 = v
		case "CRC32C":
			c.ChecksumCRC32C = v
		case "CRC64NVME":
			c.ChecksumCRC64NVME = v
		case "SHA1":
			c.ChecksumSHA1 = v
		case "SHA256":
			c.ChecksumSHA256 = v
		}
	}
	return c
}

type attributesPart struct {
	checksumXML
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
}

type objectPartsXML struct {
	IsTruncated          *bool            `xml:"IsTruncated,omitempty"`
	MaxParts             *int             `xml:"MaxParts,omitempty"`
	NextPartNumberMarker *int             `xml:"NextPartNumberMarker,omitempty"`
	PartNumberMarker     *int             `xml:"PartNumberMarker,omitempty"`
	Parts                []attributesPart `xml:"Part"`
	PartsCount           int              `xml:"PartsCount"`
}

// getObjectAttributesResponse is the GetObjectAttributes document.
type getObjectAttributesResponse struct {
	XMLName      xml.Name        `xml:"GetObjectAttributesResponse"`
	XMLNS        string          `xml:"xmlns,attr"`
	ETag         string          `xml:"ETag,omitempty"`
	Checksum     *checksumXML    `xml:"Checksum,omitempty"`
	ObjectParts  *objectPartsXML `xml:"ObjectParts,omitempty"`
	StorageClass string          `xml:"StorageClass,omitempty"`
	ObjectSize   *int64          `xml:"ObjectSize,omitempty"`
}

// getObjectAttributes serves GetObjectAttributes.
func (s *Server) getObjectAttributes(rq *request) (*response, error) {
	r := rq.r
	want := map[string]bool{}
	for _, vals := range r.Header.Values("x-amz-object-attributes") {
		for _, a := range strings.Split(vals, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !objectAttributes[a] {
				return nil, s3err.Msg(s3err.InvalidArgument, "Invalid attribute name specified.").
					With("ArgumentName", "x-amz-object-attributes").With("ArgumentValue", a)
			}
			want[a] = true
		}
	}
	if len(want) == 0 {
		return nil, s3err.Msg(s3err.InvalidArgument, "Invalid attribute name specified.").
			With("ArgumentName", "x-amz-object-attributes").With("ArgumentValue", "")
	}
	maxParts, err := headerInt(r.Header, "x-amz-max-parts", 1000)
	if err != nil {
		return nil, err
	}
	marker, err := headerInt(r.Header, "x-amz-part-number-marker", 0)
	if err != nil {
		return nil, err
	}
	versionID := r.URL.Query().Get("versionId")
	v, err := s.meta.GetObject(r.Context(), rq.bucketName, rq.key, versionID)
	if err != nil {
		return nil, err
	}
	if v.DeleteMarker {
		e := s3err.New(s3err.NoSuchKey)
		if versionID != "" {
			e = s3err.New(s3err.MethodNotAllowed)
		}
		e.Header = http.Header{"X-Amz-Delete-Marker": {"true"}}
		if v.VersionID != s3node.NullVersionID {
			e.Header.Set("x-amz-version-id", v.VersionID)
		}
		return nil, e
	}
	// The version first (404s win), then the SSE headers: R6, and the key
	// of an SSE-C object (SSE-SPEC §1.3 R1–R5).
	if err := refuseSSEOnRead(r.Header); err != nil {
		return nil, err
	}
	oek, err := s.readKey(r.Header, sse.CustomerPrefix, rq.bucket, v, false)
	if err != nil {
		return nil, err
	}
	if oek != nil {
		oek.Wipe()
	}

	doc := &getObjectAttributesResponse{XMLNS: xmlNS}
	if want["ETag"] {
		doc.ETag = strings.Trim(v.ETag, `"`)
	}
	if want["Checksum"] {
		doc.Checksum = newChecksumXML(v.Checksums, v.ChecksumType)
	}
	if want["StorageClass"] {
		doc.StorageClass = v.StorageClass
		if doc.StorageClass == "" {
			doc.StorageClass = "STANDARD"
		}
	}
	if want["ObjectSize"] {
		size := v.Size
		doc.ObjectSize = &size
	}
	if want["ObjectParts"] && v.PartsCount > 0 {
		op := &objectPartsXML{PartsCount: v.PartsCount}
		if r.Header.Get("x-amz-max-parts") != "" || r.Header.Get("x-amz-part-number-marker") != "" {
			truncated := false
			next := marker
			for _, p := range v.Parts {
				if p.PartNumber <= marker {
					continue
				}
				if len(op.Parts) == maxParts {
					truncated = true
					break
				}
				ap := attributesPart{PartNumber: p.PartNumber, Size: p.Size}
				if c := newChecksumXML(p.Checksums, ""); c != nil {
					ap.checksumXML = *c
				}
				op.Parts = append(op.Parts, ap)
				next = p.PartNumber
			}
			op.IsTruncated, op.MaxParts, op.PartNumberMarker, op.NextPartNumberMarker = &truncated, &maxParts, &marker, &next
		}
		doc.ObjectParts = op
	}

	resp := &response{doc: doc}
	resp.setHeader("Last-Modified", v.LastModified.UTC().Format(http.TimeFormat))
	if v.VersionID != "" && v.VersionID != s3node.NullVersionID {
		resp.setHeader("x-amz-version-id", v.VersionID)
	}
	return resp, nil
}

// headerInt parses a non-negative integer header (def when absent).
func headerInt(h http.Header, name string, def int) (int, error) {
	v := h.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, s3err.Msg(s3err.InvalidArgument, "Provided "+name+" not an integer or within integer range").
			With("ArgumentName", name).With("ArgumentValue", v)
	}
	return n, nil
}
