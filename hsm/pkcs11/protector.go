//go:build cgo

package pkcs11

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
)

// Sizes shared with the software protector: a 256-bit root, wrapped with
// RFC 5649 into an 8-byte integrity block plus 32 bytes.
const (
	rootKeySize     = 32
	wrappedRootSize = rootKeySize + 8
)

var (
	_ kms.Protector = (*Protector)(nil)
	_ kms.RootKey   = (*rootKey)(nil)
	_ sealed.PRF    = (*rootKey)(nil).PRF
)

// master is a master key found in the token at New.
type master struct {
	id string
	h  p11.ObjectHandle
}

// Protector is the PKCS#11 kms.Protector. It is safe for concurrent use.
type Protector struct {
	m       *module
	slot    uint
	masters []master // current first, then the previous ones in configured order
	pool    chan p11.SessionHandle
	done    chan struct{} // closed by Close
	once    sync.Once
	opened  int // sessions opened into pool
}

// poolSize is the number of sessions a Protector opens: one per CPU the Go
// scheduler uses, at least 2 and at most 16. A PKCS#11 session runs one
// operation at a time, so this bounds the HSM calls in flight.
func poolSize() int {
	return min(max(runtime.GOMAXPROCS(0), 2), 16)
}

// New opens the module, finds the token labelled cfg.TokenLabel, opens a
// pool of logged-in read-only sessions and finds the master keys by
// CKA_ID. Errors wrap ErrModule, ErrToken, ErrPIN or ErrNoMaster, or are
// *kms.Error for other HSM failures.
func New(cfg Config) (*Protector, error) {
	cfg = cfg.withDefaults()
	m, err := openModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	slot, err := m.findSlot(cfg.TokenLabel)
	if err != nil {
		m.release()
		return nil, err
	}
	p := &Protector{m: m, slot: slot, done: make(chan struct{})}
	n := poolSize()
	p.pool = make(chan p11.SessionHandle, n)
	for range n {
		// Read-only: the protector never creates or changes token
		// objects at run time; session objects need no R/W session.
		sh, err := m.openSession(slot, cfg.PIN, 0)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.opened++
		p.pool <- sh
	}
	// Find the masters once and keep their handles: object handles are
	// valid in every session of the process, and no request looks
	// anything up in the HSM.
	sh := <-p.pool
	for _, id := range append([]string{cfg.MasterKeyID}, cfg.PreviousMasterKeyIDs...) {
		h, err := findMaster(m.ctx, sh, id)
		if err != nil {
			p.pool <- sh
			p.Close()
			return nil, err
		}
		p.masters = append(p.masters, master{id: id, h: h})
	}
	p.pool <- sh
	return p, nil
}

// Close closes the protector's sessions, which destroys the root session
// objects still open, and releases the module. It waits for running
// operations to give their session back. It is idempotent.
func (p *Protector) Close() error {
	p.once.Do(func() {
		close(p.done)
		for range p.opened {
			p.m.closeSession(p.slot, <-p.pool)
		}
		p.m.release()
	})
	return nil
}

var errClosed = kms.Errorf(kms.EUnavailable, "HSM protector is closed")

// acquire takes a session from the pool, waiting for one if all are busy.
func (p *Protector) acquire(ctx context.Context) (p11.SessionHandle, error) {
	select {
	case <-p.done:
		return 0, errClosed
	default:
	}
	select {
	case sh := <-p.pool:
		return sh, nil
	case <-p.done:
		return 0, errClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// put gives a session back to the pool.
func (p *Protector) put(sh p11.SessionHandle) { p.pool <- sh }

// Kind returns "pkcs11".
func (p *Protector) Kind() string { return "pkcs11" }

// MasterKeyID returns the CKA_ID of the current master key, as configured
// (Config.MasterKeyID). Rotation tells roots still wrapped under an older
// master by comparing it with Config.PreviousMasterKeyIDs.
func (p *Protector) MasterKeyID() string { return p.masters[0].id }

// Format prints the protector without secrets.
func (p *Protector) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "pkcs11.Protector{module: %s, master: %q}", p.m.path, p.masters[0].id)
}

