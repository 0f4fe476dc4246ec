package s3api

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/s3kms/s3kms/kms"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
	"github.com/s3kms/s3kms/s3node/sse"
)

// kind is what a request addresses.
type kind uint8

const (
	kindService kind = iota // no bucket: ListBuckets
	kindBucket              // a bucket
	kindObject              // an object in a bucket
)

// routeKey selects a route: method, target kind and sub-resource (the
// query parameter naming what the request is about, "" for none).
type routeKey struct {
	method string
	kind   kind
	sub    string
}

// handlerFunc serves one operation. It returns the response to write or an
// error; it never writes to the client itself.
type handlerFunc func(s *Server, rq *request) (*response, error)

// route is one row of the table.
type route struct {
	op string      // S3 operation name, for logs
	fn handlerFunc // nil: known to S3, not served yet (NotImplemented)
	// newBucket marks the route that creates its bucket: the bucket is not
	// loaded nor its owner checked before the handler runs.
	newBucket bool
}

// subResources lists, in priority order, the query parameters that name a
// sub-resource. The first one present in a request is its sub-resource.
// "list-type=2" stands for list-type with the value 2 (ListObjectsV2).
var subResources = []string{
	"uploadId", "uploads", "versioning", "location", "tagging", "acl", "policy",
	"policyStatus", "cors", "lifecycle", "encryption", "website", "logging",
	"notification", "replication", "requestPayment", "object-lock", "retention",
	"legal-hold", "torrent", "restore", "select", "attributes", "accelerate",
	"analytics", "inventory", "metrics", "intelligent-tiering",
	"ownershipControls", "publicAccessBlock", "delete", "versions", "list-type=2",
}

// routeTable is the one table from (method, kind, sub-resource) to
// operation. Rows with a nil handler are S3 operations this node does not
// serve yet: they answer NotImplemented.
func routeTable() map[routeKey]route {
	const (
		get, head, put, post, del = http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete
	)
	t := map[routeKey]route{
		{get, kindService, ""}: {op: "ListBuckets", fn: (*Server).listBuckets},

		{put, kindBucket, ""}:                  {op: "CreateBucket", fn: (*Server).createBucket, newBucket: true},
		{head, kindBucket, ""}:                 {op: "HeadBucket", fn: (*Server).headBucket},
		{del, kindBucket, ""}:                  {op: "DeleteBucket", fn: (*Server).deleteBucket},
		{get, kindBucket, "location"}:          {op: "GetBucketLocation", fn: (*Server).getBucketLocation},
		{get, kindBucket, ""}:                  {op: "ListObjects", fn: (*Server).listObjectsV1},
		{get, kindBucket, "list-type=2"}:       {op: "ListObjectsV2", fn: (*Server).listObjectsV2},
		{get, kindBucket, "versions"}:          {op: "ListObjectVersions", fn: (*Server).listObjectVersions},
		{get, kindBucket, "uploads"}:           {op: "ListMultipartUploads", fn: (*Server).listMultipartUploads},
		{post, kindBucket, "delete"}:           {op: "DeleteObjects", fn: (*Server).deleteObjects},
		{post, kindBucket, ""}:                 {op: "PostObject", fn: (*Server).postObject, newBucket: true}, // authenticates by its form; checks the bucket itself
		{get, kindBucket, "versioning"}:        {op: "GetBucketVersioning", fn: (*Server).getBucketVersioning},
		{put, kindBucket, "versioning"}:        {op: "PutBucketVersioning", fn: (*Server).putBucketVersioning},
		{get, kindBucket, "tagging"}:           {op: "GetBucketTagging", fn: (*Server).getBucketTagging},
		{put, kindBucket, "tagging"}:           {op: "PutBucketTagging", fn: (*Server).putBucketTagging},
		{del, kindBucket, "tagging"}:           {op: "DeleteBucketTagging", fn: (*Server).deleteBucketTagging},
		{get, kindBucket, "encryption"}:        {op: "GetBucketEncryption", fn: (*Server).getBucketEncryption},
		{put, kindBucket, "encryption"}:        {op: "PutBucketEncryption", fn: (*Server).putBucketEncryption},
		{del, kindBucket, "encryption"}:        {op: "DeleteBucketEncryption", fn: (*Server).deleteBucketEncryption},
		{get, kindBucket, "acl"}:               {op: "GetBucketAcl"},
		{put, kindBucket, "acl"}:               {op: "PutBucketAcl"},
		{get, kindBucket, "policy"}:            {op: "GetBucketPolicy"},
		{put, kindBucket, "policy"}:            {op: "PutBucketPolicy"},
		{del, kindBucket, "policy"}:            {op: "DeleteBucketPolicy"},
		{get, kindBucket, "object-lock"}:       {op: "GetObjectLockConfiguration"},
		{get, kindBucket, "ownershipControls"}: {op: "GetBucketOwnershipControls"},

		{put, kindObject, ""}:           {op: "PutObject", fn: (*Server).putObject},
		{get, kindObject, ""}:           {op: "GetObject", fn: (*Server).getObject},
		{head, kindObject, ""}:          {op: "HeadObject", fn: (*Server).headObject},
		{del, kindObject, ""}:           {op: "DeleteObject", fn: (*Server).deleteObject},
		{post, kindObject, "uploads"}:   {op: "CreateMultipartUpload", fn: (*Server).createMultipartUpload},
		{put, kindObject, "uploadId"}:   {op: "UploadPart", fn: (*Server).uploadPart}, // also UploadPartCopy
		{get, kindObject, "uploadId"}:   {op: "ListParts", fn: (*Server).listParts},
		{post, kindObject, "uploadId"}:  {op: "CompleteMultipartUpload", fn: (*Server).completeMultipartUploadHandler},
		{del, kindObject, "uploadId"}:   {op: "AbortMultipartUpload", fn: (*Server).abortMultipartUpload},
		{get, kindObject, "tagging"}:    {op: "GetObjectTagging", fn: (*Server).getObjectTagging},
		{put, kindObject, "tagging"}:    {op: "PutObjectTagging", fn: (*Server).putObjectTagging},
		{del, kindObject, "tagging"}:    {op: "DeleteObjectTagging", fn: (*Server).deleteObjectTagging},
		{get, kindObject, "acl"}:        {op: "GetObjectAcl"},
		{put, kindObject, "acl"}:        {op: "PutObjectAcl"},
		{get, kindObject, "attributes"}: {op: "GetObjectAttributes", fn: (*Server).getObjectAttributes},
		{get, kindObject, "retention"}:  {op: "GetObjectRetention"},
		{get, kindObject, "legal-hold"}: {op: "GetObjectLegalHold"},
		{post, kindObject, "restore"}:   {op: "RestoreObject"},
		{post, kindObject, "select"}:    {op: "SelectObjectContent"},
	}
	return t
}

