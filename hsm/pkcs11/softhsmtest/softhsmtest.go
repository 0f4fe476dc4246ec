//go:build cgo

// Package softhsmtest makes hermetic SoftHSM2 tokens for tests of the
// pkcs11 protector and of the commands that use it.
//
// SoftHSM reads its configuration (SOFTHSM2_CONF) once, at C_Initialize,
// and keeps it until C_Finalize. So a test binary calls Setup from
// TestMain, before the first pkcs11.New or InitMaster of the process.
// More tokens (Token.InitToken) can be made there or later: SoftHSM 2.6.1
// lists its token directory again at each C_GetSlotList.
//
//	func TestMain(m *testing.M) {
//		dir, _ := os.MkdirTemp("", "softhsm")
//		tok, err := softhsmtest.Setup(dir)
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err) // e.g. "apt-get install softhsm2"
//			os.Exit(1)
//		}
//		...
//	}
//
// A missing SoftHSM is an error, never a skip: CI installs softhsm2 and a
// silently skipped HSM suite would prove nothing.
package softhsmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/miekg/pkcs11"
)

// DefaultModule is where Debian's softhsm2 package installs the module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// The token Setup creates.
const (
	Label = "s3kms-test"
	PIN   = "1234"
	SOPIN = "123456"
)

// Token is an initialized SoftHSM token.
type Token struct {
	Module string // path of libsofthsm2.so
	Label  string
	PIN    string
	Conf   string // the softhsm2.conf it lives under (SOFTHSM2_CONF)
}

// Module returns the path of the SoftHSM2 PKCS#11 module: $SOFTHSM2_MODULE
// if set, else DefaultModule. It fails, telling how to install SoftHSM2,
// if the file does not exist.
func Module() (string, error) {
	path := DefaultModule
	if m := os.Getenv("SOFTHSM2_MODULE"); m != "" {
		path = m
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("softhsmtest: SoftHSM2 module %s not found (apt-get install softhsm2, or set SOFTHSM2_MODULE): %w", path, err)
	}
	return path, nil
}

// Setup writes dir/softhsm2.conf (tokens in dir/tokens, file object store,
// log level ERROR), sets SOFTHSM2_CONF to it in the process environment
// and initializes a token labelled Label with PIN and SOPIN. Call it
// before the process first initializes the SoftHSM module.
func Setup(dir string) (Token, error) {
	module, err := Module()
	if err != nil {
		return Token{}, err
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return Token{}, fmt.Errorf("softhsmtest: softhsm2-util not found (apt-get install softhsm2): %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return Token{}, err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return Token{}, fmt.Errorf("softhsmtest: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return Token{}, fmt.Errorf("softhsmtest: %w", err)
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return Token{}, fmt.Errorf("softhsmtest: %w", err)
	}
	return Token{Module: module, Conf: conf}.InitToken(Label)
}

// InitToken initializes another token, labelled label with PIN and SOPIN,
// under the same configuration as t. A process that has initialized
// SoftHSM already finds it at its next C_GetSlotList.
func (t Token) InitToken(label string) (Token, error) {
	out, err := t.util("--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN)
	if err != nil {
		return Token{}, fmt.Errorf("softhsmtest: softhsm2-util --init-token %q: %w: %s", label, err, out)
	}
	return Token{Module: t.Module, Label: label, PIN: PIN, Conf: t.Conf}, nil
}

// Delete deletes the token with softhsm2-util --delete-token, as an
// operator (or a removed device) would under a running process.
func (t Token) Delete() error {
	out, err := t.util("--delete-token", "--token", t.Label)
	if err != nil {
		return fmt.Errorf("softhsmtest: softhsm2-util --delete-token %q: %w: %s", t.Label, err, out)
	}
	return nil
}

func (t Token) util(args ...string) ([]byte, error) {
	cmd := exec.Command("softhsm2-util", args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+t.Conf)
	return cmd.CombinedOutput()
}

// ImportMaster creates an AES master key object holding key in the token,
// as s3kms kms hsm init would have generated it (token object, CKA_ID id,
// private, sensitive, not extractable, wrap and unwrap only), so that a
// pkcs11 protector on this token reproduces the software protector's
// known answers. Real masters are generated inside the HSM; importing one
// is for tests.
//
// It shares the process's PKCS#11 library state with any protector: if
// the module is initialized already it neither initializes nor finalizes
// it, so call it while no protector is being opened or closed.
func ImportMaster(t Token, id string, key []byte) (err error) {
	if len(key) != 32 {
		return fmt.Errorf("softhsmtest: master key must be 32 bytes, got %d", len(key))
	}
	ctx := pkcs11.New(t.Module)
	if ctx == nil {
		return fmt.Errorf("softhsmtest: cannot load PKCS#11 module %s", t.Module)
	}
	defer ctx.Destroy()
	switch err := ctx.Initialize(); {
	case err == nil:
		defer func() {
			if ferr := ctx.Finalize(); err == nil && ferr != nil {
				err = fmt.Errorf("softhsmtest: C_Finalize: %w", ferr)
			}
		}()
	case errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
	default:
		return fmt.Errorf("softhsmtest: C_Initialize: %w", err)
	}
	slot, err := findSlot(ctx, t.Label)
	if err != nil {
		return err
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("softhsmtest: C_OpenSession: %w", err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_USER, t.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("softhsmtest: C_Login: %w", err)
	}
	_, err = ctx.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, key),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, id),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	})
	if err != nil {
		return fmt.Errorf("softhsmtest: C_CreateObject (master %q): %w", id, err)
	}
	return nil
}

func findSlot(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("softhsmtest: C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err == nil && ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("softhsmtest: no token labelled %q", label)
}
