//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"
	"strings"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3kms/s3kms/kms"
)

// unavailable lists the return values that mean the device, the token or
// our session is gone (removed token, dead daemon, finalized library): the
// KMS answers EUnavailable and the caller may retry later. Our handles
// (the masters found at New, the roots' session objects) become invalid
// when the token goes: SoftHSM answers a deleted token with
// CKR_(UN)WRAPPING_KEY_HANDLE_INVALID.
var unavailable = map[p11.Error]bool{
	p11.CKR_KEY_HANDLE_INVALID:            true,
	p11.CKR_OBJECT_HANDLE_INVALID:         true,
	p11.CKR_WRAPPING_KEY_HANDLE_INVALID:   true,
	p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID: true,
	p11.CKR_DEVICE_ERROR:                  true,
	p11.CKR_DEVICE_MEMORY:                 true,
	p11.CKR_DEVICE_REMOVED:                true,
	p11.CKR_TOKEN_NOT_PRESENT:             true,
	p11.CKR_TOKEN_NOT_RECOGNIZED:          true,
	p11.CKR_SESSION_CLOSED:                true,
	p11.CKR_SESSION_HANDLE_INVALID:        true,
	p11.CKR_SESSION_COUNT:                 true,
	p11.CKR_CRYPTOKI_NOT_INITIALIZED:      true,
	p11.CKR_USER_NOT_LOGGED_IN:            true,
	p11.CKR_FUNCTION_FAILED:               true,
	p11.CKR_SLOT_ID_INVALID:               true,
}

// misuse lists the return values of C_UnwrapKey that mean our call or the
// key objects are wrong, not the wrapped bytes: EInternal, not EDecrypt.
// (A wrapped key that fails the RFC 5649 integrity check gets
// CKR_WRAPPED_KEY_INVALID or CKR_ENCRYPTED_DATA_INVALID from most HSMs,
// CKR_GENERAL_ERROR from SoftHSM 2.6.1.)
var misuse = map[p11.Error]bool{
	p11.CKR_ARGUMENTS_BAD:                    true,
	p11.CKR_ATTRIBUTE_READ_ONLY:              true,
	p11.CKR_ATTRIBUTE_TYPE_INVALID:           true,
	p11.CKR_ATTRIBUTE_VALUE_INVALID:          true,
	p11.CKR_CURVE_NOT_SUPPORTED:              true,
	p11.CKR_FUNCTION_NOT_SUPPORTED:           true,
	p11.CKR_HOST_MEMORY:                      true,
	p11.CKR_KEY_FUNCTION_NOT_PERMITTED:       true,
	p11.CKR_KEY_TYPE_INCONSISTENT:            true,
	p11.CKR_MECHANISM_INVALID:                true,
	p11.CKR_MECHANISM_PARAM_INVALID:          true,
	p11.CKR_OPERATION_ACTIVE:                 true,
	p11.CKR_SESSION_READ_ONLY:                true,
	p11.CKR_TEMPLATE_INCOMPLETE:              true,
	p11.CKR_TEMPLATE_INCONSISTENT:            true,
	p11.CKR_UNWRAPPING_KEY_SIZE_RANGE:        true,
	p11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: true,
	p11.CKR_USER_TYPE_INVALID:                true,
	p11.CKR_CRYPTOKI_ALREADY_INITIALIZED:     true,
	p11.CKR_BUFFER_TOO_SMALL:                 true,
	p11.CKR_OPERATION_NOT_INITIALIZED:        true,
	p11.CKR_SESSION_PARALLEL_NOT_SUPPORTED:   true,
	p11.CKR_TOKEN_WRITE_PROTECTED:            true,
	p11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN:   true,
	p11.CKR_USER_PIN_NOT_INITIALIZED:         true,
	p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT:   true,
	p11.CKR_KEY_NOT_WRAPPABLE:                true,
	p11.CKR_KEY_UNEXTRACTABLE:                true,
}

// ckrName returns the CKR_ name of a PKCS#11 error ("CKR_PIN_INCORRECT"),
// or err's text for other errors. It never contains key material: PKCS#11
// return values are numbers.
func ckrName(err error) string {
	var e p11.Error
	if errors.As(err, &e) {
		// p11.Error prints "pkcs11: 0x000000A0: CKR_PIN_INCORRECT".
		s := e.Error()
		if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s[i+2:], "CKR_") {
			return s[i+2:]
		}
		return fmt.Sprintf("CKR_0x%X", uint(e))
	}
	return err.Error()
}

// hsmError turns an error of PKCS#11 function fn into a *kms.Error:
// EUnavailable for device, token and session failures, EInternal for
// anything else. The message names fn and the CKR_ value.
func hsmError(err error, fn string) error {
	return kms.Wrap(errorCode(err, kms.EInternal), err, "HSM "+fn+": "+ckrName(err))
}

// unwrapCode classifies an error of C_UnwrapKey: EUnavailable for
// device, token and session failures, EInternal for misuse, EDecrypt for
// the rest (the wrapped key does not open under that master).
func unwrapCode(err error) kms.Code {
	var e p11.Error
	if errors.As(err, &e) && misuse[e] {
		return kms.EInternal
	}
	return errorCode(err, kms.EDecrypt)
}

func errorCode(err error, otherwise kms.Code) kms.Code {
	var e p11.Error
	if errors.As(err, &e) && unavailable[e] {
		return kms.EUnavailable
	}
	return otherwise
}

// isCode reports whether err is the PKCS#11 return value rv.
func isCode(err error, rv uint) bool {
	return errors.Is(err, p11.Error(rv))
}
