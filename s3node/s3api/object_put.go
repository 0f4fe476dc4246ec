package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/objcrypt"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// maxObjectSize is S3's limit for a single PUT.
const maxObjectSize = 5 << 30

// storageClasses are the x-amz-storage-class values accepted (and stored
// as given; every class is served the same way here).
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "GLACIER_IR": true,
}

// checksumHeaders are the x-amz-checksum-* headers, lower case.
var checksumHeaders = []string{
	"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
	"x-amz-checksum-sha1", "x-amz-checksum-sha256",
}

// expectedChecksum is a checksum given in a request header, verified
// against the body as it streams.
type expectedChecksum struct {
	alg   string // CRC32, …
	value string // base64
	h     hash.Hash
}

// putObject serves PutObject: stream the verified body into a new blob,
// commit it only after io.EOF, then record the version.
func (s *Server) putObject(rq *request) (*response, error) {
	r := rq.r
	ctx := r.Context()
	h := r.Header
	if !s3node.ValidKey(rq.key) {
		return nil, s3err.Msg(s3err.InvalidArgument, "Object key is not valid UTF-8 of at most 1024 bytes.")
	}
	if h.Get("x-amz-copy-source") != "" {
		return s.copyObject(rq)
	}
	if err := refuseCopySourceKey(h); err != nil {
		return nil, err
	}
	size := r.ContentLength
	if rq.auth.Payload.Streaming() {
		size = rq.auth.DecodedContentLength
	}
	if size < 0 {
		return nil, s3err.New(s3err.MissingContentLength)
	}
	if size > maxObjectSize {
		return nil, s3err.New(s3err.EntityTooLarge)
	}

	v := s3node.ObjectVersion{
		Bucket:             rq.bucketName,
		Key:                rq.key,
		Size:               size,
		StoredSize:         size,
		Owner:              rq.user.CanonicalID,
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		StorageClass:       h.Get("x-amz-storage-class"),
	}
	if v.ContentType == "" {
		v.ContentType = "binary/octet-stream"
	}
	if v.StorageClass != "" && !storageClasses[v.StorageClass] {
		return nil, s3err.New(s3err.InvalidStorageClass)
	}
	if v.StorageClass == "STANDARD" {
		v.StorageClass = ""
	}
	var err error
	if v.UserMetadata, err = userMetadata(h); err != nil {
		return nil, err
	}
	if v.Tags, err = parseTagging(h.Get("x-amz-tagging")); err != nil {
		return nil, err
	}

	wk, err := s.newWriteKey(ctx, h, rq.bucket, rq.key)
	if err != nil {
		return nil, err
	}
	defer wk.wipe()
	sb, err := s.writeBody(rq, size, wk.key(), 0)
	if err != nil {
		return nil, err
	}
	if len(sb.checksums) > 0 {
		v.Checksums = sb.checksums
		v.ChecksumType = s3node.ChecksumFullObject
	}
	v.ETag = wk.etag(0, sb.md5)
	v.StoredSize = wk.storedSize(size)
	v.Encryption = wk.info
	v.LastModified = s.now().UTC()
	v.BlobID = sb.blobID
	res, err := s.meta.PutObject(ctx, v)
	if err != nil {
		s.discardBlob(rq, v.BlobID, err)
		return nil, err
	}
	s.deleteBlobs(rq, res.Unreferenced)

	resp := &response{}
	resp.setHeader("ETag", v.ETag)
	setEncryptionHeaders(resp.setHeader, v.Encryption, true)
	if id := versionHeader(rq.bucket, res.VersionID); id != "" {
		resp.setHeader("x-amz-version-id", id)
	}
	for alg, val := range v.Checksums {
		resp.setHeader("x-amz-checksum-"+strings.ToLower(alg), val)
	}
	if v.ChecksumType != "" {
		resp.setHeader("x-amz-checksum-type", v.ChecksumType)
	}
	return resp, nil
}

// storedBody is a request body committed to a new blob.
type storedBody struct {
	blobID    string
	md5       []byte            // binary MD5 of the data
	checksums map[string]string // algorithm → base64, verified
}

