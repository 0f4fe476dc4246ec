package s3api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/objcrypt"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sse"
)

// getObject serves GetObject.
func (s *Server) getObject(rq *request) (*response, error) { return s.readObject(rq, true) }

// headObject serves HeadObject: GetObject without the body (and, through
// s3err.Write, without an error body).
func (s *Server) headObject(rq *request) (*response, error) { return s.readObject(rq, false) }

// responseOverrides are the query parameters that override response
// headers of GetObject and HeadObject.
var responseOverrides = [][2]string{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// readObject serves GetObject and HeadObject. A concurrent write may
// replace the version and delete its blob between reading the metadata
// and opening the blob: the read is then tried again on the new version.
func (s *Server) readObject(rq *request, withBody bool) (*response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := s.readObjectOnce(rq, withBody)
		if err != nil && attempt < 4 && s3node.ErrorReason(err) == s3node.NoSuchBlob {
			continue
		}
		return resp, err
	}
}

func (s *Server) readObjectOnce(rq *request, withBody bool) (*response, error) {
	r := rq.r
	ctx := r.Context()
	q := r.URL.Query()
	partNumber := 0
	if q.Has("partNumber") {
		n, err := parsePartNumber(q)
		if err != nil {
			return nil, err
		}
		if r.Header.Get("Range") != "" {
			return nil, s3err.Msg(s3err.InvalidRequest, "Cannot specify both Range header and partNumber query parameter")
		}
		partNumber = n
	}
	versionID, err := versionParam(q)
	if err != nil {
		return nil, err
	}
	v, err := s.meta.GetObject(ctx, rq.bucketName, rq.key, versionID)
	if err != nil {
		return nil, err
	}
	if v.DeleteMarker {
		return nil, deleteMarkerError(rq.bucket, v, versionID != "")
	}
	// SSE-SPEC §1.3: the part number exists, then the SSE headers, then
	// preconditions (a caller without the key learns nothing from them),
	// then the range.
	var partStart, partLen int64
	if partNumber > 0 {
		if partStart, partLen, err = partRange(v, partNumber); err != nil {
			return nil, err
		}
	}
	if err := refuseSSEOnRead(r.Header); err != nil {
		return nil, err
	}
	customer, err := s.readKey(r.Header, sse.CustomerPrefix, rq.bucket, v, false)
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep && customer != nil {
			customer.Wipe()
		}
	}()

	resp := &response{header: objectHeaders(v)}
	setEncryptionHeaders(resp.header.Set, v.Encryption, false)
	if id := versionHeader(rq.bucket, v.VersionID); id != "" {
		resp.header.Set("x-amz-version-id", id)
	}
	if err := checkConditions(r.Header, v.ETag, v.LastModified); err != nil {
		if e := (*s3err.Error)(nil); errors.As(err, &e) && e.Code == s3err.NotModified {
			e.Header = http.Header{}
			for _, k := range []string{"ETag", "Last-Modified", "Cache-Control", "Expires", "x-amz-version-id"} {
				if val := resp.header.Get(k); val != "" {
					e.Header.Set(k, val)
				}
			}
		}
		return nil, err
	}
	for _, o := range responseOverrides {
		if val, ok := q[o[0]]; ok {
			resp.header.Set(o[1], strings.Join(val, ","))
		}
	}

	start, length := int64(0), v.Size
	if partNumber > 0 {
		a, n := partStart, partLen
		if len(v.Parts) > 0 {
			start, length = a, n
			resp.status = http.StatusPartialContent
			if n > 0 {
				resp.header.Set("Content-Range", "bytes "+formatSize(a)+"-"+formatSize(a+n-1)+"/"+formatSize(v.Size))
			}
			if strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
				// The part's own checksums, as AWS.
				for _, p := range v.Parts {
					if p.PartNumber != partNumber {
						continue
					}
					for alg, val := range p.Checksums {
						resp.header.Set("x-amz-checksum-"+strings.ToLower(alg), val)
					}
				}
			}
		}
	} else if rng := r.Header.Get("Range"); rng != "" {
		a, n, ok, err := parseRange(rng, v.Size)
		if err != nil {
			return nil, err
		}
		if ok {
			start, length = a, n
			resp.status = http.StatusPartialContent
			resp.header.Set("Content-Range", "bytes "+formatSize(a)+"-"+formatSize(a+n-1)+"/"+formatSize(v.Size))
		}
	}
	if resp.status != http.StatusPartialContent && strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
		for alg, val := range v.Checksums {
			resp.header.Set("x-amz-checksum-"+strings.ToLower(alg), val)
		}
		if v.ChecksumType != "" {
			resp.header.Set("x-amz-checksum-type", v.ChecksumType)
		}
	}
	resp.header.Set("Content-Length", formatSize(length))
	if withBody {
		segs, err := segments(v)
		if err != nil {
			return nil, err
		}
		oek, err := s.dataKey(ctx, rq.bucket, v.Key, v.Encryption, customer)
		if err != nil {
			return nil, err
		}
		keep = true // the body owns the key now
		body, err := s.openRange(ctx, segs, start, length, oek)
		if err != nil {
			return nil, err
		}
		resp.body = body
	}
	return resp, nil
}

