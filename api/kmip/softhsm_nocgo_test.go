//go:build !cgo

package kmip

import (
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// softHSMProtector needs cgo (crypto11); without it the pkcs11 subtests
// cannot run.
func softHSMProtector(t *testing.T) kms.Protector {
	t.Skip("the pkcs11 protector needs cgo")
	return nil
}
