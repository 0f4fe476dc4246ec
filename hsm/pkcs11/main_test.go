package pkcs11

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
	"github.com/s3kms/s3kms/hsm/pkcs11/softhsmtest"
)

// Tokens of this test binary, made in TestMain before the first
// C_Initialize (SoftHSM reads SOFTHSM2_CONF only then). Tests must pass
// again with -count=N in one process: those that change a token use
// fresh CKA_IDs or a fresh token (uniq).
var (
	mainToken     softhsmtest.Token // master from InitMaster; conformance, object counts
	knownToken    softhsmtest.Token // hsmtest's known master imported
	noMasterToken softhsmtest.Token // no master
	rotateToken   softhsmtest.Token // two masters
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3kms-pkcs11-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := setupTokens(dir); err != nil {
		fmt.Fprintln(os.Stderr, "pkcs11 tests need SoftHSM2:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setupTokens(dir string) error {
	var err error
	if mainToken, err = softhsmtest.Setup(dir); err != nil {
		return err
	}
	for tok, label := range map[*softhsmtest.Token]string{
		&knownToken: "s3kms-known", &noMasterToken: "s3kms-nomaster",
		&rotateToken: "s3kms-rotate",
	} {
		if *tok, err = mainToken.InitToken(label); err != nil {
			return err
		}
	}
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		return err
	}
	return softhsmtest.ImportMaster(knownToken, DefaultMasterKeyID, ka.Master)
}

func config(tok softhsmtest.Token) Config {
	return Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
}

// newProtector makes sure the token has a master and opens a protector.
func newProtector(t testing.TB, cfg Config) *Protector {
	t.Helper()
	if _, err := InitMaster(cfg); err != nil {
		t.Fatalf("InitMaster: %v", err)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var uniqN atomic.Int64

// uniq returns prefix with a suffix unique in the process, for CKA_IDs and
// token labels of tests that must not meet a previous run's objects.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, uniqN.Add(1))
}
