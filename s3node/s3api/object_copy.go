package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/objcrypt"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
	"github.com/s3kms/s3kms/s3node/sse"
)

// maxCopySize is S3's limit on the source of a CopyObject.
const maxCopySize = 5 << 30

// msgCopyToItself is AWS's message for a copy that changes nothing.
const msgCopyToItself = "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."

// copyObjectResult is the CopyObject response document.
type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	XMLNS        string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumXML
}

// copySource is a parsed x-amz-copy-source header.
type copySource struct {
	bucket, key, versionID string
}

// parseCopySource parses "[/]bucket/key[?versionId=id]", the key URL
// encoded.
func parseCopySource(v string) (copySource, error) {
	bad := s3err.Msg(s3err.InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey").
		With("ArgumentName", "x-amz-copy-source").With("ArgumentValue", v)
	path, query, hasQuery := strings.Cut(v, "?")
	var cs copySource
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			return cs, bad
		}
		vid, ok := q["versionId"]
		if !ok || len(vid) != 1 || vid[0] == "" {
			return cs, bad
		}
		cs.versionID = vid[0]
	}
	p, err := url.PathUnescape(path)
	if err != nil {
		return cs, bad
	}
	p = strings.TrimPrefix(p, "/")
	cs.bucket, cs.key, _ = strings.Cut(p, "/")
	if cs.bucket == "" || cs.key == "" {
		return cs, bad
	}
	if !s3node.ValidKey(cs.key) {
		return cs, bad
	}
	return cs, nil
}

// directive reads a COPY|REPLACE directive header (default COPY).
func directive(h http.Header, name string) (replace bool, err error) {
	switch v := h.Get(name); v {
	case "", "COPY":
		return false, nil
	case "REPLACE":
		return true, nil
	default:
		return false, s3err.Msg(s3err.InvalidArgument, "Unknown "+strings.TrimPrefix(name, "x-amz-")+" value: "+v).
			With("ArgumentName", name).With("ArgumentValue", v)
	}
}

