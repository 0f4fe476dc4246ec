package s3api

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// S3's multipart limits.
const (
	maxPartNumber = 10000
	minPartSize   = 5 << 20
	maxPartSize   = 5 << 30
)

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// createMultipartUpload serves CreateMultipartUpload: the object's
// metadata, tags and storage class are kept on the upload.
func (s *Server) createMultipartUpload(rq *request) (*response, error) {
	h := rq.r.Header
	if !s3node.ValidKey(rq.key) {
		return nil, s3err.Msg(s3err.InvalidArgument, "Object key is not valid UTF-8 of at most 1024 bytes.")
	}
	if err := refuseCopySourceKey(h); err != nil {
		return nil, err
	}
	u := s3node.MultipartUpload{
		Bucket:             rq.bucketName,
		Key:                rq.key,
		UploadID:           s3node.NewID(),
		Initiated:          s.now().UTC(),
		Owner:              rq.user.CanonicalID,
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		StorageClass:       h.Get("x-amz-storage-class"),
		ChecksumAlgorithm:  strings.ToUpper(h.Get("x-amz-checksum-algorithm")),
		ChecksumType:       strings.ToUpper(h.Get("x-amz-checksum-type")),
	}
	if u.ContentType == "" {
		u.ContentType = "binary/octet-stream"
	}
	if u.StorageClass != "" && !storageClasses[u.StorageClass] {
		return nil, s3err.New(s3err.InvalidStorageClass)
	}
	if u.StorageClass == "STANDARD" {
		u.StorageClass = ""
	}
	if u.ChecksumAlgorithm != "" {
		if _, _, ok := sigv4.NewChecksum("x-amz-checksum-" + strings.ToLower(u.ChecksumAlgorithm)); !ok {
			return nil, s3err.Msg(s3err.InvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
	}
	switch u.ChecksumType {
	case "":
		if u.ChecksumAlgorithm == "CRC64NVME" {
			u.ChecksumType = s3node.ChecksumFullObject
		} else if u.ChecksumAlgorithm != "" {
			u.ChecksumType = s3node.ChecksumComposite
		}
	case s3node.ChecksumComposite:
		if u.ChecksumAlgorithm == "" || u.ChecksumAlgorithm == "CRC64NVME" {
			return nil, s3err.Msg(s3err.InvalidRequest, "The COMPOSITE checksum type requires the CRC32, CRC32C, SHA1 or SHA256 checksum algorithm.")
		}
	case s3node.ChecksumFullObject:
		if _, ok := fullObjectCRCs[u.ChecksumAlgorithm]; !ok {
			return nil, s3err.Msg(s3err.InvalidRequest, "The FULL_OBJECT checksum type requires the CRC32, CRC32C or CRC64NVME checksum algorithm.")
		}
	default:
		return nil, s3err.Msg(s3err.InvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	var err error
	if u.UserMetadata, err = userMetadata(h); err != nil {
		return nil, err
	}
	if u.Tags, err = parseTagging(h.Get("x-amz-tagging")); err != nil {
		return nil, err
	}
	// The upload's object key is made now; each part is encrypted with a
	// key derived from it and the part number (SSE-SPEC §3.2).
	wk, err := s.newWriteKey(rq.r.Context(), h, rq.bucket, rq.key)
	if err != nil {
		return nil, err
	}
	wk.wipe()
	u.Encryption = wk.info
	if err := s.meta.CreateUpload(rq.r.Context(), u); err != nil {
		return nil, err
	}
	resp := &response{doc: initiateMultipartUploadResult{NS: xmlNS, Bucket: rq.bucketName, Key: rq.key, UploadID: u.UploadID}}
	setEncryptionHeaders(resp.setHeader, u.Encryption, true)
	if u.ChecksumAlgorithm != "" {
		resp.setHeader("x-amz-checksum-algorithm", u.ChecksumAlgorithm)
		resp.setHeader("x-amz-checksum-type", u.ChecksumType)
	}
	return resp, nil
}

// parsePartNumber parses a partNumber query value: 1..10000.
func parsePartNumber(q url.Values) (int, error) {
	v := q.Get("partNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPartNumber {
		return 0, s3err.Argument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", v)
	}
	return n, nil
}

// uploadPart serves UploadPart: the verified body goes to a new blob (as
// PutObject's), then the part is recorded, replacing a part with the same
// number, whose blob is deleted.
func (s *Server) uploadPart(rq *request) (*response, error) {
	r := rq.r
	ctx := r.Context()
	q := r.URL.Query()
	if !q.Has("partNumber") {
		return nil, s3err.Msg(s3err.InvalidRequest, "A partNumber is required to upload a part.")
	}
	num, err := parsePartNumber(q)
	if err != nil {
		return nil, err
	}
	if r.Header.Get("x-amz-copy-source") != "" {
		return s.uploadPartCopy(rq, num)
	}
	uploadID := q.Get("uploadId")
	u, err := s.meta.GetUpload(ctx, rq.bucketName, rq.key, uploadID)
	if err != nil {
		return nil, err
	}
	wk, err := s.partKey(ctx, r.Header, rq.bucket, u)
	if err != nil {
		return nil, err
	}
	defer wk.wipe()
	if alg := requestChecksumAlgorithm(r.Header); u.ChecksumAlgorithm != "" && alg != "" && alg != u.ChecksumAlgorithm {
		return nil, s3err.Msg(s3err.InvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: "+
			strings.ToLower(u.ChecksumAlgorithm)+", actual checksum Type: "+strings.ToLower(alg))
	}
	size := r.ContentLength
	if rq.auth.Payload.Streaming() {
		size = rq.auth.DecodedContentLength
	}
	if size < 0 {
		return nil, s3err.New(s3err.MissingContentLength)
	}
	if size > maxPartSize {
		return nil, s3err.New(s3err.EntityTooLarge)
	}
	sb, err := s.writeBody(rq, size, wk.key(), num)
	if err != nil {
		return nil, err
	}
	p := s3node.Part{
		PartNumber:   num,
		BlobID:       sb.blobID,
		Size:         size,
		StoredSize:   wk.storedSize(size),
		ETag:         wk.etag(num, sb.md5),
		LastModified: s.now().UTC(),
	}
	if len(sb.checksums) > 0 {
		p.Checksums = sb.checksums
	}
	old, err := s.meta.PutPart(ctx, rq.bucketName, rq.key, uploadID, p)
	if err != nil {
		s.discardBlob(rq, sb.blobID, err)
		return nil, err
	}
	s.deleteBlobs(rq, old)
	resp := &response{}
	resp.setHeader("ETag", p.ETag)
	setEncryptionHeaders(resp.setHeader, u.Encryption, false)
	for alg, val := range p.Checksums {
		resp.setHeader("x-amz-checksum-"+strings.ToLower(alg), val)
	}
	return resp, nil
}

// requestChecksumAlgorithm is the algorithm of the checksum a request
// carries in an x-amz-checksum-* header or announces as a trailer, or "".
func requestChecksumAlgorithm(h http.Header) string {
	names := strings.Split(strings.ToLower(h.Get("x-amz-trailer")), ",")
	for _, name := range checksumHeaders {
		if h.Get(name) != "" {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if _, alg, ok := sigv4.NewChecksum(strings.TrimSpace(name)); ok {
			return alg
		}
	}
	return ""
}

// completeMultipartUpload is the request document of
// CompleteMultipartUpload.
type completeMultipartUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber        int    `xml:"PartNumber"`
	ETag              string `xml:"ETag"`
	ChecksumCRC32     string `xml:"ChecksumCRC32"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME"`
	ChecksumSHA1      string `xml:"ChecksumSHA1"`
	ChecksumSHA256    string `xml:"ChecksumSHA256"`
}

func (p completePart) checksums() map[string]string {
	m := map[string]string{}
	for alg, v := range map[string]string{"CRC32": p.ChecksumCRC32, "CRC32C": p.ChecksumCRC32C,
		"CRC64NVME": p.ChecksumCRC64NVME, "SHA1": p.ChecksumSHA1, "SHA256": p.ChecksumSHA256} {
		if v != "" {
			m[alg] = v
		}
	}
	return m
}

type completeMultipartUploadResult struct {
	XMLName        xml.Name `xml:"CompleteMultipartUploadResult"`
	NS             string   `xml:"xmlns,attr"`
	Location       string   `xml:"Location"`
	Bucket         string   `xml:"Bucket"`
	Key            string   `xml:"Key"`
	ETag           string   `xml:"ETag"`
	ChecksumCRC32  string   `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C string   `xml:"ChecksumCRC32C,omitempty"`
	ChecksumSHA1   string   `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256 string   `xml:"ChecksumSHA256,omitempty"`
	ChecksumCRC64  string   `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumType   string   `xml:"ChecksumType,omitempty"`
}

// completeMultipartUploadHandler serves CompleteMultipartUpload. The
// object keeps its parts as segments: no data is copied.
func (s *Server) completeMultipartUploadHandler(rq *request) (*response, error) {
	r := rq.r
	ctx := r.Context()
	uploadID := r.URL.Query().Get("uploadId")
	var doc completeMultipartUpload
	ok, err := rq.readXML(&doc)
	if err != nil {
		return nil, err
	}
	if !ok || len(doc.Parts) == 0 {
		return nil, s3err.Msg(s3err.MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
	}
	if len(doc.Parts) > maxPartNumber {
		return nil, s3err.Msg(s3err.MalformedXML, "The XML you provided lists more than 10000 parts.")
	}
	u, err := s.meta.GetUpload(ctx, rq.bucketName, rq.key, uploadID)
	if err != nil {
		return nil, err
	}
	customerMD5, err := s.checkCompleteKey(r.Header, rq.bucket, u)
	if err != nil {
		return nil, err
	}
	stored, err := s.allParts(rq, uploadID)
	if err != nil {
		return nil, err
	}
	byNumber := make(map[int]s3node.Part, len(stored))
	for _, p := range stored {
		byNumber[p.PartNumber] = p
	}
	req := s3node.CompleteRequest{Bucket: rq.bucketName, Key: rq.key, UploadID: uploadID, MinPartSize: minPartSize}
	etags := md5.New()
	for i, cp := range doc.Parts {
		if i > 0 && cp.PartNumber <= doc.Parts[i-1].PartNumber {
			return nil, s3err.New(s3err.InvalidPartOrder)
		}
		req.Parts = append(req.Parts, s3node.CompletePart{PartNumber: cp.PartNumber, ETag: cp.ETag})
		p, ok := byNumber[cp.PartNumber]
		if !ok {
			continue // AssembleUpload reports InvalidPart (after InvalidPartOrder)
		}
		// The ETag and checksums are computed from this listing, outside
		// the store's transaction: a part replaced since has another ETag,
		// which AssembleUpload, inside it, refuses.
		if strings.Trim(p.ETag, `"`) != strings.Trim(cp.ETag, `"`) {
			return nil, s3err.New(s3err.InvalidPart)
		}
		for alg, v := range cp.checksums() {
			if p.Checksums[alg] != v {
				return nil, s3err.Msg(s3err.InvalidPart, "The "+alg+" checksum of part "+strconv.Itoa(cp.PartNumber)+" does not match the uploaded part.")
			}
		}
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err == nil {
			etags.Write(raw)
		}
	}
	var ordered []s3node.Part
	for _, cp := range doc.Parts {
		if p, ok := byNumber[cp.PartNumber]; ok {
			ordered = append(ordered, p)
		}
	}
	checksums := map[string]string{}
	alg, sum, sumType, haveSum := objectChecksum(u, ordered)
	if haveSum && len(ordered) == len(doc.Parts) {
		checksums[alg] = sum
	}
	// A full-object checksum given in the request must match.
	for _, name := range checksumHeaders {
		want := r.Header.Get(name)
		if want == "" {
			continue
		}
		_, a, _ := sigv4.NewChecksum(name)
		if a != alg || sumType != s3node.ChecksumFullObject || checksums[alg] != want {
			return nil, s3err.Msg(s3err.BadDigest, "The "+a+" you specified did not match the calculated checksum.")
		}
	}
	req.Object = s3node.ObjectVersion{
		ETag:         `"` + hex.EncodeToString(etags.Sum(nil)) + "-" + strconv.Itoa(len(doc.Parts)) + `"`,
		LastModified: s.now().UTC(),
	}
	if len(checksums) > 0 {
		req.Object.Checksums = checksums
		req.Object.ChecksumType = sumType
	}
	res, err := s.meta.CompleteUpload(ctx, req)
	if err != nil {
		return nil, err
	}
	s.deleteBlobs(rq, res.Unreferenced)

	out := completeMultipartUploadResult{NS: xmlNS, Location: location(r), Bucket: rq.bucketName, Key: rq.key,
		ETag: req.Object.ETag, ChecksumCRC32: checksums["CRC32"], ChecksumCRC32C: checksums["CRC32C"],
		ChecksumSHA1: checksums["SHA1"], ChecksumSHA256: checksums["SHA256"], ChecksumCRC64: checksums["CRC64NVME"],
		ChecksumType: req.Object.ChecksumType}
	resp := &response{doc: out}
	// SSE-C headers are echoed only when the request carried the trio (D4).
	if u.Encryption != nil && (u.Encryption.Type != s3node.SSEC || customerMD5 != "") {
		setEncryptionHeaders(resp.setHeader, u.Encryption, false)
	}
	if res.VersionID != "" && res.VersionID != s3node.NullVersionID {
		resp.setHeader("x-amz-version-id", res.VersionID)
	}
	return resp, nil
}

// allParts returns every part of an upload.
func (s *Server) allParts(rq *request, uploadID string) ([]s3node.Part, error) {
	var parts []s3node.Part
	marker := 0
	for {
		page, err := s.meta.ListParts(rq.r.Context(), rq.bucketName, rq.key, uploadID,
			s3node.ListPartsOptions{PartNumberMarker: marker, MaxParts: maxListParts})
		if err != nil {
			return nil, err
		}
		parts = append(parts, page.Parts...)
		if !page.IsTruncated || len(page.Parts) == 0 {
			return parts, nil
		}
		marker = page.NextPartNumberMarker
	}
}

// location is the URL of the object a request addresses.
func location(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
	return u.String()
}

// abortMultipartUpload serves AbortMultipartUpload: the upload and its
// parts' blobs are removed.
func (s *Server) abortMultipartUpload(rq *request) (*response, error) {
	unref, err := s.meta.AbortUpload(rq.r.Context(), rq.bucketName, rq.key, rq.r.URL.Query().Get("uploadId"))
	if err != nil {
		return nil, err
	}
	s.deleteBlobs(rq, unref)
	return &response{status: http.StatusNoContent}, nil
}