// request is what a handler gets.
type request struct {
	r          *http.Request
	requestID  string
	op         string     // the route's operation name, once resolved
	errCode    s3err.Code // the S3 error answered, if any
	user       Identity
	auth       *sigv4.Result
	bucketName string
	key        string
	bucket     s3node.Bucket // loaded for every route but CreateBucket
}

// target parses the bucket and key of r, virtual-hosted-style when the
// Host is a sub-domain of the configured Domain, else path-style.
func (s *Server) target(r *http.Request) (bucket, key string) {
	path := r.URL.Path
	if s.domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if b, ok := strings.CutSuffix(host, "."+s.domain); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// subResource returns the sub-resource named by the query.
func subResource(r *http.Request) string {
	q := r.URL.Query()
	for _, name := range subResources {
		if name == "list-type=2" {
			if q.Get("list-type") == "2" {
				return name
			}
			continue
		}
		if q.Has(name) {
			return name
		}
	}
	return ""
}

// lookup finds the route of a request: NotImplemented for an S3 operation
// not served yet or a sub-resource without a row for this method,
// MethodNotAllowed for a method the resource does not support.
func (s *Server) lookup(method string, k kind, sub string) (route, error) {
	rt, ok := s.routes[routeKey{method, k, sub}]
	switch {
	case ok && rt.fn != nil:
		return rt, nil
	case ok:
		return rt, s3err.New(s3err.NotImplemented)
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		return route{}, s3err.New(s3err.MethodNotAllowed)
	}
	if sub != "" {
		return route{}, s3err.New(s3err.NotImplemented)
	}
	return route{}, s3err.New(s3err.MethodNotAllowed)
}

// serveHTTP is the whole request pipeline (see the package doc).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveHealth(w, r) {
		return
	}
	start := time.Now()
	rw := &trackingWriter{ResponseWriter: w}
	rq := &request{requestID: newRequestID()}
	// A shallow copy: the request id goes with every KMS call (kmsclient
	// sends it as X-Request-Id), so that one request can be followed
	// across services. The server's own *http.Request must keep its Body:
	// net/http looks at its type after the handler (an unread
	// "Expect: 100-continue" body makes it close the connection).
	rq.r = r.WithContext(kms.WithRequestID(r.Context(), rq.requestID))
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		// (an empty body stays http.NoBody: SigV4 looks at it)
		body = &countingBody{ReadCloser: r.Body}
		rq.r.Body = body
	}
	s.metrics.started()
	defer s.observeRequest(rw, rq, body, start)
	defer s.recoverPanic(rw, rq)

	resp, err := s.dispatch(rq)
	s.finish(rw, rq, resp, err)
}

func (s *Server) dispatch(rq *request) (*response, error) {
	r := rq.r
	// D3: an SSE-C key sent in clear is refused before anything else
	// (SSE-SPEC §1.6, §10 item 2).
	if sse.HasCustomerHeaders(r.Header) && !sse.Secure(r, s.trustedProxies, s.allowSSECHTTP) {
		return nil, sse.ErrInsecure()
	}
	if err := s.authenticate(rq); err != nil {
		return nil, err
	}

	rq.bucketName, rq.key = s.target(r)
	k := kindService
	switch {
	case rq.key != "":
		k = kindObject
	case rq.bucketName != "":
		k = kindBucket
	}
	rt, err := s.lookup(r.Method, k, subResource(r))
	rq.op = rt.op
	if err != nil {
		return nil, err
	}
	if k != kindService && !rt.newBucket {
		if err := s.authorizeBucket(rq); err != nil {
			return nil, err
		}
	}
	return rt.fn(s, rq)
}
