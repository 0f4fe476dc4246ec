package s3node

import (
	"errors"
	"fmt"
)

// Code is a protocol-neutral error class. The S3 API owns the one table
// that maps a Code and Reason to an S3 error code and HTTP status.
type Code string

// Error classes returned by the S3 domain and the interfaces it consumes.
const (
	EInvalid     Code = "invalid"     // malformed input: bad key, bad marker, bad part order
	ENotFound    Code = "not_found"   // no such bucket, key, version, upload or user
	EConflict    Code = "conflict"    // exists already, not empty, or a concurrent change won
	EUnavailable Code = "unavailable" // a dependency (database, disk) is unreachable; retry later
	EInternal    Code = "internal"    // anything else; details only in the log
)

// Reason refines a Code with the S3 condition it stands for. Reasons are
// named after the S3 error codes they usually become.
type Reason string

// Reasons used with ENotFound.
const (
	NoSuchBucket  Reason = "NoSuchBucket"
	NoSuchKey     Reason = "NoSuchKey"
	NoSuchVersion Reason = "NoSuchVersion"
	NoSuchUpload  Reason = "NoSuchUpload"
	NoSuchUser    Reason = "NoSuchUser"
	NoSuchBlob    Reason = "NoSuchBlob"
)

// Reasons used with EConflict.
const (
	BucketAlreadyExists Reason = "BucketAlreadyExists"
	BucketNotEmpty      Reason = "BucketNotEmpty"
	UserAlreadyExists   Reason = "UserAlreadyExists"
	UploadAlreadyExists Reason = "UploadAlreadyExists"
)

// Reasons used with EUnavailable.
const (
	// StorageFull: the data directory has no space (ENOSPC) or the
	// node's quota is exhausted (EDQUOT). Deleting objects frees space;
	// no restart is needed.
	StorageFull Reason = "StorageFull"
)

// Reasons used with EInvalid.
const (
	InvalidArgument   Reason = "InvalidArgument"
	InvalidPart       Reason = "InvalidPart"
	InvalidPartOrder  Reason = "InvalidPartOrder"
	EntityTooSmall    Reason = "EntityTooSmall"
	InvalidVersioning Reason = "IllegalVersioningConfigurationException"
)

// Error is the S3 domain error. Message is safe to show to the caller; Err,
// if set, is the cause and is only logged.
type Error struct {
	Code    Code
	Reason  Reason // may be empty
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := "s3node: " + string(e.Code)
	if e.Reason != "" {
		s += " (" + string(e.Reason) + ")"
	}
	s += ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code, reason and formatted
// message.
func Errorf(code Code, reason Reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message wrapping cause.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorReason returns the reason of the first *Error in err's chain, or "".
func ErrorReason(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
