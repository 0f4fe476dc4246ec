package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
	"github.com/s3kms/s3kms/s3node/sse"
)

// maxPostFields bounds the form fields preceding the file (the policy
// alone may be 64 KiB).
const maxPostFields = 96 << 10

// postResponse is the document of a POST upload with
// success_action_status 201.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// isPostForm reports whether r is a browser-form upload: a POST of
// multipart/form-data to a bucket, without a sub-resource. Only such a
// request may reach its route (PostObject) unauthenticated.
func (s *Server) isPostForm(r *http.Request) bool {
	if r.Method != http.MethodPost || subResource(r) != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return false
	}
	bucket, key := s.target(r)
	return bucket != "" && key == ""
}

// postForm is the parsed beginning of a POST upload: the fields before
// the file, and the file part, unread.
type postForm struct {
	fields map[string]string // as sent
	lower  map[string]string // names lower-case
	file   *multipart.Part   // nil when the form has no file
}

// readPostForm reads the fields up to the file part.
func readPostForm(r *http.Request) (*postForm, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, s3err.Msg(s3err.PreconditionFailed, "At least one of the pre-conditions you specified did not hold").
			With("Condition", "Bucket POST must be of the enclosure-type multipart/form-data")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	f := &postForm{fields: map[string]string{}, lower: map[string]string{}}
	budget := int64(maxPostFields)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			e := s3err.New(s3err.MalformedPOSTRequest)
			e.Err = err
			return nil, e
		}
		name := p.FormName()
		if strings.EqualFold(name, "file") {
			f.file = p
			return f, nil
		}
		if name == "" {
			return nil, s3err.New(s3err.MalformedPOSTRequest)
		}
		val, err := io.ReadAll(io.LimitReader(p, budget+1))
		if err != nil {
			e := s3err.New(s3err.MalformedPOSTRequest)
			e.Err = err
			return nil, e
		}
		budget -= int64(len(val))
		if budget < 0 {
			return nil, s3err.Msg(s3err.MalformedPOSTRequest, "Your POST request fields preceding the upload file were too large.")
		}
		lname := strings.ToLower(name)
		if _, dup := f.lower[lname]; dup {
			return nil, s3err.Msg(s3err.InvalidArgument, "POST requires exactly one "+lname+" field per request.").
				With("ArgumentName", lname)
		}
		f.fields[name] = string(val)
		f.lower[lname] = string(val)
	}
}

