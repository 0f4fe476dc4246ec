package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// maxDeleteObjects is AWS's limit on keys per DeleteObjects request.
const maxDeleteObjects = 1000

type deleteRequest struct {
	XMLName xml.Name         `xml:"Delete"`
	Quiet   bool             `xml:"Quiet"`
	Objects []objectToDelete `xml:"Object"`
}

type objectToDelete struct {
	Key       string  `xml:"Key"`
	VersionID *string `xml:"VersionId"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	NS      string          `xml:"xmlns,attr"`
	Deleted []deletedEntry  `xml:"Deleted"`
	Errors  []deleteErrItem `xml:"Error"`
}

type deletedEntry struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteErrItem struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// readDeleteBody reads the (verified) body of DeleteObjects and checks
// its integrity header: Content-MD5, or an x-amz-checksum-* header (what
// newer SDKs send instead), or a checksum trailer (verified by the sigv4
// reader). Without any of them the request is refused, as AWS.
func (rq *request) readDeleteBody() ([]byte, error) {
	h := rq.r.Header
	var (
		wantMD5 []byte
		sumName string
	)
	if cm, ok := h["Content-Md5"]; ok {
		var err error
		wantMD5, err = base64.StdEncoding.DecodeString(strings.Join(cm, ","))
		if err != nil || len(wantMD5) != md5.Size {
			return nil, s3err.New(s3err.InvalidDigest)
		}
	}
	for _, name := range checksumHeaders {
		if h.Get(name) != "" {
			if sumName != "" {
				return nil, s3err.Msg(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			sumName = name
		}
	}
	if wantMD5 == nil && sumName == "" && h.Get("x-amz-trailer") == "" {
		return nil, s3err.Msg(s3err.InvalidRequest, "Missing required header for this request: Content-MD5")
	}
	b := rq.body()
	defer b.Close()
	data, err := io.ReadAll(io.LimitReader(b, maxXMLBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxXMLBody {
		return nil, s3err.Msg(s3err.MalformedXML, "The XML you provided was larger than the maximum allowed size.")
	}
	if wantMD5 != nil {
		if sum := md5.Sum(data); !bytes.Equal(sum[:], wantMD5) {
			return nil, s3err.New(s3err.BadDigest)
		}
	}
	if sumName != "" {
		hh, alg, ok := sigv4.NewChecksum(sumName)
		if !ok {
			return nil, s3err.Msg(s3err.InvalidRequest, "Unsupported checksum header "+sumName)
		}
		hh.Write(data)
		if base64.StdEncoding.EncodeToString(hh.Sum(nil)) != h.Get(sumName) {
			return nil, s3err.Msg(s3err.BadDigest, "The "+alg+" you specified did not match the calculated checksum.")
		}
	}
	return data, nil
}

// deleteObjects serves DeleteObjects (POST ?delete): each key is deleted
// as DeleteObject would, and reported as Deleted (unless Quiet) or Error.
func (s *Server) deleteObjects(rq *request) (*response, error) {
	data, err := rq.readDeleteBody()
	if err != nil {
		return nil, err
	}
	var req deleteRequest
	if err := xml.Unmarshal(data, &req); err != nil {
		e := s3err.New(s3err.MalformedXML)
		e.Err = err
		return nil, e
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return nil, s3err.New(s3err.MalformedXML)
	}
	out := deleteResult{NS: xmlNS}
	for _, o := range req.Objects {
		vid := ""
		if o.VersionID != nil {
			vid = *o.VersionID
		}
		fail := func(code s3err.Code, msg string) {
			if msg == "" {
				msg = s3err.New(code).Message
			}
			out.Errors = append(out.Errors, deleteErrItem{Key: o.Key, VersionID: vid, Code: string(code), Message: msg})
		}
		switch {
		case o.Key == "" || !s3node.ValidKey(o.Key):
			fail(s3err.InvalidArgument, "Invalid key")
			continue
		case o.VersionID != nil && !validVersionID(vid):
			fail(s3err.NoSuchVersion, "")
			continue
		}
		res, err := s.deleteOne(rq, o.Key, vid)
		if err != nil {
			e := toS3Error(err)
			if e.Status() >= http.StatusInternalServerError {
				s.log.LogAttrs(rq.r.Context(), slog.LevelError, "s3: delete object failed",
					slog.String("request_id", rq.requestID), slog.String("key", o.Key), slog.String("error", err.Error()))
			}
			fail(e.Code, e.Message)
			continue
		}
		if req.Quiet {
			continue
		}
		d := deletedEntry{Key: o.Key, VersionID: vid}
		if res.DeleteMarker {
			d.DeleteMarker = true
			d.DeleteMarkerVersionID = versionHeader(rq.bucket, res.VersionID)
		}
		out.Deleted = append(out.Deleted, d)
	}
	return &response{doc: out}, nil
}