// copyObject serves CopyObject (a PUT with x-amz-copy-source): it streams
// the source version, through the reader GetObject uses, into a new blob
// owned by the new version. Blobs are never shared between versions.
func (s *Server) copyObject(rq *request) (*response, error) {
	r := rq.r
	ctx := r.Context()
	h := r.Header
	src, err := parseCopySource(h.Get("x-amz-copy-source"))
	if err != nil {
		return nil, err
	}
	replaceMeta, err := directive(h, "x-amz-metadata-directive")
	if err != nil {
		return nil, err
	}
	replaceTags, err := directive(h, "x-amz-tagging-directive")
	if err != nil {
		return nil, err
	}
	storageClass := h.Get("x-amz-storage-class")
	if storageClass != "" && !storageClasses[storageClass] {
		return nil, s3err.New(s3err.InvalidStorageClass)
	}

	// The destination's encryption is decided first: its header errors
	// come before anything about the source (SSE-SPEC §1.2, §3.3).
	plan, err := s.planWrite(h, rq.bucket)
	if err != nil {
		return nil, err
	}
	defer plan.customer.Wipe()
	sb, sv, err := s.copySourceVersion(rq, src)
	if err != nil {
		return nil, err
	}
	if sv.Size > maxCopySize {
		return nil, s3err.Msg(s3err.InvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	}
	inPlace := src.bucket == rq.bucketName && src.key == rq.key && sv.IsLatest
	if inPlace && !replaceMeta &&
		(storageClass == "" || normClass(storageClass) == sv.StorageClass) &&
		h.Get("x-amz-website-redirect-location") == "" && !s.changesEncryption(h, rq.bucket, plan, sv) {
		return nil, s3err.Msg(s3err.InvalidRequest, msgCopyToItself)
	}
	source, err := s.checkCopySource(h, sb, sv, inPlace)
	if err != nil {
		return nil, err
	}
	defer source.close()

	v := s3node.ObjectVersion{
		Bucket: rq.bucketName, Key: rq.key, Size: sv.Size, StoredSize: sv.Size,
		Owner:        rq.user.CanonicalID,
		StorageClass: sv.StorageClass,
		Tags:         sv.Tags,
	}
	if storageClass != "" {
		v.StorageClass = normClass(storageClass)
	}
	if replaceMeta {
		v.ContentType = h.Get("Content-Type")
		if v.ContentType == "" {
			v.ContentType = "binary/octet-stream"
		}
		v.ContentEncoding = h.Get("Content-Encoding")
		v.ContentDisposition = h.Get("Content-Disposition")
		v.ContentLanguage = h.Get("Content-Language")
		v.CacheControl = h.Get("Cache-Control")
		v.Expires = h.Get("Expires")
		if v.UserMetadata, err = userMetadata(h); err != nil {
			return nil, err
		}
	} else {
		v.ContentType, v.ContentEncoding, v.ContentDisposition = sv.ContentType, sv.ContentEncoding, sv.ContentDisposition
		v.ContentLanguage, v.CacheControl, v.Expires = sv.ContentLanguage, sv.CacheControl, sv.Expires
		v.UserMetadata = sv.UserMetadata
	}
	if replaceTags {
		if v.Tags, err = parseTagging(h.Get("x-amz-tagging")); err != nil {
			return nil, err
		}
	}

	// The checksums of the source, recomputed over the whole object, and
	// the one asked for with x-amz-checksum-algorithm.
	algs := map[string]bool{}
	for alg := range sv.Checksums {
		algs[alg] = true
	}
	if a := h.Get("x-amz-checksum-algorithm"); a != "" {
		if _, _, ok := sigv4.NewChecksum("x-amz-checksum-" + strings.ToLower(a)); !ok {
			return nil, s3err.Msg(s3err.InvalidRequest, "Checksum algorithm provided is unsupported.")
		}
		algs[strings.ToUpper(a)] = true
	}

	body, err := source.open(ctx, 0, sv.Size)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	wk, err := s.makeWriteKey(ctx, plan, rq.bucket, rq.key)
	if err != nil {
		return nil, err
	}
	defer wk.wipe()
	wr, err := s.writeBlob(ctx, body, algs, wk.key(), 0)
	if err != nil {
		return nil, err
	}
	if wr.size != sv.Size {
		s.deleteBlobs(rq, []string{wr.blobID})
		return nil, s3node.Errorf(s3node.EInternal, "", "copy source %s/%s read %d of %d bytes", src.bucket, src.key, wr.size, sv.Size)
	}
	v.BlobID, v.ETag, v.Checksums = wr.blobID, wk.etag(0, wr.md5), wr.checksums
	v.StoredSize, v.Encryption = wk.storedSize(v.Size), wk.info
	if len(v.Checksums) > 0 {
		v.ChecksumType = s3node.ChecksumFullObject
	}
	v.LastModified = s.now().UTC()
	res, err := s.meta.PutObject(ctx, v)
	if err != nil {
		s.discardBlob(rq, v.BlobID, err)
		return nil, err
	}
	s.deleteBlobs(rq, res.Unreferenced)

	doc := &copyObjectResult{XMLNS: xmlNS, ETag: v.ETag, LastModified: isoTime(v.LastModified)}
	if c := newChecksumXML(v.Checksums, v.ChecksumType); c != nil {
		doc.checksumXML = *c
	}
	resp := &response{doc: doc}
	setEncryptionHeaders(resp.setHeader, v.Encryption, true)
	if sv.VersionID != "" && sv.VersionID != s3node.NullVersionID {
		resp.setHeader("x-amz-copy-source-version-id", sv.VersionID)
	}
	if res.VersionID != "" && res.VersionID != s3node.NullVersionID {
		resp.setHeader("x-amz-version-id", res.VersionID)
	}
	return resp, nil
}

// copySourceVersion resolves the source of a copy (CopyObject,
// UploadPartCopy) and returns its bucket and version: the caller must own
// the source bucket; the version must exist and not be a delete marker.
// The caller then checks the copy-source SSE-C headers (readKey) and the
// x-amz-copy-source-if-* conditions (copyConditions), in that order.
func (s *Server) copySourceVersion(rq *request, src copySource) (s3node.Bucket, s3node.ObjectVersion, error) {
	ctx := rq.r.Context()
	b := rq.bucket
	// Read permission on the source: its bucket must be the caller's.
	if src.bucket != rq.bucketName {
		var err error
		b, err = s.meta.GetBucket(ctx, src.bucket)
		if err != nil {
			if s3node.ErrorCode(err) == s3node.EInvalid || s3node.ErrorReason(err) == s3node.NoSuchBucket {
				return b, s3node.ObjectVersion{}, s3err.New(s3err.NoSuchBucket).With("BucketName", src.bucket)
			}
			return b, s3node.ObjectVersion{}, err
		}
		if b.Owner != rq.user.CanonicalID {
			return b, s3node.ObjectVersion{}, s3err.New(s3err.AccessDenied)
		}
	}
	sv, err := s.meta.GetObject(ctx, src.bucket, src.key, src.versionID)
	if err != nil {
		switch s3node.ErrorReason(err) {
		case s3node.NoSuchKey:
			return b, sv, s3err.New(s3err.NoSuchKey).With("Key", src.key)
		case s3node.NoSuchBucket:
			return b, sv, s3err.New(s3err.NoSuchBucket).With("BucketName", src.bucket)
		}
		return b, sv, err
	}
	if sv.DeleteMarker {
		if src.versionID != "" {
			return b, sv, s3err.Msg(s3err.InvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
		}
		return b, sv, s3err.New(s3err.NoSuchKey).With("Key", src.key)
	}
	return b, sv, nil
}

// copySourceData is the source version of a copy whose copy-source SSE
// headers and conditions were checked, with its SSE-C key if it has one.
type copySourceData struct {
	s        *Server
	b        s3node.Bucket
	v        s3node.ObjectVersion
	customer *objcrypt.ObjectKey // SSE-C source; owned until open
}

// checkCopySource checks the copy-source SSE-C trio against version sv of
// bucket sb (readKey; inPlace selects the in-place answer to a wrong key),
// then the x-amz-copy-source-if-* conditions. The caller closes the
// result.
func (s *Server) checkCopySource(h http.Header, sb s3node.Bucket, sv s3node.ObjectVersion, inPlace bool) (*copySourceData, error) {
	key, err := s.readKey(h, sse.CopySourcePrefix, sb, sv, inPlace)
	if err != nil {
		return nil, err
	}
	c := &copySourceData{s: s, b: sb, v: sv, customer: key}
	if err := copyConditions(h, sv.ETag, sv.LastModified); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// open returns length bytes of the source's plaintext from start (its
// object key from the KMS, or the SSE-C key, which the reader then owns).
func (c *copySourceData) open(ctx context.Context, start, length int64) (io.ReadCloser, error) {
	segs, err := segments(c.v)
	if err != nil {
		return nil, err
	}
	oek, err := c.s.dataKey(ctx, c.b, c.v.Key, c.v.Encryption, c.customer)
	if err != nil {
		return nil, err
	}
	c.customer = nil // openRange wipes oek (which may be it) on Close or failure
	return c.s.openRange(ctx, segs, start, length, oek)
}

// close wipes an SSE-C key that open did not take.
func (c *copySourceData) close() {
	if c.customer != nil {
		c.customer.Wipe()
		c.customer = nil
	}
}

// changesEncryption reports whether a copy of sv onto itself changes its
// encryption attributes, which makes the copy legal (SSE-SPEC §6.2): any
// destination encryption header, a default encryption configured on the
// bucket, or a destination mode that differs from the source's.
func (s *Server) changesEncryption(h http.Header, b s3node.Bucket, plan writePlan, sv s3node.ObjectVersion) bool {
	if hasSSEHeader(h) || len(b.Encryption) > 0 {
		return true
	}
	var from s3node.SSEType
	if sv.Encryption != nil {
		from = sv.Encryption.Type
	}
	return plan.typ != from
}

// normClass stores STANDARD as "", as PutObject does.
func normClass(c string) string {
	if c == "STANDARD" {
		return ""
	}
	return c
}

// copyConditions evaluates the x-amz-copy-source-if-* headers. AWS: when
// if-match holds, if-unmodified-since is ignored; when if-none-match
// holds, if-modified-since is ignored; every failure is
// PreconditionFailed (412), never NotModified.
func copyConditions(h http.Header, etag string, modified time.Time) error {
	modified = modified.Truncate(time.Second)
	fail := func(cond string) error {
		return s3err.New(s3err.PreconditionFailed).With("Condition", cond)
	}
	parse := func(v string) (time.Time, bool) {
		t, err := http.ParseTime(v)
		return t, err == nil
	}
	if im := h.Get("x-amz-copy-source-if-match"); im != "" {
		if !etagMatches(im, etag) {
			return fail("x-amz-copy-source-If-Match")
		}
	} else if t, ok := parse(h.Get("x-amz-copy-source-if-unmodified-since")); ok && modified.After(t) {
		return fail("x-amz-copy-source-If-Unmodified-Since")
	}
	if inm := h.Get("x-amz-copy-source-if-none-match"); inm != "" {
		if etagMatches(inm, etag) {
			return fail("x-amz-copy-source-If-None-Match")
		}
	} else if t, ok := parse(h.Get("x-amz-copy-source-if-modified-since")); ok && !modified.After(t) {
		return fail("x-amz-copy-source-If-Modified-Since")
	}
	return nil
}

// blobResult is what writeBlob stored.
type blobResult struct {
	blobID    string
	size      int64             // plaintext bytes
	md5       []byte            // binary MD5 of the plaintext
	checksums map[string]string // algorithm → base64, of the plaintext
}

// writeBlob streams src into a new committed blob, encrypted with the key
// of part of oek unless oek is nil, computing the plaintext's MD5 and the
// checksums of algs (upper-case algorithm names). On error nothing is
// left behind.
func (s *Server) writeBlob(ctx context.Context, src io.Reader, algs map[string]bool, oek *objcrypt.ObjectKey, part int) (blobResult, error) {
	md := md5.New()
	writers := []io.Writer{md}
	hashes := map[string]hash.Hash{}
	names := make([]string, 0, len(algs))
	for alg := range algs {
		names = append(names, alg)
	}
	sort.Strings(names)
	for _, alg := range names {
		if hh, _, ok := sigv4.NewChecksum("x-amz-checksum-" + strings.ToLower(alg)); ok {
			hashes[alg] = hh
			writers = append(writers, hh)
		}
	}
	bw, err := s.data.Create(ctx)
	if err != nil {
		return blobResult{}, err
	}
	sink, err := encryptTo(bw, oek, part)
	if err != nil {
		_ = bw.Abort()
		return blobResult{}, err
	}
	n, err := io.Copy(io.MultiWriter(append(writers, sink)...), src)
	if err == nil {
		err = sink.Close()
	}
	if err != nil {
		_ = bw.Abort()
		return blobResult{}, err
	}
	id, err := bw.Commit(ctx)
	if err != nil {
		return blobResult{}, err
	}
	res := blobResult{blobID: id, size: n, md5: md.Sum(nil)}
	if len(hashes) > 0 {
		res.checksums = make(map[string]string, len(hashes))
		for alg, hh := range hashes {
			res.checksums[alg] = base64.StdEncoding.EncodeToString(hh.Sum(nil))
		}
	}
	return res, nil
}