// partRange is where part n of v lies. An object not uploaded in parts
// has one part, the whole object.
func partRange(v s3node.ObjectVersion, n int) (start, length int64, err error) {
	if len(v.Parts) == 0 {
		if n == 1 {
			return 0, v.Size, nil
		}
	} else {
		for _, p := range v.Parts {
			if p.PartNumber == n {
				return p.Offset, p.Size, nil
			}
		}
	}
	// SSE-SPEC §9 chooses 400 InvalidPart (what s3-tests assert) over
	// MinIO's 416 InvalidPartNumber.
	e := s3err.Msg(s3err.InvalidPart, "The requested partnumber is not satisfiable").
		With("PartNumberRequested", strconv.Itoa(n)).With("ActualPartCount", strconv.Itoa(max(v.PartsCount, 1)))
	return 0, 0, e
}

// objectHeaders are the response headers describing a version.
func objectHeaders(v s3node.ObjectVersion) http.Header {
	h := http.Header{}
	h.Set("ETag", v.ETag)
	h.Set("Last-Modified", v.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", v.ContentType)
	set := func(k, val string) {
		if val != "" {
			h.Set(k, val)
		}
	}
	set("Content-Encoding", v.ContentEncoding)
	set("Content-Disposition", v.ContentDisposition)
	set("Content-Language", v.ContentLanguage)
	set("Cache-Control", v.CacheControl)
	set("Expires", v.Expires)
	set("x-amz-storage-class", v.StorageClass)
	if v.VersionID != "" && v.VersionID != s3node.NullVersionID {
		h.Set("x-amz-version-id", v.VersionID)
	}
	if v.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(v.PartsCount))
	}
	if len(v.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(v.Tags)))
	}
	for k, val := range v.UserMetadata {
		h["X-Amz-Meta-"+k] = []string{val}
	}
	return h
}

