package sigv4

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an authentication failure in S3 terms: Code and Message are the
// strings AWS S3 puts in its XML error body, Status the HTTP status. Messages
// never contain secret keys, computed signatures or strings to sign.
//
// Extra holds additional elements AWS adds to some errors (for example
// "HeadersNotSigned", "Region", "ServerTime", "X-Amz-Expires"); the S3 error
// renderer may copy them into the XML body.
type Error struct {
	Code    string
	Message string
	Status  int
	Extra   map[string]string
	// Err is an underlying cause, for the log only (never rendered).
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sigv4: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("sigv4: %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, sigv4.ErrSignatureDoesNotMatch).
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) || t == nil {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

func newErr(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

func (e *Error) with(k, v string) *Error {
	if e.Extra == nil {
		e.Extra = map[string]string{}
	}
	e.Extra[k] = v
	return e
}

// ErrUnknownAccessKey is returned by a Credentials implementation when the
// access key id does not exist. Verify turns it into InvalidAccessKeyId.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Sentinel errors for errors.Is comparisons: each matches any *Error with
// the same Code (their Message is empty, so it is not compared).
var (
	// ErrNoAuth is returned by Verify and VerifyPostPolicy when the request
	// carries no signature at all (an anonymous request). Callers decide
	// whether to allow anonymous access; if not, render it as is
	// (AccessDenied, 403). errors.Is(err, ErrNoAuth) matches only it.
	ErrNoAuth = &Error{Code: "AccessDenied", Message: "Access Denied", Status: http.StatusForbidden}

	ErrAccessDenied          = &Error{Code: "AccessDenied", Status: http.StatusForbidden}
	ErrSignatureDoesNotMatch = &Error{Code: "SignatureDoesNotMatch", Status: http.StatusForbidden}
	ErrInvalidAccessKeyID    = &Error{Code: "InvalidAccessKeyId", Status: http.StatusForbidden}
	ErrRequestTimeTooSkewed  = &Error{Code: "RequestTimeTooSkewed", Status: http.StatusForbidden}
	ErrAuthHeaderMalformed   = &Error{Code: "AuthorizationHeaderMalformed", Status: http.StatusBadRequest}
	ErrAuthQueryParams       = &Error{Code: "AuthorizationQueryParametersError", Status: http.StatusBadRequest}
	ErrContentSHA256Mismatch = &Error{Code: "XAmzContentSHA256Mismatch", Status: http.StatusBadRequest}
	ErrIncompleteBody        = &Error{Code: "IncompleteBody", Status: http.StatusBadRequest}
	ErrBadDigest             = &Error{Code: "BadDigest", Status: http.StatusBadRequest}
	ErrInvalidRequest        = &Error{Code: "InvalidRequest", Status: http.StatusBadRequest}
	ErrInvalidArgument       = &Error{Code: "InvalidArgument", Status: http.StatusBadRequest}
	ErrMalformedTrailer      = &Error{Code: "MalformedTrailerError", Status: http.StatusBadRequest}
	ErrInvalidPolicyDocument = &Error{Code: "InvalidPolicyDocument", Status: http.StatusBadRequest}
	ErrEntityTooSmall        = &Error{Code: "EntityTooSmall", Status: http.StatusBadRequest}
	ErrEntityTooLarge        = &Error{Code: "EntityTooLarge", Status: http.StatusBadRequest}
	ErrMissingContentLength  = &Error{Code: "MissingContentLength", Status: http.StatusLengthRequired}
	ErrNotImplemented        = &Error{Code: "NotImplemented", Status: http.StatusNotImplemented}
	ErrInvalidToken          = &Error{Code: "InvalidToken", Status: http.StatusBadRequest}
)

// AWS messages used in more than one place.
const (
	errOnlyOneAuthMechanism    = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
	msgUnsupportedMechanism    = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
	msgSignatureDoesNotMatch   = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgIncompleteBody          = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgMalformedTrailer        = "The request contained trailing data that was not well-formed or did not conform to our published schema."
	msgContentSHA256Mismatch   = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgRequestTimeTooSkewed    = "The difference between the request time and the current time is too large."
	msgInvalidAccessKeyID      = "The AWS Access Key Id you provided does not exist in our records."
	msgAuthHeaderMalformed     = "The authorization header is malformed; "
	msgQueryRequiredParameters = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)

func errSignature() *Error {
	return newErr("SignatureDoesNotMatch", http.StatusForbidden, msgSignatureDoesNotMatch)
}

func errIncompleteBody() *Error {
	return newErr("IncompleteBody", http.StatusBadRequest, msgIncompleteBody)
}

func errMalformedTrailer() *Error {
	return newErr("MalformedTrailerError", http.StatusBadRequest, msgMalformedTrailer)
}

func errHeaderMalformed(detail string) *Error {
	return newErr("AuthorizationHeaderMalformed", http.StatusBadRequest, msgAuthHeaderMalformed+detail)
}

func errQuery(msg string) *Error {
	return newErr("AuthorizationQueryParametersError", http.StatusBadRequest, msg)
}

func errInvalidRequest(msg string) *Error {
	return newErr("InvalidRequest", http.StatusBadRequest, msg)
}

func errInvalidArgument(msg string) *Error {
	return newErr("InvalidArgument", http.StatusBadRequest, msg)
}

func errAccessDenied(msg string) *Error {
	return newErr("AccessDenied", http.StatusForbidden, msg)
}
