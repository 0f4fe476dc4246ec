package pkcs11

import (
	"bytes"
	"context"
	"crypto/aes"
	"errors"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3kms/s3kms/hsm/hsmtest"
	"github.com/s3kms/s3kms/hsm/internal/keywrap"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
)

// withSession runs f on one of p's sessions.
func withSession(t *testing.T, p *Protector, f func(sh p11.SessionHandle)) {
	t.Helper()
	sh, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.put(sh)
	f(sh)
}

// countObjects counts the objects of p's token visible to its sessions
// with CKA_TOKEN token (and CKA_ID id if not empty).
func countObjects(t *testing.T, p *Protector, token bool, id string) int {
	t.Helper()
	tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, token)}
	if id != "" {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, []byte(id)))
	}
	var n int
	withSession(t, p, func(sh p11.SessionHandle) {
		hs, err := findObjects(p.m.ctx, sh, tmpl, 1000)
		if err != nil {
			t.Fatal(err)
		}
		n = len(hs)
	})
	return n
}

// requireSensitive checks that CKA_VALUE of h cannot be read and that h is
// sensitive and not extractable.
func requireSensitive(t *testing.T, p *Protector, what string, h p11.ObjectHandle) {
	t.Helper()
	withSession(t, p, func(sh p11.SessionHandle) {
		_, err := p.m.ctx.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if !isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
			t.Errorf("%s: reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", what, err)
		}
		attrs, err := p.m.ctx.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(attrs[0].Value, []byte{1}) || !bytes.Equal(attrs[1].Value, []byte{0}) {
			t.Errorf("%s: CKA_SENSITIVE %x, CKA_EXTRACTABLE %x; want sensitive, not extractable", what, attrs[0].Value, attrs[1].Value)
		}
	})
}