// postObject serves a browser-form POST upload: the policy is verified
// with sigv4.VerifyPostPolicy and its conditions checked against the
// fields and the file size; the file is streamed into a new blob.
func (s *Server) postObject(rq *request) (*response, error) {
	r := rq.r
	ctx := r.Context()
	form, err := readPostForm(r)
	if err != nil {
		return nil, err
	}
	var id Identity
	pol, err := sigv4.VerifyPostPolicy(ctx, form.fields, s.credentials(&id), sigv4.Options{Region: s.region, Now: s.now})
	if err != nil {
		return nil, err
	}
	rq.user = id
	if err := s.authorizeBucket(rq); err != nil {
		return nil, err
	}
	withBucket := make(map[string]string, len(form.fields)+1)
	for k, v := range form.fields {
		if !strings.EqualFold(k, "bucket") {
			withBucket[k] = v
		}
	}
	withBucket["bucket"] = rq.bucketName
	if err := pol.CheckFields(withBucket); err != nil {
		return nil, err
	}
	if form.file == nil {
		return nil, s3err.Msg(s3err.InvalidArgument, "POST requires exactly one file upload per request.").
			With("ArgumentName", "file").With("ArgumentValue", "0")
	}
	key, ok := form.lower["key"]
	if !ok {
		return nil, s3err.Msg(s3err.InvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.").
			With("ArgumentName", "key").With("ArgumentValue", "")
	}
	key = strings.ReplaceAll(key, "${filename}", form.file.FileName())
	if key == "" || !s3node.ValidKey(key) {
		return nil, s3err.Msg(s3err.InvalidArgument, "User key must have a length greater than 0.")
	}
	rq.key = key

	v, err := postVersion(form.lower)
	if err != nil {
		return nil, err
	}
	v.Bucket, v.Key, v.Owner = rq.bucketName, key, id.CanonicalID

	// The encryption fields are the PUT headers as form fields (SSE-SPEC
	// §3.4), HTTPS rule included.
	sseFields := postSSEHeader(form.lower)
	if sse.HasCustomerHeaders(sseFields) && !sse.Secure(r, s.trustedProxies, s.allowSSECHTTP) {
		return nil, sse.ErrInsecure()
	}
	wk, err := s.newWriteKey(ctx, sseFields, rq.bucket, key)
	if err != nil {
		return nil, err
	}
	defer wk.wipe()

	limit := int64(maxObjectSize)
	if _, hi, ok := pol.ContentLengthRange(); ok && hi < limit {
		limit = hi
	}
	src := &capReader{r: form.file, left: limit, err: func(n int64) error {
		if e := pol.CheckContentLength(n); e != nil {
			return e
		}
		return s3err.New(s3err.EntityTooLarge)
	}}
	wr, err := s.writeBlob(ctx, src, nil, wk.key(), 0)
	if err != nil {
		return nil, err
	}
	if err := pol.CheckContentLength(wr.size); err != nil {
		s.deleteBlobs(rq, []string{wr.blobID})
		return nil, err
	}
	v.BlobID, v.ETag, v.Size, v.StoredSize = wr.blobID, wk.etag(0, wr.md5), wr.size, wk.storedSize(wr.size)
	v.Encryption = wk.info
	v.LastModified = s.now().UTC()
	res, err := s.meta.PutObject(ctx, v)
	if err != nil {
		s.discardBlob(rq, v.BlobID, err)
		return nil, err
	}
	s.deleteBlobs(rq, res.Unreferenced)
	return s.postResult(rq, form.lower, v, res.VersionID), nil
}

// postVersion builds the object's metadata from the form fields.
func postVersion(f map[string]string) (s3node.ObjectVersion, error) {
	var v s3node.ObjectVersion
	meta := http.Header{}
	for name, val := range f {
		if strings.HasPrefix(name, "x-amz-meta-") {
			meta.Set(name, val)
		}
	}
	var err error
	if v.UserMetadata, err = userMetadata(meta); err != nil {
		return v, err
	}
	v.ContentType = f["content-type"]
	if v.ContentType == "" {
		v.ContentType = "binary/octet-stream"
	}
	v.CacheControl, v.ContentDisposition, v.ContentEncoding = f["cache-control"], f["content-disposition"], f["content-encoding"]
	v.ContentLanguage, v.Expires = f["content-language"], f["expires"]
	if sc := f["x-amz-storage-class"]; sc != "" {
		if !storageClasses[sc] {
			return v, s3err.New(s3err.InvalidStorageClass)
		}
		v.StorageClass = normClass(sc)
	}
	if t := f["tagging"]; t != "" {
		var doc struct {
			Tags []struct {
				Key   string `xml:"Key"`
				Value string `xml:"Value"`
			} `xml:"TagSet>Tag"`
		}
		if err := xml.Unmarshal([]byte(t), &doc); err != nil {
			return v, s3err.New(s3err.MalformedXML)
		}
		q := url.Values{}
		for _, tg := range doc.Tags {
			q.Add(tg.Key, tg.Value)
		}
		if v.Tags, err = parseTagging(q.Encode()); err != nil {
			return v, err
		}
	}
	return v, nil
}

// postResult is the response of a successful POST upload:
// success_action_redirect (303), else success_action_status 200, 201
// (with a PostResponse document) or 204 (the default).
func (s *Server) postResult(rq *request, f map[string]string, v s3node.ObjectVersion, versionID string) *response {
	r := rq.r
	resp := &response{status: http.StatusNoContent}
	resp.setHeader("ETag", v.ETag)
	setEncryptionHeaders(resp.setHeader, v.Encryption, true)
	if versionID != "" && versionID != s3node.NullVersionID {
		resp.setHeader("x-amz-version-id", versionID)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	location := scheme + "://" + r.Host + strings.TrimSuffix(r.URL.Path, "/") + "/" + url.PathEscape(v.Key)
	resp.setHeader("Location", location)

	redirect, ok := f["success_action_redirect"]
	if !ok {
		redirect = f["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		q := u.Query()
		q.Set("bucket", rq.bucketName)
		q.Set("key", v.Key)
		q.Set("etag", v.ETag)
		u.RawQuery = q.Encode()
		resp.status = http.StatusSeeOther
		resp.setHeader("Location", u.String())
		return resp
	}
	switch f["success_action_status"] {
	case "200":
		resp.status = http.StatusOK
	case "201":
		resp.status = http.StatusCreated
		resp.doc = &postResponse{Location: location, Bucket: rq.bucketName, Key: v.Key, ETag: v.ETag}
	}
	return resp
}

// postSSEHeader collects the encryption form fields (names lower case)
// as request headers, for sse.ParseRequest.
func postSSEHeader(f map[string]string) http.Header {
	h := http.Header{}
	for name, val := range f {
		if strings.HasPrefix(name, "x-amz-server-side-encryption") {
			h.Set(name, val)
		}
	}
	return h
}

// capReader reads at most left bytes of r; one byte more is the error
// err(bytes seen).
type capReader struct {
	r    io.Reader
	left int64
	seen int64
	err  func(n int64) error
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.seen += int64(n)
	if int64(n) > c.left {
		return 0, c.err(c.seen)
	}
	c.left -= int64(n)
	return n, err
}