// GenerateRoot generates a 256-bit generic secret inside the HSM as a
// session object that is sensitive and extractable only so that it can be
// wrapped, wraps it with CKM_AES_KEY_WRAP_PAD (RFC 5649) under the current
// master and destroys it. The result is 40 bytes.
func (p *Protector) GenerateRoot(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.put(sh)
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_GENERIC_SECRET_KEY_GEN, nil)}
	h, err := p.m.ctx.GenerateKey(sh, mech, generateTemplate())
	if err != nil {
		return nil, hsmError(err, "C_GenerateKey (root key)")
	}
	w, err := p.wrap(sh, h)
	if derr := p.destroy(sh, h); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// wrap wraps the 32-byte key h under the current master.
func (p *Protector) wrap(sh p11.SessionHandle, h p11.ObjectHandle) ([]byte, error) {
	w, err := p.m.ctx.WrapKey(sh, kwp(), p.masters[0].h, h)
	if err != nil {
		return nil, hsmError(err, "C_WrapKey under master key "+p.masters[0].id)
	}
	if len(w) != wrappedRootSize {
		return nil, kms.Errorf(kms.EInternal, "HSM C_WrapKey returned %d bytes, want %d (RFC 5649 of a 32-byte key)", len(w), wrappedRootSize)
	}
	return w, nil
}

func (p *Protector) destroy(sh p11.SessionHandle, h p11.ObjectHandle) error {
	if err := p.m.ctx.DestroyObject(sh, h); err != nil {
		return hsmError(err, "C_DestroyObject (root session object)")
	}
	return nil
}

// sessionFor checks a wrapped root's size and takes a session for it; the
// caller puts the session back.
func (p *Protector) sessionFor(ctx context.Context, wrapped []byte) (p11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(wrapped) != wrappedRootSize {
		return 0, kms.Errorf(kms.EDecrypt, "wrapped root key has the wrong size for master key %s", p.masters[0].id)
	}
	return p.acquire(ctx)
}

// OpenRoot unwraps a root with CKM_AES_KEY_WRAP_PAD into a sensitive,
// non-extractable generic-secret session object usable only for
// CKM_SHA256_HMAC. It tries the current master, then the previous ones.
// It returns EDecrypt if none opens wrapped, EUnavailable if the HSM
// cannot be reached.
func (p *Protector) OpenRoot(ctx context.Context, wrapped []byte) (kms.RootKey, error) {
	sh, err := p.sessionFor(ctx, wrapped)
	if err != nil {
		return nil, err
	}
	defer p.put(sh)
	h, err := p.unwrap(sh, wrapped, rootTemplate())
	if err != nil {
		return nil, err
	}
	rk := &rootKey{p: p, h: h}
	// A RootKey dropped without Close would keep its session object until
	// the protector closes; destroy it when rk is collected instead.
	rk.cleanup = runtime.AddCleanup(rk, func(h p11.ObjectHandle) { p.destroyLater(h) }, h)
	return rk, nil
}