// writeBody streams the verified request body of size bytes into a new
// blob, encrypted with the key of part of oek unless oek is nil, checking
// Content-MD5 and any x-amz-checksum-* header (trailers are verified by
// the sigv4 reader), and commits the blob only once every check passed.
// MD5 and checksums are of the plaintext.
func (s *Server) writeBody(rq *request, size int64, oek *objcrypt.ObjectKey, part int) (storedBody, error) {
	ctx := rq.r.Context()
	h := rq.r.Header
	var wantMD5 []byte
	var err error
	if cm, ok := h["Content-Md5"]; ok {
		wantMD5, err = base64.StdEncoding.DecodeString(strings.Join(cm, ","))
		if err != nil || len(wantMD5) != md5.Size {
			return storedBody{}, s3err.New(s3err.InvalidDigest)
		}
	}
	var sums []expectedChecksum
	for _, name := range checksumHeaders {
		val := h.Get(name)
		if val == "" {
			continue
		}
		hh, alg, _ := sigv4.NewChecksum(name)
		sums = append(sums, expectedChecksum{alg: alg, value: val, h: hh})
	}
	if len(sums) > 1 {
		return storedBody{}, s3err.Msg(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}

	// Stream: verified body → MD5 (+ header checksum) → blob.
	md := md5.New()
	writers := []io.Writer{md}
	for _, c := range sums {
		writers = append(writers, c.h)
	}
	bw, err := s.data.Create(ctx)
	if err != nil {
		return storedBody{}, err
	}
	sink, err := encryptTo(bw, oek, part)
	if err != nil {
		_ = bw.Abort()
		return storedBody{}, err
	}
	body := rq.body()
	defer body.Close()
	n, err := io.Copy(io.MultiWriter(append(writers, sink)...), body)
	if err == nil && n != size {
		err = s3err.New(s3err.IncompleteBody)
	}
	if err == nil {
		err = sink.Close()
	}
	if err != nil {
		_ = bw.Abort()
		return storedBody{}, err
	}
	sum := md.Sum(nil)
	if wantMD5 != nil && !bytes.Equal(sum, wantMD5) {
		_ = bw.Abort()
		return storedBody{}, s3err.New(s3err.BadDigest)
	}
	checksums := map[string]string{}
	for _, c := range sums {
		got := base64.StdEncoding.EncodeToString(c.h.Sum(nil))
		if got != c.value {
			_ = bw.Abort()
			return storedBody{}, s3err.Msg(s3err.BadDigest, "The "+c.alg+" you specified did not match the calculated checksum.")
		}
		checksums[c.alg] = got
	}
	for name, vals := range rq.auth.Trailers() {
		// Verified against the data by the sigv4 body reader.
		if _, alg, ok := sigv4.NewChecksum(strings.ToLower(name)); ok && len(vals) > 0 {
			checksums[alg] = vals[0]
		}
	}
	blobID, err := bw.Commit(ctx)
	if err != nil {
		return storedBody{}, err
	}
	return storedBody{blobID: blobID, md5: sum, checksums: checksums}, nil
}

// deleteBlobs removes blobs no metadata references any more. Failures are
// only logged: the sweeper removes what is left.
func (s *Server) deleteBlobs(rq *request, ids []string) {
	for _, id := range ids {
		if err := s.data.Delete(rq.r.Context(), id); err != nil {
			s.log.LogAttrs(rq.r.Context(), slog.LevelWarn, "s3: delete unreferenced blob",
				slog.String("request_id", rq.requestID), slog.String("blob", id), slog.String("error", err.Error()))
		}
	}
}

// encryptTo returns the writer that stores data into w: w itself when
// oek is nil, else an encrypting writer with the key of part. Close
// flushes the encrypting writer; it never closes w.
func encryptTo(w io.Writer, oek *objcrypt.ObjectKey, part int) (io.WriteCloser, error) {
	if oek == nil {
		return nopWriteCloser{w}, nil
	}
	return objcrypt.NewWriter(w, oek, part)
}

// nopWriteCloser is an io.Writer with a Close that does nothing.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// contentEncoding drops the aws-chunked coding, which is a transfer
// detail of streaming signatures, not a property of the object.
func contentEncoding(v string) string {
	var keep []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p != "" && !strings.EqualFold(p, "aws-chunked") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

// maxUserMetadata is AWS's limit on the size of user metadata (names plus
// values).
const maxUserMetadata = 2 << 10

// userMetadata collects x-amz-meta-* headers, names lower case.
func userMetadata(h http.Header) (map[string]string, error) {
	var m map[string]string
	total := 0
	for name, vals := range h {
		lower := strings.ToLower(name)
		k, ok := strings.CutPrefix(lower, "x-amz-meta-")
		if !ok {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		val := strings.Join(vals, ",")
		m[k] = val
		total += len(k) + len(val)
	}
	if total > maxUserMetadata {
		return nil, s3err.Msg(s3err.InvalidArgument, "Your metadata headers exceed the maximum allowed metadata size.")
	}
	return m, nil
}

// parseTagging parses the x-amz-tagging header (URL query encoded).
func parseTagging(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, s3err.Msg(s3err.InvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make([]tag, 0, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, s3err.Msg(s3err.InvalidTag, "Cannot provide multiple Tags with the same key")
		}
		tags = append(tags, tag{Key: k, Value: vs[0]})
	}
	return tagMap(tags, maxObjectTags, tooManyObjectTags)
}

// formatSize is strconv.FormatInt for sizes.
func formatSize(n int64) string { return strconv.FormatInt(n, 10) }
