package pkcs11

import (
	"errors"
	"fmt"
)

// DefaultMasterKeyID is the CKA_ID of the master key when
// Config.MasterKeyID is empty.
const DefaultMasterKeyID = "s3kms-master"

// Typed start-up errors. They are wrapped with context; test them with
// errors.Is.
var (
	// ErrModule: the PKCS#11 library is missing or cannot be loaded or
	// initialized.
	ErrModule = errors.New("pkcs11: cannot load PKCS#11 module")
	// ErrToken: no token carries the configured label.
	ErrToken = errors.New("pkcs11: no token with that label")
	// ErrPIN: the token refused the PIN (incorrect, wrong length or
	// locked).
	ErrPIN = errors.New("pkcs11: login failed")
	// ErrNoMaster: the token has no key with the master key's CKA_ID.
	ErrNoMaster = errors.New("pkcs11: no master key in the token (run s3kms kms hsm init)")
)

// Config says where the master key lives.
type Config struct {
	Module      string // path of the PKCS#11 library
	TokenLabel  string
	PIN         string
	MasterKeyID string // CKA_ID (as given, bytes of the string) of the master key object; default "s3kms-master"
	// PreviousMasterKeyIDs are older masters kept in the token after a
	// master rotation; roots wrapped under them still open.
	PreviousMasterKeyIDs []string
}

func (c Config) withDefaults() Config {
	if c.MasterKeyID == "" {
		c.MasterKeyID = DefaultMasterKeyID
	}
	return c
}

// Format prints the configuration without the PIN.
func (c Config) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "pkcs11.Config{Module: %q, TokenLabel: %q, PIN: [redacted], MasterKeyID: %q, PreviousMasterKeyIDs: %q}",
		c.Module, c.TokenLabel, c.MasterKeyID, c.PreviousMasterKeyIDs)
}
