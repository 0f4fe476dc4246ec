package pkcs11

import (
	"context"
	"errors"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// TestTokenRemoved deletes the token under a running protector: every
// call must then fail with a *kms.Error (or still work), never panic.
func TestTokenRemoved(t *testing.T) {
	ctx := context.Background()
	// SoftHSM finds tokens initialized after C_Initialize at the next
	// C_GetSlotList; a fresh one keeps the test repeatable.
	removedToken, err := mainToken.InitToken(uniq("s3kms-removed"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProtector(t, config(removedToken))
	w, err := p.GenerateRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open, err := p.OpenRoot(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := removedToken.Delete(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		var ke *kms.Error
		if err != nil && !errors.As(err, &ke) {
			t.Errorf("%s after the token was removed: %v is not a *kms.Error", what, err)
		}
		t.Logf("%s after the token was removed: %v", what, err)
	}
	unavailable := func(what string, err error) {
		t.Helper()
		check(what, err)
		if code := kms.ErrorCode(err); code != kms.EUnavailable {
			t.Errorf("%s after the token was removed: code %q, want %q", what, code, kms.EUnavailable)
		}
	}
	// SoftHSM keeps session objects of a deleted token usable.
	_, err = open.PRF([]byte("input"))
	check("PRF on a root opened before", err)
	_, err = p.GenerateRoot(ctx)
	unavailable("GenerateRoot", err)
	rk, err := p.OpenRoot(ctx, w)
	unavailable("OpenRoot", err)
	if rk != nil {
		_, err = rk.PRF([]byte("input"))
		check("PRF", err)
		check("Close", rk.Close())
	}
	check("Close of a root opened before", open.Close())
	_, err = p.RewrapRoot(ctx, w)
	unavailable("RewrapRoot", err)
	_, err = New(config(removedToken))
	if !errors.Is(err, ErrToken) {
		t.Errorf("New on the removed token: %v, want ErrToken", err)
	}
	check("Protector.Close", p.Close())
}