// parseRange parses a Range header against an object of size bytes. It
// returns ok=false when the header is to be ignored (not a single byte
// range, as AWS), and InvalidRange when no byte of the range exists.
func parseRange(v string, size int64) (start, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	invalid := func() (int64, int64, bool, error) {
		e := s3err.New(s3err.InvalidRange).With("RangeRequested", v).With("ActualObjectSize", formatSize(size))
		e.Header = http.Header{"Content-Range": {"bytes */" + formatSize(size)}}
		return 0, 0, false, e
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if first == "" { // suffix: the last n bytes
		n, good := num(last)
		if !good {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return invalid()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, good := num(first)
	if !good {
		return 0, 0, false, nil
	}
	b := size - 1
	if last != "" {
		if b, good = num(last); !good || b < a {
			return 0, 0, false, nil
		}
	}
	if a >= size {
		return invalid()
	}
	b = min(b, size-1)
	return a, b - a + 1, true, nil
}

// checkConditions evaluates the conditional headers in AWS's order:
// If-Match (else If-Unmodified-Since) fails with PreconditionFailed;
// then If-None-Match (else If-Modified-Since) with NotModified. When
// If-Match holds, If-Unmodified-Since is ignored; when If-None-Match is
// present, If-Modified-Since is ignored.
func checkConditions(h http.Header, etag string, modified time.Time) error {
	modified = modified.Truncate(time.Second)
	if im := h.Get("If-Match"); im != "" {
		if !etagMatches(im, etag) {
			return s3err.New(s3err.PreconditionFailed).With("Condition", "If-Match")
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && modified.After(t) {
			return s3err.New(s3err.PreconditionFailed).With("Condition", "If-Unmodified-Since")
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, etag) {
			return s3err.New(s3err.NotModified)
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !modified.After(t) {
			return s3err.New(s3err.NotModified)
		}
	}
	return nil
}

// etagMatches reports whether the list of entity tags in a header (or
// "*") matches etag. Quotes and weak prefixes are ignored.
func etagMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == want {
			return true
		}
	}
	return false
}

// segment is a piece of an object's data stored in one blob.
type segment struct {
	blobID     string
	offset     int64 // plaintext offset in the object
	size       int64 // plaintext size
	storedSize int64 // size of the blob's data
	part       int   // part number whose key encrypts it (0: single blob)
}

// segments lists where a version's data lives.
func segments(v s3node.ObjectVersion) ([]segment, error) {
	if len(v.Parts) == 0 {
		if v.Size == 0 {
			return nil, nil
		}
		if v.BlobID == "" {
			return nil, s3node.Errorf(s3node.EInternal, "", "object %q has no data", v.Key)
		}
		return []segment{{blobID: v.BlobID, size: v.Size, storedSize: v.StoredSize}}, nil
	}
	segs := make([]segment, len(v.Parts))
	for i, p := range v.Parts {
		segs[i] = segment{blobID: p.BlobID, offset: p.Offset, size: p.Size, storedSize: p.StoredSize, part: p.PartNumber}
	}
	return segs, nil
}

// maxEagerBlobs bounds how many blobs openRange opens before the body
// is sent (one file descriptor each, for the whole response).
const maxEagerBlobs = 1024

// openRange returns a reader of length bytes from start, over the
// segments' blobs. The blobs of the first maxEagerBlobs segments in the
// range are all opened at once, before the status line: a missing blob is
// an error the caller can retry, and a concurrent overwrite that deletes
// them (an open file stays readable after unlink) cannot cut the body
// short. Blobs of segments beyond that bound (only objects of more than
// maxEagerBlobs parts) are opened as they are reached, so such an
// overwrite can still end their body early. Each blob is read through
// io.ReaderAt: nothing is buffered. With oek, the segments are encrypted
// (objcrypt) and only the packages the range needs are decrypted; the
// reader owns oek from then on and wipes it on Close (also when
// openRange fails). Close closes every blob still open.
func (s *Server) openRange(ctx context.Context, segs []segment, start, length int64, oek *objcrypt.ObjectKey) (io.ReadCloser, error) {
	rr := &rangeReader{ctx: ctx, data: s.data, pos: start, end: start + length, oek: oek}
	for _, sg := range segs {
		if sg.offset+sg.size > start && sg.offset < start+length {
			rr.segs = append(rr.segs, sg)
		}
	}
	rr.blobs = make([]s3node.Blob, len(rr.segs))
	for i := range rr.segs[:min(len(rr.segs), maxEagerBlobs)] {
		b, err := rr.openBlob(rr.segs[i])
		if err != nil {
			rr.Close()
			return nil, err
		}
		rr.blobs[i] = b
	}
	return rr, nil
}

type rangeReader struct {
	ctx      context.Context
	data     s3node.DataStore
	segs     []segment     // remaining segments, the first one current
	blobs    []s3node.Blob // open blob of each of segs; nil: not open yet
	pos, end int64         // object offsets
	sr       io.Reader     // the current segment's bytes of the range
	oek      *objcrypt.ObjectKey
}

// openBlob opens the blob of sg and checks that it holds the segment.
func (rr *rangeReader) openBlob(sg segment) (s3node.Blob, error) {
	b, err := rr.data.Open(rr.ctx, sg.blobID)
	if err != nil {
		return nil, err
	}
	if b.Size() < sg.size || (rr.oek != nil && b.Size() != sg.storedSize) {
		b.Close()
		return nil, s3node.Errorf(s3node.EInternal, "", "blob %s is shorter than its object", sg.blobID)
	}
	return b, nil
}

// start makes the first remaining segment current, opening its blob if
// it is not open yet.
func (rr *rangeReader) start() error {
	sg := rr.segs[0]
	if rr.blobs[0] == nil {
		b, err := rr.openBlob(sg)
		if err != nil {
			return err
		}
		rr.blobs[0] = b
	}
	from := rr.pos - sg.offset
	to := min(rr.end, sg.offset+sg.size) - sg.offset
	if rr.oek == nil {
		rr.sr = io.NewSectionReader(rr.blobs[0], from, to-from)
		return nil
	}
	r, err := objcrypt.NewReader(rr.blobs[0], sg.storedSize, rr.oek, sg.part, from, to-from)
	if err != nil {
		return err
	}
	rr.sr = r
	return nil
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	for {
		if rr.sr == nil {
			if len(rr.segs) == 0 {
				return 0, io.EOF
			}
			if err := rr.start(); err != nil {
				return 0, err
			}
		}
		n, err := rr.sr.Read(p)
		rr.pos += int64(n)
		if err == io.EOF {
			rr.blobs[0].Close()
			rr.sr = nil
			rr.segs, rr.blobs = rr.segs[1:], rr.blobs[1:]
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil && errors.Is(err, objcrypt.ErrAuth) {
			// Stored data that does not authenticate: never served.
			err = s3node.Errorf(s3node.EInternal, "", "object data of blob %s does not authenticate", rr.segs[0].blobID)
		}
		return n, err
	}
}

func (rr *rangeReader) Close() error {
	if rr.oek != nil {
		rr.oek.Wipe()
	}
	var first error
	for i, b := range rr.blobs {
		if b != nil {
			if err := b.Close(); err != nil && first == nil {
				first = err
			}
			rr.blobs[i] = nil
		}
	}
	rr.sr = nil
	return first
}

// deleteMarkerError is the error of reading a delete marker: NoSuchKey
// when it is the current version, MethodNotAllowed when it was named by
// its version id; both with x-amz-delete-marker and the marker's id.
func deleteMarkerError(b s3node.Bucket, v s3node.ObjectVersion, byID bool) error {
	e := s3err.New(s3err.NoSuchKey)
	if byID {
		e = s3err.New(s3err.MethodNotAllowed)
	}
	e.Header = http.Header{"X-Amz-Delete-Marker": {"true"}}
	if id := versionHeader(b, v.VersionID); id != "" {
		e.Header.Set("x-amz-version-id", id)
	}
	return e
}
