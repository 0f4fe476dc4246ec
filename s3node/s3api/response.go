package s3api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// xmlNS is the namespace of S3's XML documents.
const xmlNS = "http://s3.amazonaws.com/doc/2006-03-01/"

// response is what a handler returns; finish writes it.
type response struct {
	status int // 0 means 200
	header http.Header
	// doc, if set, is marshalled as the XML body.
	doc any
	// body, if set, is streamed as the body (Content-Length set by the
	// handler) and closed afterwards. Not read for HEAD.
	body io.ReadCloser
}

func (r *response) setHeader(name, value string) {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(name, value)
}

// trackingWriter remembers whether the status line was sent, which
// status, and how many body bytes were written.
type trackingWriter struct {
	http.ResponseWriter
	wrote  bool
	status int
	n      int64
}

func (w *trackingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status = status
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
	}
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// newRequestID returns a random request id in AWS's style (16 upper-case
// hex digits).
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// hostID derives the x-amz-id-2 value from the request id.
func hostID(requestID string) string {
	sum := sha256.Sum256([]byte("s3kms/" + requestID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// finish writes every response, successful or not.
func (s *Server) finish(w *trackingWriter, rq *request, resp *response, err error) {
	r := rq.r
	if resp != nil && resp.body != nil {
		defer resp.body.Close()
	}
	if err != nil {
		s.writeError(w, rq, err)
		return
	}
	h := w.Header()
	for k, vs := range resp.header {
		h[k] = vs
	}
	h.Set("x-amz-request-id", rq.requestID)
	h.Set("x-amz-id-2", hostID(rq.requestID))
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case resp.doc != nil:
		out, merr := xml.Marshal(resp.doc)
		if merr != nil {
			s.writeError(w, rq, fmt.Errorf("marshal response: %w", merr))
			return
		}
		h.Set("Content-Type", "application/xml")
		h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, xml.Header)
			_, _ = w.Write(out)
		}
	case resp.body != nil && r.Method != http.MethodHead:
		w.WriteHeader(status)
		if _, cerr := io.Copy(w, resp.body); cerr != nil {
			// The status line is gone: all we can do is cut the
			// connection short so the client sees a truncated body.
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "s3: streaming response failed",
				slog.String("request_id", rq.requestID), slog.String("error", cerr.Error()))
			panic(http.ErrAbortHandler)
		}
	default:
		if status != http.StatusNoContent && status != http.StatusNotModified && h.Get("Content-Length") == "" {
			h.Set("Content-Length", "0")
		}
		w.WriteHeader(status)
	}
}

