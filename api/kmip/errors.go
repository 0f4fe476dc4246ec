package kmip

import (
	"errors"
	"fmt"

	"github.com/gemalto/kmip-go/kmip14"

	"github.com/s3kms/s3kms/kms"
)

// resultReasons is the one table from kms error codes to KMIP Result
// Reasons. The Result Message is the kms error's caller-safe message. A
// code missing here, and EInternal, become General Failure with a generic
// message; the cause goes only to the log.
var resultReasons = map[kms.Code]kmip14.ResultReason{
	kms.EInvalid:       kmip14.ResultReasonInvalidField,
	kms.ENotFound:      kmip14.ResultReasonItemNotFound,
	kms.EConflict:      kmip14.ResultReasonObjectAlreadyExists,
	kms.EForbidden:     kmip14.ResultReasonPermissionDenied,
	kms.EUnauthorized:  kmip14.ResultReasonAuthenticationNotSuccessful,
	kms.EDisabled:      kmip14.ResultReasonIllegalOperation,
	kms.EState:         kmip14.ResultReasonIllegalOperation,
	kms.EDestroyed:     kmip14.ResultReasonItemNotFound,
	kms.EDecrypt:       kmip14.ResultReasonCryptographicFailure,
	kms.EUnavailable:   kmip14.ResultReasonGeneralFailure,
	kms.ETooLarge:      kmip14.ResultReasonInvalidField,
	kms.ENotExportable: kmip14.ResultReasonNotExtractable,
	kms.EInternal:      kmip14.ResultReasonGeneralFailure,
}

// Error is a failure that only KMIP can express (Invalid Message,
// Operation Not Supported, Response Too Large…): it carries its Result
// Reason directly. Message is sent to the client, so it never holds
// request contents or key material.
type Error struct {
	Reason  kmip14.ResultReason
	Message string
	// payload, if set, is the failure's Response Payload: only for
	// operations whose failures define one (Check).
	payload encodeFunc
}

func (e *Error) Error() string {
	return fmt.Sprintf("kmip: %s: %s", e.Reason, e.Message)
}

func errorf(reason kmip14.ResultReason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// invalidMessage is the error for a request that does not decode.
func invalidMessage(format string, args ...any) *Error {
	return errorf(kmip14.ResultReasonInvalidMessage, format, args...)
}

// toResult returns the Result Reason and Result Message of err, and
// whether err is unexpected (to be logged). It never returns internal
// details.
func toResult(err error) (reason kmip14.ResultReason, message string, unexpected bool) {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Reason, ke.Message, false
	}
	code := kms.ErrorCode(err)
	r, ok := resultReasons[code]
	if !ok || code == kms.EInternal {
		return kmip14.ResultReasonGeneralFailure, "internal error", true
	}
	return r, kms.ErrorMessage(err), code == kms.EUnavailable
}
