//go:build cgo

package pkcs11

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// module is one loaded and initialized PKCS#11 library. PKCS#11 state is
// per process: C_Initialize may run once and C_Finalize ends every
// session of every user of the library. So protectors (and InitMaster)
// share one module per path, counted by refs, and the last one out
// finalizes it, and only if this package initialized it.
type module struct {
	path      string
	ctx       *p11.Ctx
	refs      int
	finalize  bool              // we called C_Initialize
	tokenMu   sync.Mutex        // serializes token-object creation (SoftHSM races)
	sessionMu sync.Mutex        // guards sessions and pins
	sessions  map[uint]int      // slot → sessions this process holds open
	pins      map[uint][32]byte // slot → SHA-256 of the PIN we logged in with
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

// openModule loads and initializes the library at path, or returns the
// one already loaded.
func openModule(path string) (*module, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no module path configured", ErrModule)
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w %s: file missing or not a PKCS#11 library", ErrModule, path)
	}
	m := &module{path: path, ctx: ctx, refs: 1, pins: map[uint][32]byte{}, sessions: map[uint]int{}}
	switch err := ctx.Initialize(); {
	case err == nil:
		m.finalize = true
	case errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
		// Another library in the process (or a test helper) initialized
		// it; it owns C_Finalize.
	default:
		ctx.Destroy()
		return nil, fmt.Errorf("%w %s: C_Initialize: %s", ErrModule, path, ckrName(err))
	}
	modules[path] = m
	return m, nil
}

// release drops one reference; the last finalizes and unloads.
func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	if m.finalize {
		m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// findSlot returns the slot of the token labelled label.
func (m *module) findSlot(label string) (uint, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, hsmError(err, "C_GetSlotList")
	}
	var labels []string
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		l := strings.TrimRight(ti.Label, " \x00")
		if l == label {
			return s, nil
		}
		labels = append(labels, fmt.Sprintf("%q", l))
	}
	return 0, fmt.Errorf("%w %q in %s (tokens present: %s)", ErrToken, label, m.path, strings.Join(labels, ", "))
}

// openSession opens a session on slot and makes sure the user is logged
// in to the token with pin.
//
// PKCS#11 login is per token and application, not per session: the first
// C_Login logs in every session of the process on that token, and the
// user stays logged in until the last of them closes. A later C_Login
// answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN, so the
// module remembers a hash of the PIN it logged in with and compares.
func (m *module) openSession(slot uint, pin string, flags uint) (p11.SessionHandle, error) {
	m.sessionMu.Lock()
	defer m.sessionMu.Unlock()
	sh, err := m.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|flags)
	if err != nil {
		return 0, hsmError(err, "C_OpenSession")
	}
	m.sessions[slot]++
	if err := m.login(slot, sh, pin); err != nil {
		m.closeSessionLocked(slot, sh)
		return 0, err
	}
	return sh, nil
}

// login runs with sessionMu held.
func (m *module) login(slot uint, sh p11.SessionHandle, pin string) error {
	sum := sha256.Sum256([]byte(pin))
	err := m.ctx.Login(sh, p11.CKU_USER, pin)
	switch {
	case err == nil:
		m.pins[slot] = sum
		return nil
	case errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)):
		if known, ok := m.pins[slot]; ok && subtle.ConstantTimeCompare(known[:], sum[:]) != 1 {
			return fmt.Errorf("%w: the token is logged in with another PIN in this process", ErrPIN)
		}
		return nil
	case errors.Is(err, p11.Error(p11.CKR_PIN_INCORRECT)),
		errors.Is(err, p11.Error(p11.CKR_PIN_LEN_RANGE)),
		errors.Is(err, p11.Error(p11.CKR_PIN_LOCKED)),
		errors.Is(err, p11.Error(p11.CKR_PIN_INVALID)),
		errors.Is(err, p11.Error(p11.CKR_PIN_EXPIRED)):
		return fmt.Errorf("%w: C_Login: %s", ErrPIN, ckrName(err))
	case pin == "":
		// SoftHSM answers an empty PIN with CKR_ARGUMENTS_BAD.
		return fmt.Errorf("%w: no PIN configured: C_Login: %s", ErrPIN, ckrName(err))
	default:
		return hsmError(err, "C_Login")
	}
}

// closeSession closes one session. It never uses C_CloseAllSessions,
// which would close the sessions of every protector on the token.
func (m *module) closeSession(slot uint, sh p11.SessionHandle) {
	m.sessionMu.Lock()
	defer m.sessionMu.Unlock()
	m.closeSessionLocked(slot, sh)
}

func (m *module) closeSessionLocked(slot uint, sh p11.SessionHandle) {
	m.ctx.CloseSession(sh)
	m.sessions[slot]--
	if m.sessions[slot] <= 0 {
		// The token logged us out with its last session.
		delete(m.sessions, slot)
		delete(m.pins, slot)
	}
}