// writeError renders err with s3err.Write and logs server-side failures.
func (s *Server) writeError(w http.ResponseWriter, rq *request, err error) {
	e := toS3Error(err)
	switch e.Code {
	case s3err.NoSuchBucket:
		if rq.bucketName != "" {
			e = withField(e, "BucketName", rq.bucketName)
		}
	case s3err.NoSuchKey:
		e = withField(e, "Key", rq.key)
	}
	e = s3err.Write(w, rq.r, e, rq.requestID, hostID(rq.requestID))
	rq.errCode = e.Code
	level := slog.LevelDebug
	switch {
	case rq.r.Context().Err() != nil:
		// The client went away (or its deadline passed): not a server
		// failure, whatever the store answered to the cancelled context.
	case e.Status() == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case e.Status() >= 500:
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", rq.requestID), slog.String("method", rq.r.Method),
		slog.String("bucket", rq.bucketName), slog.String("code", string(e.Code)),
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	s.log.LogAttrs(rq.r.Context(), level, "s3: request failed", attrs...)
}

// withField returns a copy of e with an extra element, unless it has one
// by that name already.
func withField(e *s3err.Error, name, value string) *s3err.Error {
	for _, f := range e.Fields {
		if f.Name == name {
			return e
		}
	}
	c := *e
	c.Fields = append(append([]s3err.Field(nil), e.Fields...), s3err.Field{Name: name, Value: value})
	return &c
}

// recoverPanic turns a handler panic into InternalError (if nothing was
// written yet) and logs it. http.ErrAbortHandler is passed on.
func (s *Server) recoverPanic(w *trackingWriter, rq *request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
		panic(v)
	}
	s.log.LogAttrs(rq.r.Context(), slog.LevelError, "s3: panic in handler",
		slog.String("request_id", rq.requestID), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	if w.wrote {
		panic(http.ErrAbortHandler)
	}
	s3err.Write(w, rq.r, s3err.New(s3err.InternalError), rq.requestID, hostID(rq.requestID))
	rq.errCode = s3err.InternalError
}

// toS3Error is the one mapping from every error a handler can return to an
// S3 error: s3err errors pass through, sigv4 errors keep their code (codes
// missing from the s3err table fall back to InvalidRequest or
// AccessDenied by status), s3node domain errors map by reason and code,
// body-reading failures become IncompleteBody, anything else
// InternalError (the cause is kept for the log only).
func toS3Error(err error) *s3err.Error {
	var se *s3err.Error
	if errors.As(err, &se) && s3err.Known(se.Code) {
		return se
	}
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		code := s3err.Code(ve.Code)
		if !s3err.Known(code) {
			switch {
			case ve.Status == http.StatusForbidden:
				code = s3err.AccessDenied
			case ve.Status == http.StatusNotImplemented:
				code = s3err.NotImplemented
			case ve.Status < 500:
				code = s3err.InvalidRequest
			default:
				code = s3err.InternalError
			}
		}
		e := s3err.New(code)
		if ve.Message != "" {
			e.Message = ve.Message
		}
		names := make([]string, 0, len(ve.Extra))
		for k := range ve.Extra {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			e = e.With(k, ve.Extra[k])
		}
		e.Err = err
		return e
	}
	var de *s3node.Error
	if errors.As(err, &de) {
		return fromDomain(de, err)
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &s3err.Error{Code: s3err.IncompleteBody, Message: s3err.New(s3err.IncompleteBody).Message, Err: err}
	case errors.Is(err, http.ErrBodyReadAfterClose), errors.Is(err, context.Canceled):
		return &s3err.Error{Code: s3err.IncompleteBody, Message: s3err.New(s3err.IncompleteBody).Message, Err: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &s3err.Error{Code: s3err.EntityTooLarge, Message: s3err.New(s3err.EntityTooLarge).Message, Err: err}
	}
	return s3err.From(err)
}

// domainReasons maps s3node reasons to S3 codes.
var domainReasons = map[s3node.Reason]s3err.Code{
	s3node.NoSuchBucket:        s3err.NoSuchBucket,
	s3node.NoSuchKey:           s3err.NoSuchKey,
	s3node.NoSuchVersion:       s3err.NoSuchVersion,
	s3node.NoSuchUpload:        s3err.NoSuchUpload,
	s3node.NoSuchUser:          s3err.InvalidAccessKeyID,
	s3node.BucketAlreadyExists: s3err.BucketAlreadyExists,
	s3node.BucketNotEmpty:      s3err.BucketNotEmpty,
	s3node.InvalidPart:         s3err.InvalidPart,
	s3node.InvalidPartOrder:    s3err.InvalidPartOrder,
	s3node.EntityTooSmall:      s3err.EntityTooSmall,
	s3node.InvalidArgument:     s3err.InvalidArgument,
	s3node.InvalidVersioning:   s3err.IllegalVersioningConfiguration,
}

func fromDomain(de *s3node.Error, err error) *s3err.Error {
	code, ok := domainReasons[de.Reason]
	if !ok {
		switch de.Code {
		case s3node.EInvalid:
			code = s3err.InvalidArgument
		case s3node.EUnavailable:
			code = s3err.ServiceUnavailable
		default: // ENotFound/NoSuchBlob (data lost), EConflict without reason, EInternal
			code = s3err.InternalError
		}
	}
	e := s3err.New(code)
	switch {
	case code == s3err.InvalidArgument && de.Message != "":
		e.Message = de.Message
	case de.Reason == s3node.StorageFull:
		e.Message = msgStorageFull
	}
	e.Err = err
	return e
}

// msgStorageFull answers writes while the data directory is full (ENOSPC,
// EDQUOT). AWS has no such error; 503 ServiceUnavailable says "retry
// later", which is right: space comes back when objects are deleted.
const msgStorageFull = "The server has no storage space left for object data. Please retry later."