func TestKeysNotExtractable(t *testing.T) {
	p := newProtector(t, config(mainToken))
	requireSensitive(t, p, "master key", p.masters[0].h)
	w, err := p.GenerateRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rk, err := p.OpenRoot(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Close()
	requireSensitive(t, p, "root session object", rk.(*rootKey).h)
	withSession(t, p, func(sh p11.SessionHandle) {
		attrs, err := p.m.ctx.GetAttributeValue(sh, rk.(*rootKey).h, []*p11.Attribute{p11.NewAttribute(p11.CKA_TOKEN, nil)})
		if err != nil || !bytes.Equal(attrs[0].Value, []byte{0}) {
			t.Errorf("root object CKA_TOKEN = %v, %v; want a session object", attrs, err)
		}
	})
}

func TestInitMasterOnce(t *testing.T) {
	cfg := config(mainToken)
	cfg.MasterKeyID = uniq("init-once")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for range 8 {
		wg.Go(func() {
			c, err := InitMaster(cfg)
			if err != nil {
				t.Errorf("InitMaster: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
		})
	}
	wg.Wait()
	if c, err := InitMaster(cfg); c || err != nil {
		t.Errorf("InitMaster again = %v, %v; want false, nil", c, err)
	}
	if created != 1 {
		t.Errorf("concurrent InitMaster created %d masters, want 1", created)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n := countObjects(t, p, true, cfg.MasterKeyID); n != 1 {
		t.Errorf("%d objects with CKA_ID %q, want 1", n, cfg.MasterKeyID)
	}
}

// TestOneTokenObject: however many roots are made and used, the token
// holds only the master, and closed roots leave no session object.
func TestOneTokenObject(t *testing.T) {
	ctx := context.Background()
	cfg := config(rotateToken)
	cfg.MasterKeyID = uniq("one-object")
	p := newProtector(t, cfg)
	before := countObjects(t, p, true, "")
	for i := range 100 {
		w, err := p.GenerateRoot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rk, err := p.OpenRoot(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rk.PRF([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := rk.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := countObjects(t, p, true, cfg.MasterKeyID); n != 1 {
		t.Errorf("%d token objects with the master's CKA_ID, want 1", n)
	}
	if n := countObjects(t, p, true, ""); n != before {
		t.Errorf("%d token objects after 100 roots, %d before", n, before)
	}
	if n := countObjects(t, p, false, ""); n != 0 {
		t.Errorf("%d session objects left after closing every root", n)
	}
}

func TestStartupErrors(t *testing.T) {
	held := newProtector(t, config(mainToken)) // mainToken logged in by this process
	_ = held
	cases := []struct {
		name   string
		cfg    func(c *Config)
		want   error
		inText string
	}{
		{"wrong PIN", func(c *Config) { c.TokenLabel = noMasterToken.Label; c.PIN = "0000" }, ErrPIN, "CKR_PIN_INCORRECT"},
		{"wrong PIN, token logged in", func(c *Config) { c.PIN = "0000" }, ErrPIN, "another PIN"},
		{"empty PIN", func(c *Config) { c.TokenLabel = noMasterToken.Label; c.PIN = "" }, ErrPIN, "no PIN"},
		{"unknown token", func(c *Config) { c.TokenLabel = "no-such-token" }, ErrToken, "no-such-token"},
		{"missing module", func(c *Config) { c.Module = "/nonexistent/libpkcs11.so" }, ErrModule, "/nonexistent/libpkcs11.so"},
		{"not a module", func(c *Config) { c.Module = "/etc/hostname" }, ErrModule, "/etc/hostname"},
		{"no module", func(c *Config) { c.Module = "" }, ErrModule, "module"},
		{"missing master", func(c *Config) { c.TokenLabel = noMasterToken.Label }, ErrNoMaster, "s3kms kms hsm init"},
		{"missing previous master", func(c *Config) { c.PreviousMasterKeyIDs = []string{"gone"} }, ErrNoMaster, `"gone"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(mainToken)
			tc.cfg(&cfg)
			p, err := New(cfg)
			if p != nil {
				p.Close()
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.inText) {
				t.Errorf("New: %v; want %v mentioning %q", err, tc.want, tc.inText)
			}
			if strings.Contains(err.Error(), cfg.PIN) && cfg.PIN != "" {
				t.Errorf("error %q shows the PIN", err)
			}
		})
	}
	// The failed logins above must not have logged anyone out.
	if _, err := held.GenerateRoot(context.Background()); err != nil {
		t.Errorf("GenerateRoot on the protector opened before: %v", err)
	}
}

func TestConcurrentOpenRoot(t *testing.T) {
	ctx := context.Background()
	p := newProtector(t, config(mainToken))
	roots := make([][]byte, 4)
	want := make([][32]byte, len(roots))
	for i := range roots {
		w, err := p.GenerateRoot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rk, err := p.OpenRoot(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		roots[i], want[i] = w, mustPRF(t, rk, []byte("concurrent"))
		rk.Close()
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				k := (g + i) % len(roots)
				rk, err := p.OpenRoot(ctx, roots[k])
				if err != nil {
					t.Errorf("OpenRoot: %v", err)
					return
				}
				out, err := rk.PRF([]byte("concurrent"))
				if cerr := rk.Close(); err == nil {
					err = cerr
				}
				if err != nil || out != want[k] {
					t.Errorf("PRF = %x, %v; want %x", out, err, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
	if n := countObjects(t, p, false, ""); n != 0 {
		t.Errorf("%d session objects left", n)
	}
}

func mustPRF(t testing.TB, rk kms.RootKey, in []byte) [32]byte {
	t.Helper()
	out, err := rk.PRF(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRewrapRoot rotates the master: a root made under "old" opens under
// "new" with "old" as a previous master, re-wraps to "new", and then
// opens with "new" alone.
func TestRewrapRoot(t *testing.T) {
	ctx := context.Background()
	oldCfg := config(rotateToken)
	oldID, newID := uniq("old"), uniq("new")
	oldCfg.MasterKeyID = oldID
	old := newProtector(t, oldCfg)
	w, err := old.GenerateRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := old.OpenRoot(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	want := mustPRF(t, rk, []byte("rotate"))
	rk.Close()

	rotCfg := config(rotateToken)
	rotCfg.MasterKeyID, rotCfg.PreviousMasterKeyIDs = newID, []string{oldID}
	rot := newProtector(t, rotCfg)
	if rot.MasterKeyID() != newID {
		t.Errorf("MasterKeyID = %q, want %q", rot.MasterKeyID(), newID)
	}
	hsmtest.ExerciseProtectorVector(t, rot, w, []byte("rotate"), want) // through the previous master
	w2, err := rot.RewrapRoot(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(w2) != hsmtest.WrappedRootSize || bytes.Equal(w2, w) {
		t.Fatalf("RewrapRoot = %x", w2)
	}
	if again, err := rot.RewrapRoot(ctx, w2); err != nil || !bytes.Equal(again, w2) {
		t.Errorf("RewrapRoot of a root under the current master = %x, %v; want it unchanged (KWP is deterministic)", again, err)
	}
	if _, err := rot.RewrapRoot(ctx, make([]byte, 40)); kms.ErrorCode(err) != kms.EDecrypt {
		t.Errorf("RewrapRoot(zeros): %v, want %s", err, kms.EDecrypt)
	}

	newCfg := config(rotateToken)
	newCfg.MasterKeyID = newID
	cur, err := New(newCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	hsmtest.ExerciseProtectorVector(t, cur, w2, []byte("rotate"), want)
	if _, err := cur.OpenRoot(ctx, w); kms.ErrorCode(err) != kms.EDecrypt {
		t.Errorf("OpenRoot(root under old) with new only: %v, want %s", err, kms.EDecrypt)
	}
}

// TestInterop: roots made by either protector open under the other with
// the known master, with the same PRF.
func TestInterop(t *testing.T) {
	ctx := context.Background()
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	sw, err := software.New(ka.Master)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := New(config(knownToken))
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	in := []byte("interop")
	for name, pair := range map[string][2]kms.Protector{"software to pkcs11": {sw, hw}, "pkcs11 to software": {hw, sw}} {
		t.Run(name, func(t *testing.T) {
			w, err := pair[0].GenerateRoot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rk, err := pair[0].OpenRoot(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			defer rk.Close()
			hsmtest.ExerciseProtectorVector(t, pair[1], w, in, mustPRF(t, rk, in))
		})
	}
}

// TestShortRoot: a 25-byte key wrapped under the master (only a holder of
// the master could make one) must not serve as a root.
func TestShortRoot(t *testing.T) {
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(ka.Master)
	if err != nil {
		t.Fatal(err)
	}
	w, err := keywrap.Wrap(block, bytes.Repeat([]byte{7}, 25))
	if err != nil || len(w) != hsmtest.WrappedRootSize {
		t.Fatalf("keywrap.Wrap: %d bytes, %v", len(w), err)
	}
	p, err := New(config(knownToken))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rk, err := p.OpenRoot(context.Background(), w)
	if err == nil {
		// SoftHSM does not report the length at unwrap; its HMAC refuses
		// keys under 32 bytes.
		_, err = rk.PRF([]byte("x"))
		rk.Close()
	}
	if err == nil {
		t.Fatal("a 25-byte root opened and computed a PRF")
	}
	t.Log(err)
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	cfg := config(mainToken)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.GenerateRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := p.OpenRoot(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	used, err := p.OpenRoot(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := used.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := used.PRF(nil); err == nil {
		t.Error("PRF after Close succeeded")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.GenerateRoot(ctx); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("GenerateRoot after Close: %v, want %s", err, kms.EUnavailable)
	}
	if _, err := rk.PRF(nil); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("PRF after the protector closed: %v, want %s", err, kms.EUnavailable)
	}
	if err := rk.Close(); err != nil {
		t.Errorf("RootKey.Close after the protector closed: %v", err)
	}
}

// TestWeakMasterRefused: a key under the master's CKA_ID that could leave
// the token is not used as the master.
func TestWeakMasterRefused(t *testing.T) {
	p := newProtector(t, config(mainToken))
	sh, err := p.m.openSession(p.slot, mainToken.PIN, p11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer p.m.closeSession(p.slot, sh)
	weak := uniq("weak")
	tmpl := masterTemplate(weak)
	for i, a := range tmpl {
		if a.Type == p11.CKA_EXTRACTABLE {
			tmpl[i] = p11.NewAttribute(p11.CKA_EXTRACTABLE, true)
		}
	}
	if _, err := p.m.ctx.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl); err != nil {
		t.Fatal(err)
	}
	cfg := config(mainToken)
	cfg.MasterKeyID = weak
	if q, err := New(cfg); err == nil || !strings.Contains(err.Error(), "CKA_EXTRACTABLE false") {
		if q != nil {
			q.Close()
		}
		t.Errorf("New with an extractable master: %v", err)
	}
}
