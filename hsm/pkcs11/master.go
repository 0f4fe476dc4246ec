//go:build cgo

package pkcs11

import (
	"bytes"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// masterTemplate is the complete template of a master key: an AES-256
// token object that only wraps and unwraps, never leaves the token
// (sensitive, not extractable) and cannot be changed afterwards.
func masterTemplate(id string) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_ID, []byte(id)),
		p11.NewAttribute(p11.CKA_LABEL, id),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
}

// InitMaster creates the master key (see masterTemplate) in the token
// unless a key with CKA_ID cfg.MasterKeyID exists already; created tells
// which. The key is generated inside the HSM. Creation is serialized in
// the process (SoftHSM races on concurrent token-object creation) and
// checks again under that lock, so it never makes a duplicate; two
// processes running it at the same moment are not guarded against.
func InitMaster(cfg Config) (created bool, err error) {
	cfg = cfg.withDefaults()
	m, err := openModule(cfg.Module)
	if err != nil {
		return false, err
	}
	defer m.release()
	slot, err := m.findSlot(cfg.TokenLabel)
	if err != nil {
		return false, err
	}
	// A read-write session: token objects cannot be created in a
	// read-only one. It lives only as long as InitMaster.
	sh, err := m.openSession(slot, cfg.PIN, p11.CKF_RW_SESSION)
	if err != nil {
		return false, err
	}
	defer m.closeSession(slot, sh)

	m.tokenMu.Lock()
	defer m.tokenMu.Unlock()
	switch _, err := findMaster(m.ctx, sh, cfg.MasterKeyID); {
	case err == nil:
		return false, nil
	case !errors.Is(err, ErrNoMaster):
		return false, err
	}
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}
	if _, err := m.ctx.GenerateKey(sh, mech, masterTemplate(cfg.MasterKeyID)); err != nil {
		return false, hsmError(err, "C_GenerateKey (master key)")
	}
	return true, nil
}

// findMaster returns the handle of the one secret key token object with
// CKA_ID id. It fails with ErrNoMaster if there is none, and refuses more
// than one: which of them wraps the roots would be a guess.
func findMaster(ctx *p11.Ctx, sh p11.SessionHandle, id string) (p11.ObjectHandle, error) {
	hs, err := findObjects(ctx, sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_ID, []byte(id)),
	}, 2)
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%w: CKA_ID %q", ErrNoMaster, id)
	case 1:
		return hs[0], checkMaster(ctx, sh, hs[0], id)
	default:
		return 0, fmt.Errorf("pkcs11: more than one key with CKA_ID %q in the token; remove the duplicates", id)
	}
}

// findObjects returns up to max objects matching template.
func findObjects(ctx *p11.Ctx, sh p11.SessionHandle, template []*p11.Attribute, max int) ([]p11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sh, template); err != nil {
		return nil, hsmError(err, "C_FindObjectsInit")
	}
	hs, _, err := ctx.FindObjects(sh, max)
	if ferr := ctx.FindObjectsFinal(sh); err == nil && ferr != nil {
		return nil, hsmError(ferr, "C_FindObjectsFinal")
	}
	if err != nil {
		return nil, hsmError(err, "C_FindObjects")
	}
	return hs, nil
}

// checkMaster refuses a master that is not an AES key kept in the token
// (sensitive, not extractable) and able to wrap and unwrap: one imported
// by hand with other attributes would silently weaken every root.
func checkMaster(ctx *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle, id string) error {
	want := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
	}
	query := make([]*p11.Attribute, len(want))
	for i, a := range want {
		query[i] = p11.NewAttribute(a.Type, nil)
	}
	got, err := ctx.GetAttributeValue(sh, h, query)
	if err != nil {
		return hsmError(err, "C_GetAttributeValue (master key)")
	}
	names := []string{"CKA_KEY_TYPE AES", "CKA_SENSITIVE true", "CKA_EXTRACTABLE false", "CKA_WRAP true", "CKA_UNWRAP true"}
	for i, a := range want {
		if !bytes.Equal(got[i].Value, a.Value) {
			return fmt.Errorf("pkcs11: the key with CKA_ID %q cannot be the master: it lacks %s", id, names[i])
		}
	}
	return nil
}
