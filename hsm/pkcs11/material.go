//go:build cgo

package pkcs11

import (
	"context"
	"fmt"
	"strings"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3kms/s3kms/kms"
)

var _ kms.MaterialProtector = (*Protector)(nil)

// WrapMaterial wraps KMIP key material (a multiple of 8 bytes up to
// kms.MaxMaterialSize; see kms.MaterialProtector) under the current
// master: it imports the material as a sensitive
// session object that is extractable only under wrapping, wraps it with
// CKM_AES_KEY_WRAP_PAD (RFC 5649) and destroys the object. The result is
// what the software protector computes for the same master.
//
// Unlike roots, this material is in clear in the s3kms process: it is
// generated or imported there, and an exportable KMIP key is handed to
// its client in clear. The HSM protects it at rest only.
func (p *Protector) WrapMaterial(ctx context.Context, plain []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(plain) < 8 || len(plain) > kms.MaxMaterialSize || len(plain)%8 != 0 {
		return nil, kms.Errorf(kms.EInvalid, "key material must be a multiple of 8 bytes from 8 to %d, got %d", kms.MaxMaterialSize, len(plain))
	}
	sh, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.put(sh)
	h, err := p.m.ctx.CreateObject(sh, materialTemplate(plain))
	if err != nil {
		return nil, hsmError(err, "C_CreateObject (key material)")
	}
	w, err := p.m.ctx.WrapKey(sh, kwp(), p.masters[0].h, h)
	if err != nil {
		err = hsmError(err, "C_WrapKey (key material) under master key "+p.masters[0].id)
	} else if want := (len(plain)+7)/8*8 + 8; len(w) != want {
		err = kms.Errorf(kms.EInternal, "HSM C_WrapKey returned %d bytes, want %d (RFC 5649 of a %d-byte key)", len(w), want, len(plain))
	}
	if derr := p.destroy(sh, h); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// UnwrapMaterial unwraps KMIP key material under the first configured
// master (current, then previous) that opens it, into a non-sensitive,
// extractable session object, reads its CKA_VALUE and destroys it.
// Returns EDecrypt if none opens wrapped, EUnavailable if the HSM cannot
// be reached.
func (p *Protector) UnwrapMaterial(ctx context.Context, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(wrapped) < 16 || len(wrapped) > kms.MaxMaterialSize+8 || len(wrapped)%8 != 0 {
		return nil, kms.Errorf(kms.EDecrypt, "wrapped key material has the wrong size for master key %s", p.masters[0].id)
	}
	sh, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.put(sh)
	var (
		ids   []string
		cause error
	)
	for _, mk := range p.masters {
		h, err := p.m.ctx.UnwrapKey(sh, kwp(), mk.h, wrapped, openMaterialTemplate())
		if err != nil {
			if code := unwrapCode(err); code != kms.EDecrypt {
				return nil, kms.Wrap(code, err, "HSM C_UnwrapKey (key material) under master key "+mk.id+": "+ckrName(err))
			}
			ids = append(ids, mk.id)
			cause = err
			continue
		}
		attrs, err := p.m.ctx.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if err != nil {
			err = hsmError(err, "C_GetAttributeValue (CKA_VALUE of key material)")
		}
		if derr := p.destroy(sh, h); err == nil {
			err = derr
		}
		if err != nil {
			if attrs != nil {
				clear(attrs[0].Value)
			}
			return nil, err
		}
		return attrs[0].Value, nil
	}
	return nil, kms.Wrap(kms.EDecrypt, cause, fmt.Sprintf("wrapped key material does not open under master key %s (%s)", strings.Join(ids, " or "), ckrName(cause)))
}
