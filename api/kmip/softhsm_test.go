//go:build cgo

package kmip

import (
	"testing"

	"github.com/s3kms/s3kms/hsm/pkcs11"
	"github.com/s3kms/s3kms/hsm/pkcs11/softhsmtest"
	"github.com/s3kms/s3kms/kms"
)

// softHSMProtector returns a pkcs11 protector on a fresh SoftHSM token.
// SoftHSM reads its configuration once per process: only one test of
// this package may call it.
func softHSMProtector(t *testing.T) kms.Protector {
	t.Helper()
	tok, err := softhsmtest.Setup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := pkcs11.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
	if _, err := pkcs11.InitMaster(cfg); err != nil {
		t.Fatal(err)
	}
	p, err := pkcs11.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
