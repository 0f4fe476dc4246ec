//go:build cgo

package pkcs11

import (
	"context"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3kms/s3kms/kms"
)

// Check is the protector's readiness check (the KMS's GET /readyz): it
// takes a session from the pool, asks the HSM for the session's state
// (C_GetSessionInfo: still logged in) and for the current master key's
// CKA_ID (C_GetAttributeValue: the key is still there). It returns a
// *kms.Error with EUnavailable when the HSM does not answer before ctx
// ends (the call then finishes in the background and gives its session
// back) or the token, session or master is gone.
func (p *Protector) Check(ctx context.Context) error {
	sh, err := p.acquire(ctx)
	if err != nil {
		return kms.Wrap(kms.EUnavailable, err, "HSM: no session available")
	}
	done := make(chan error, 1)
	go func() {
		defer p.put(sh)
		done <- p.checkSession(sh)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return kms.Wrap(kms.EUnavailable, ctx.Err(), "HSM: no answer to the readiness check")
	}
}

func (p *Protector) checkSession(sh p11.SessionHandle) error {
	info, err := p.m.ctx.GetSessionInfo(sh)
	if err != nil {
		return kms.Wrap(kms.EUnavailable, err, "HSM C_GetSessionInfo: "+ckrName(err))
	}
	if info.State != p11.CKS_RO_USER_FUNCTIONS && info.State != p11.CKS_RW_USER_FUNCTIONS {
		return kms.Errorf(kms.EUnavailable, "HSM session is not logged in (state %d)", info.State)
	}
	attrs, err := p.m.ctx.GetAttributeValue(sh, p.masters[0].h, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, nil)})
	if err != nil {
		return kms.Wrap(kms.EUnavailable, err, "HSM: master key "+p.masters[0].id+" not readable: "+ckrName(err))
	}
	if len(attrs) != 1 || string(attrs[0].Value) != p.masters[0].id {
		return kms.Errorf(kms.EUnavailable, "HSM: master key %s not found", p.masters[0].id)
	}
	return nil
}
