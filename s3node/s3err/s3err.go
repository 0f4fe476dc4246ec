// Package s3err is the one table of S3 errors the S3 node answers with:
// each Code has its HTTP status and AWS's default message, and every error
// response is rendered here, as AWS does:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>
//	<Key>photos/cat.jpg</Key><RequestId>…</RequestId><HostId>…</HostId></Error>
//
// Errors that need extra elements (ArgumentName/ArgumentValue of
// InvalidArgument, BucketName, Key, HeadersNotSigned, …) carry them in
// Error.Fields, rendered in order. HEAD responses carry no body. Messages
// are AWS's texts: clients and tests match on them (SSE-SPEC.md).
//
// Handlers return *Error values (or domain errors that the node maps to
// one); anything else becomes InternalError with the request id, and its
// details go only to the log.
package s3err

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
)

// Code is an S3 error code, e.g. "NoSuchKey".
type Code string

// Codes answered by the S3 node. The table below gives each its status and
// default message.
const (
	AccessDenied                                   Code = "AccessDenied"
	AuthorizationHeaderMalformed                   Code = "AuthorizationHeaderMalformed"
	AuthorizationQueryParametersError              Code = "AuthorizationQueryParametersError"
	BadDigest                                      Code = "BadDigest"
	BucketAlreadyExists                            Code = "BucketAlreadyExists"
	BucketAlreadyOwnedByYou                        Code = "BucketAlreadyOwnedByYou"
	BucketNotEmpty                                 Code = "BucketNotEmpty"
	EntityTooLarge                                 Code = "EntityTooLarge"
	EntityTooSmall                                 Code = "EntityTooSmall"
	IllegalVersioningConfiguration                 Code = "IllegalVersioningConfigurationException"
	IncompleteBody                                 Code = "IncompleteBody"
	InternalError                                  Code = "InternalError"
	InvalidAccessKeyID                             Code = "InvalidAccessKeyId"
	InvalidArgument                                Code = "InvalidArgument"
	InvalidBucketName                              Code = "InvalidBucketName"
	InvalidDigest                                  Code = "InvalidDigest"
	InvalidEncryptionAlgorithmError                Code = "InvalidEncryptionAlgorithmError"
	InvalidPart                                    Code = "InvalidPart"
	InvalidPartOrder                               Code = "InvalidPartOrder"
	InvalidPartNumber                              Code = "InvalidPartNumber"
	InvalidRange                                   Code = "InvalidRange"
	InvalidRequest                                 Code = "InvalidRequest"
	InvalidStorageClass                            Code = "InvalidStorageClass"
	InvalidTag                                     Code = "InvalidTag"
	KMSDisabled                                    Code = "KMS.DisabledException"
	KMSInvalidState                                Code = "KMS.KMSInvalidStateException"
	KMSNotFound                                    Code = "KMS.NotFoundException"
	MalformedPOSTRequest                           Code = "MalformedPOSTRequest"
	MalformedXML                                   Code = "MalformedXML"
	MethodNotAllowed                               Code = "MethodNotAllowed"
	MissingContentLength                           Code = "MissingContentLength"
	MissingSecurityHeader                          Code = "MissingSecurityHeader"
	NoSuchBucket                                   Code = "NoSuchBucket"
	NoSuchKey                                      Code = "NoSuchKey"
	NoSuchTagSet                                   Code = "NoSuchTagSet"
	NoSuchUpload                                   Code = "NoSuchUpload"
	NoSuchVersion                                  Code = "NoSuchVersion"
	NotImplemented                                 Code = "NotImplemented"
	NotModified                                    Code = "NotModified"
	PreconditionFailed                             Code = "PreconditionFailed"
	RequestTimeTooSkewed                           Code = "RequestTimeTooSkewed"
	ServerSideEncryptionConfigurationNotFoundError Code = "ServerSideEncryptionConfigurationNotFoundError"
	ServiceUnavailable                             Code = "ServiceUnavailable"
	SignatureDoesNotMatch                          Code = "SignatureDoesNotMatch"
	SlowDown                                       Code = "SlowDown"
	XAmzContentSHA256Mismatch                      Code = "XAmzContentSHA256Mismatch"
)

type entry struct {
	status  int
	message string
}

