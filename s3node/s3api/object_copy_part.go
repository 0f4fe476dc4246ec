package s3api

import (
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// copyPartResult is the UploadPartCopy response document.
type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	XMLNS        string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumXML           // the part's checksum; no ChecksumType in CopyPartResult
}

// msgCopyRangeSyntax is AWS's message for a malformed
// x-amz-copy-source-range.
const msgCopyRangeSyntax = "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"

// parseCopySourceRange parses "bytes=first-last" (both offsets required,
// first <= last). The bounds are checked against the source later.
func parseCopySourceRange(v string) (first, last int64, err error) {
	bad := s3err.Msg(s3err.InvalidRequest, msgCopyRangeSyntax)
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || a == "" || b == "" || strings.IndexFunc(a+b, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, bad
	}
	return first, last, nil
}

// uploadPartCopy serves UploadPartCopy (UploadPart with
// x-amz-copy-source): the source version, or the byte range
// x-amz-copy-source-range of it, is streamed through the reader GetObject
// uses into a new blob, recorded as the part (replacing a part with the
// same number, whose blob is deleted).
func (s *Server) uploadPartCopy(rq *request, num int) (*response, error) {
	r := rq.r
	ctx := r.Context()
	h := r.Header
	src, err := parseCopySource(h.Get("x-amz-copy-source"))
	if err != nil {
		return nil, err
	}
	rangeHdr, hasRange := h.Get("x-amz-copy-source-range"), len(h.Values("x-amz-copy-source-range")) > 0
	var first, last int64
	if hasRange {
		if first, last, err = parseCopySourceRange(rangeHdr); err != nil {
			return nil, err
		}
	}
	uploadID := r.URL.Query().Get("uploadId")
	u, err := s.meta.GetUpload(ctx, rq.bucketName, rq.key, uploadID)
	if err != nil {
		return nil, err
	}
	wk, err := s.partKey(ctx, h, rq.bucket, u)
	if err != nil {
		return nil, err
	}
	defer wk.wipe()
	sb, sv, err := s.copySourceVersion(rq, src)
	if err != nil {
		return nil, err
	}
	source, err := s.checkCopySource(h, sb, sv, false)
	if err != nil {
		return nil, err
	}
	defer source.close()
	start, length := int64(0), sv.Size
	if hasRange {
		if last >= sv.Size {
			return nil, s3err.Msg(s3err.InvalidRequest, "Range specified is not valid for source object of size: "+strconv.FormatInt(sv.Size, 10))
		}
		start, length = first, last-first+1
	}
	if length > maxPartSize {
		return nil, s3err.Msg(s3err.InvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}

	algs := map[string]bool{}
	if u.ChecksumAlgorithm != "" {
		algs[u.ChecksumAlgorithm] = true
	}
	body, err := source.open(ctx, start, length)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	wr, err := s.writeBlob(ctx, body, algs, wk.key(), num)
	if err != nil {
		return nil, err
	}
	if wr.size != length {
		s.deleteBlobs(rq, []string{wr.blobID})
		return nil, s3node.Errorf(s3node.EInternal, "", "copy source %s/%s read %d of %d bytes", src.bucket, src.key, wr.size, length)
	}
	p := s3node.Part{
		PartNumber:   num,
		BlobID:       wr.blobID,
		Size:         length,
		StoredSize:   wk.storedSize(length),
		ETag:         wk.etag(num, wr.md5),
		LastModified: s.now().UTC(),
		Checksums:    wr.checksums,
	}
	old, err := s.meta.PutPart(ctx, rq.bucketName, rq.key, uploadID, p)
	if err != nil {
		s.discardBlob(rq, wr.blobID, err)
		return nil, err
	}
	s.deleteBlobs(rq, old)

	doc := &copyPartResult{XMLNS: xmlNS, ETag: p.ETag, LastModified: isoTime(p.LastModified)}
	if c := newChecksumXML(p.Checksums, ""); c != nil {
		doc.checksumXML = *c
	}
	resp := &response{doc: doc}
	setEncryptionHeaders(resp.setHeader, u.Encryption, false)
	if sv.VersionID != "" && sv.VersionID != s3node.NullVersionID {
		resp.setHeader("x-amz-copy-source-version-id", sv.VersionID)
	}
	return resp, nil
}
