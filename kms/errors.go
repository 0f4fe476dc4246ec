package kms

import (
	"errors"
	"fmt"
)

// Code is a protocol-neutral error code. Each protocol adapter (api for
// HTTP, api/kmip for KMIP) owns exactly one table mapping codes to its own
// errors; nothing else inspects error strings.
type Code string

// Error codes returned by the KMS domain and by the interfaces it consumes.
const (
	EInvalid       Code = "invalid"        // malformed request: bad id, bad context, bad parameter
	ENotFound      Code = "not_found"      // unknown key or key version
	EConflict      Code = "conflict"       // key exists already, or a concurrent update won
	EForbidden     Code = "forbidden"      // the caller's policy does not allow the operation
	EUnauthorized  Code = "unauthorized"   // no or unknown client identity
	EDisabled      Code = "disabled"       // key disabled (or pending deletion)
	EState         Code = "wrong_state"    // operation not allowed in the key's lifecycle state
	EDestroyed     Code = "destroyed"      // key material destroyed
	EDecrypt       Code = "decrypt_failed" // ciphertext tampered, truncated, or wrong context / key
	EUnavailable   Code = "unavailable"    // a dependency (database, HSM) is unreachable; retry later
	ETooLarge      Code = "too_large"      // payload larger than allowed
	EInternal      Code = "internal"       // anything else; details only in the log
	ENotExportable Code = "not_exportable" // key material may not leave the KMS
)

// Error is the KMS domain error. Message is safe to show to the caller: it
// never contains key material, plaintext or secrets. Err, if set, is the
// underlying cause and is only ever logged.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("kms: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("kms: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
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

// ErrorMessage returns the caller-safe message of err: the message of the
// first *Error in its chain, or a generic text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
