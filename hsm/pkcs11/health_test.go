package pkcs11

import (
	"context"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// TestCheck runs the readiness check on a working protector, after its
// token was removed, and after Close: only the first passes, the others
// fail with EUnavailable within the deadline.
func TestCheck(t *testing.T) {
	tok, err := mainToken.InitToken(uniq("s3kms-check"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProtector(t, config(tok))
	closed := newProtector(t, config(mainToken))
	closed.Close()
	for _, tc := range []struct {
		name   string
		before func() error
		p      *Protector
		ok     bool
	}{
		{name: "working", p: p, ok: true},
		{name: "token removed", p: p, before: tok.Delete},
		{name: "closed", p: closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				if err := tc.before(); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := tc.p.Check(ctx)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Check: %v", err)
			case !tc.ok && kms.ErrorCode(err) != kms.EUnavailable:
				t.Fatalf("Check = %v (code %q), want EUnavailable", err, kms.ErrorCode(err))
			}
			t.Logf("Check: %v", err)
		})
	}
}