// table is the one table from codes to status and AWS's default message.
var table = map[Code]entry{
	AccessDenied:                      {http.StatusForbidden, "Access Denied"},
	AuthorizationHeaderMalformed:      {http.StatusBadRequest, "The authorization header is malformed."},
	AuthorizationQueryParametersError: {http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter."},
	BadDigest:                         {http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."},
	BucketAlreadyExists:               {http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	BucketAlreadyOwnedByYou:           {http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it."},
	BucketNotEmpty:                    {http.StatusConflict, "The bucket you tried to delete is not empty"},
	EntityTooLarge:                    {http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size"},
	EntityTooSmall:                    {http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size"},
	IllegalVersioningConfiguration:    {http.StatusBadRequest, "The Versioning element must be specified"},
	IncompleteBody:                    {http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header"},
	InternalError:                     {http.StatusInternalServerError, "We encountered an internal error. Please try again."},
	InvalidAccessKeyID:                {http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	InvalidArgument:                   {http.StatusBadRequest, "Invalid Argument"},
	InvalidBucketName:                 {http.StatusBadRequest, "The specified bucket is not valid."},
	InvalidDigest:                     {http.StatusBadRequest, "The Content-MD5 you specified is not valid."},
	InvalidEncryptionAlgorithmError:   {http.StatusBadRequest, "The Encryption request you specified is not valid. Supported value: AES256."},
	InvalidPart:                       {http.StatusBadRequest, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
	InvalidPartOrder:                  {http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number."},
	InvalidPartNumber:                 {http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable"},
	InvalidRange:                      {http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"},
	InvalidRequest:                    {http.StatusBadRequest, "Invalid Request"},
	InvalidStorageClass:               {http.StatusBadRequest, "The storage class you specified is not valid"},
	InvalidTag:                        {http.StatusBadRequest, "The tag provided was not a valid tag."},
	KMSDisabled:                       {http.StatusBadRequest, "The KMS key is disabled."},
	KMSInvalidState:                   {http.StatusBadRequest, "The KMS key is not in a valid state for this operation."},
	KMSNotFound:                       {http.StatusBadRequest, "Invalid keyId"},
	MalformedPOSTRequest:              {http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data."},
	MalformedXML:                      {http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema"},
	MethodNotAllowed:                  {http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."},
	MissingContentLength:              {http.StatusLengthRequired, "You must provide the Content-Length HTTP header."},
	MissingSecurityHeader:             {http.StatusBadRequest, "Your request was missing a required header"},
	NoSuchBucket:                      {http.StatusNotFound, "The specified bucket does not exist"},
	NoSuchKey:                         {http.StatusNotFound, "The specified key does not exist."},
	NoSuchTagSet:                      {http.StatusNotFound, "The TagSet does not exist"},
	NoSuchUpload:                      {http.StatusNotFound, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	NoSuchVersion:                     {http.StatusNotFound, "The specified version does not exist."},
	NotImplemented:                    {http.StatusNotImplemented, "A header you provided implies functionality that is not implemented"},
	NotModified:                       {http.StatusNotModified, "Not Modified"},
	PreconditionFailed:                {http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold"},
	RequestTimeTooSkewed:              {http.StatusForbidden, "The difference between the request time and the current time is too large."},
	ServerSideEncryptionConfigurationNotFoundError: {http.StatusNotFound, "The server side encryption configuration was not found"},
	ServiceUnavailable:        {http.StatusServiceUnavailable, "Please reduce your request rate."},
	SignatureDoesNotMatch:     {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	SlowDown:                  {http.StatusServiceUnavailable, "Please reduce your request rate."},
	XAmzContentSHA256Mismatch: {http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
}

// RetryAfterSeconds is the Retry-After header of every 503 answer.
const RetryAfterSeconds = "1"

// Field is an extra element of an error body, e.g. ArgumentName.
type Field struct {
	Name, Value string
}

// Error is an S3 error response.
type Error struct {
	Code    Code
	Message string
	// Fields are extra elements rendered after Message, in order.
	Fields []Field
	// Header holds extra response headers (e.g. Allow, x-amz-delete-marker).
	Header http.Header
	// Err is the cause, for logs only; never rendered.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("s3: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("s3: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status of the error's code (500 for an unknown code).
func (e *Error) Status() int {
	if ent, ok := table[e.Code]; ok {
		return ent.status
	}
	return http.StatusInternalServerError
}

// New returns an error with the code's default message.
func New(code Code) *Error {
	return &Error{Code: code, Message: table[code].message}
}

// Msg returns an error with a specific message.
func Msg(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// With returns e with an extra element appended.
func (e *Error) With(name, value string) *Error {
	e.Fields = append(e.Fields, Field{name, value})
	return e
}

// Argument returns an InvalidArgument error naming the argument, as AWS
// does for header and parameter validation.
func Argument(message, name, value string) *Error {
	return Msg(InvalidArgument, message).With("ArgumentName", name).With("ArgumentValue", value)
}

// Known reports whether code is in the table.
func Known(code Code) bool {
	_, ok := table[code]
	return ok
}

// From returns err as an *Error: itself if it is one (anywhere in its
// chain), else InternalError wrapping it.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) && Known(e.Code) {
		return e
	}
	return &Error{Code: InternalError, Message: table[InternalError].message, Err: err}
}

// body is the XML form of an error.
type body struct {
	XMLName   xml.Name `xml:"Error"`
	Code      Code     `xml:"Code"`
	Message   string   `xml:"Message"`
	Fields    []xmlField
	Resource  string `xml:"Resource,omitempty"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId,omitempty"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// Write writes err as an S3 error response: status, x-amz-request-id, and
// (except for HEAD and 304) the XML body. resource is the request path.
func Write(w http.ResponseWriter, r *http.Request, err error, requestID, hostID string) *Error {
	e := From(err)
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	h.Set("x-amz-request-id", requestID)
	if hostID != "" {
		h.Set("x-amz-id-2", hostID)
	}
	status := e.Status()
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		// A dependency is down or the node is overloaded: ask clients
		// to come back, as RFC 9110 §10.2.3 allows for 503.
		h.Set("Retry-After", RetryAfterSeconds)
	}
	if r.Method == http.MethodHead || status == http.StatusNotModified {
		w.WriteHeader(status)
		return e
	}
	b := body{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: requestID, HostID: hostID}
	for _, f := range e.Fields {
		b.Fields = append(b.Fields, xmlField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	out, merr := xml.Marshal(b)
	if merr != nil {
		// Only invalid UTF-8 in a field could fail; answer without it.
		out, _ = xml.Marshal(body{Code: e.Code, Message: e.Message, RequestID: requestID})
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
	return e
}