// RewrapRoot re-wraps a root for a master rotation: it unwraps wrapped
// under whichever configured master opens it into a sensitive session
// object, extractable only so that C_WrapKey can wrap it again, wraps it
// under the current master and destroys the object. The root is never in
// clear outside the HSM. Errors are those of OpenRoot.
func (p *Protector) RewrapRoot(ctx context.Context, wrapped []byte) ([]byte, error) {
	sh, err := p.sessionFor(ctx, wrapped)
	if err != nil {
		return nil, err
	}
	defer p.put(sh)
	h, err := p.unwrap(sh, wrapped, rewrapTemplate())
	if err != nil {
		return nil, err
	}
	w, err := p.wrap(sh, h)
	if derr := p.destroy(sh, h); err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// unwrap unwraps wrapped with template under the first master that opens
// it and checks that it holds a 32-byte key.
func (p *Protector) unwrap(sh p11.SessionHandle, wrapped []byte, template []*p11.Attribute) (p11.ObjectHandle, error) {
	var (
		ids   []string
		cause error
	)
	for _, mk := range p.masters {
		h, err := p.m.ctx.UnwrapKey(sh, kwp(), mk.h, wrapped, template)
		if err != nil {
			if code := unwrapCode(err); code != kms.EDecrypt {
				return 0, kms.Wrap(code, err, "HSM C_UnwrapKey under master key "+mk.id+": "+ckrName(err))
			}
			ids = append(ids, mk.id)
			cause = err
			continue
		}
		// A 40-byte KWP holds 25 to 32 bytes; only a holder of the master
		// could have wrapped fewer than 32, but check. SoftHSM 2.6.1 leaves
		// CKA_VALUE_LEN at 0 on unwrapped generic secrets (then its HMAC
		// still refuses keys under 32 bytes with CKR_KEY_SIZE_RANGE).
		if n, err := p.valueLen(sh, h); err != nil || (n != 0 && n != rootKeySize) {
			p.destroy(sh, h)
			if err != nil {
				return 0, err
			}
			return 0, kms.Errorf(kms.EDecrypt, "wrapped key is not a %d-byte root key", rootKeySize)
		}
		return h, nil
	}
	return 0, kms.Wrap(kms.EDecrypt, cause, fmt.Sprintf("wrapped root key does not open under master key %s (%s)", strings.Join(ids, " or "), ckrName(cause)))
}

// valueLen reads CKA_VALUE_LEN, a CK_ULONG in the host's byte order.
func (p *Protector) valueLen(sh p11.SessionHandle, h p11.ObjectHandle) (uint64, error) {
	attrs, err := p.m.ctx.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE_LEN, nil)})
	if err != nil {
		return 0, hsmError(err, "C_GetAttributeValue (CKA_VALUE_LEN)")
	}
	switch v := attrs[0].Value; len(v) {
	case 8:
		return binary.NativeEndian.Uint64(v), nil
	case 4:
		return uint64(binary.NativeEndian.Uint32(v)), nil
	default:
		return 0, kms.Errorf(kms.EInternal, "HSM returned a %d-byte CKA_VALUE_LEN", len(v))
	}
}

// destroyLater destroys the session object of a collected RootKey.
func (p *Protector) destroyLater(h p11.ObjectHandle) {
	sh, err := p.acquire(context.Background())
	if err != nil {
		return // closed: the session objects went with the sessions
	}
	defer p.put(sh)
	p.destroy(sh, h)
}

// rootKey is a root unwrapped into an HSM session object.
type rootKey struct {
	p       *Protector
	h       p11.ObjectHandle
	cleanup runtime.Cleanup
	mu      sync.RWMutex // PRF holds it shared; Close exclusively
	closed  bool
}

// PRF returns HMAC-SHA256(root, input), computed in the HSM with
// CKM_SHA256_HMAC on the root's session object.
func (r *rootKey) PRF(input []byte) ([32]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return [32]byte{}, kms.Errorf(kms.EInternal, "root key used after Close")
	}
	p := r.p
	sh, err := p.acquire(context.Background())
	if err != nil {
		return [32]byte{}, err
	}
	defer p.put(sh)
	if err := p.m.ctx.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_SHA256_HMAC, nil)}, r.h); err != nil {
		return [32]byte{}, hsmError(err, "C_SignInit (CKM_SHA256_HMAC)")
	}
	// C_Sign ends the operation whether it succeeds or fails, so the
	// session goes back to the pool clean either way.
	out, err := p.m.ctx.Sign(sh, input)
	if err != nil {
		return [32]byte{}, hsmError(err, "C_Sign (CKM_SHA256_HMAC)")
	}
	if len(out) != 32 {
		return [32]byte{}, kms.Errorf(kms.EInternal, "HSM CKM_SHA256_HMAC returned %d bytes", len(out))
	}
	return [32]byte(out), nil
}

// Close destroys the root's session object. It waits for running PRFs
// and is idempotent. After the protector is closed it does nothing: the
// object went with its session.
func (r *rootKey) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.cleanup.Stop()
	sh, err := r.p.acquire(context.Background())
	if errors.Is(err, errClosed) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.p.put(sh)
	return r.p.destroy(sh, r.h)
}

// Format prints "[redacted]" (there is no material, only a handle).
func (r *rootKey) Format(f fmt.State, _ rune) { io.WriteString(f, "pkcs11.RootKey[redacted]") }

func kwp() []*p11.Mechanism {
	return []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}
}
