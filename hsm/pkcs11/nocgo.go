//go:build !cgo

package pkcs11

import (
	"context"
	"fmt"

	"github.com/s3kms/s3kms/kms"
)

// errNoCgo is every answer of a build without cgo: loading a PKCS#11
// module needs cgo, and the rest of s3kms does not, so such a build still
// runs with the software protector.
var errNoCgo = fmt.Errorf("%w: this s3kms was built without cgo (CGO_ENABLED=0); rebuild it with a C compiler to use a PKCS#11 HSM", ErrModule)

// Protector is the pkcs11 protector; without cgo it cannot be opened.
type Protector struct{}

var _ kms.Protector = (*Protector)(nil)

// New fails: this build has no cgo.
func New(Config) (*Protector, error) { return nil, errNoCgo }

// InitMaster fails: this build has no cgo.
func InitMaster(Config) (bool, error) { return false, errNoCgo }

// Close does nothing.
func (*Protector) Close() error { return nil }

// Kind is "pkcs11".
func (*Protector) Kind() string { return "pkcs11" }

// MasterKeyID is empty.
func (*Protector) MasterKeyID() string { return "" }

// GenerateRoot fails: this build has no cgo.
func (*Protector) GenerateRoot(context.Context) ([]byte, error) { return nil, errNoCgo }

// OpenRoot fails: this build has no cgo.
func (*Protector) OpenRoot(context.Context, []byte) (kms.RootKey, error) { return nil, errNoCgo }

// RewrapRoot fails: this build has no cgo.
func (*Protector) RewrapRoot(context.Context, []byte) ([]byte, error) { return nil, errNoCgo }

// Check fails: this build has no cgo.
func (*Protector) Check(context.Context) error { return errNoCgo }
