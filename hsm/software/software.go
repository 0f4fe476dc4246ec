// Package software is the software Protector: root key versions are
// wrapped under a 256-bit master key held in process memory.
//
// It computes exactly what the pkcs11 protector asks the HSM to compute,
// so a root wrapped by one opens under the other with the same master:
//
//   - wrapping: AES-256 Key Wrap with Padding (RFC 5649, PKCS#11
//     CKM_AES_KEY_WRAP_PAD) of the 32-byte root under the master, 40 bytes;
//   - PRF: HMAC-SHA256 keyed with the root (PKCS#11 CKM_SHA256_HMAC), one
//     SP 800-108 counter-mode block: the KEK when the input is a
//     sealed.KDFInput.
//
// The master key comes from a file or an environment variable
// (LoadMasterKey) and never leaves the Protector. During a master-key
// rotation the Protector also holds the previous master keys: OpenRoot
// and RewrapRoot accept roots wrapped under any of them (KWP's integrity
// check tells which one opens a wrapping); new roots are wrapped under the
// current one only. Neither Protector nor
// the RootKey it returns prints key material: both implement fmt.Formatter.
// Go cannot wipe the AES key schedule the Protector keeps for the master
// key, nor HMAC's internal pads; root bytes are wiped on Close.
package software

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/s3kms/s3kms/hsm/internal/keywrap"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
)

// MasterKeySize is the size of the master key: AES-256.
const MasterKeySize = 32

// RootKeySize is the size of a root key version: 256 bits.
const RootKeySize = 32

// wrappedRootSize is the KWP wrapping of a 32-byte root: 8-byte AIV + 32.
const wrappedRootSize = RootKeySize + 8

var (
	_ kms.Protector         = (*Protector)(nil)
	_ kms.MasterRewrapper   = (*Protector)(nil)
	_ kms.MaterialProtector = (*Protector)(nil)
	_ kms.RootKey           = (*rootKey)(nil)
	_ sealed.PRF            = (*rootKey)(nil).PRF
)

// Protector is the software kms.Protector. It is safe for concurrent use.
type Protector struct {
	master cipher.Block // AES-256 under the master key
	id     string
	// previous are the master keys of a rotation in progress: roots
	// wrapped under them still open, none is wrapped under them.
	previous []previousMaster
}

type previousMaster struct {
	block cipher.Block
	id    string
}

// New returns a Protector for a 32-byte master key and, during a
// master-key rotation, the previous master keys whose wrapped roots must
// still open. It keeps no reference to the keys: the caller can (and
// should) wipe them afterwards. A previous key equal to the current one
// or to another previous one is refused: it is a configuration mistake.
func New(master []byte, previous ...[]byte) (*Protector, error) {
	block, err := newMaster(master)
	if err != nil {
		return nil, err
	}
	p := &Protector{master: block, id: MasterKeyID(master)}
	seen := map[string]bool{p.id: true}
	for i, m := range previous {
		b, err := newMaster(m)
		if err != nil {
			return nil, fmt.Errorf("software protector: previous master key %d: %w", i+1, err)
		}
		id := MasterKeyID(m)
		if seen[id] {
			return nil, fmt.Errorf("software protector: previous master key %d (%s) is the current master key or given twice", i+1, id)
		}
		seen[id] = true
		p.previous = append(p.previous, previousMaster{block: b, id: id})
	}
	return p, nil
}

func newMaster(master []byte) (cipher.Block, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("software protector: master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	return aes.NewCipher(master)
}

// MasterKeyID returns the id of a master key: "sw:" followed by the first
// 16 hex digits of SHA-256("s3kms master key id" ‖ master). The id is
// stable, lets operators tell master keys apart, and reveals nothing
// useful about the key (64 bits of a one-way hash of 256 random bits).
func MasterKeyID(master []byte) string {
	h := sha256.New()
	h.Write([]byte("s3kms master key id"))
	h.Write(master)
	return "sw:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Kind returns "software".
func (p *Protector) Kind() string { return "software" }

// MasterKeyID returns the id of the master key (see the MasterKeyID
// function).
func (p *Protector) MasterKeyID() string { return p.id }

// PreviousMasterKeyIDs returns the ids of the previous master keys, in
// the order given to New.
func (p *Protector) PreviousMasterKeyIDs() []string {
	ids := make([]string, len(p.previous))
	for i, m := range p.previous {
		ids[i] = m.id
	}
	return ids
}

// Format prints the protector without key material.
func (p *Protector) Format(f fmt.State, _ rune) {
	if len(p.previous) == 0 {
		fmt.Fprintf(f, "software.Protector{master: %s}", p.id)
		return
	}
	fmt.Fprintf(f, "software.Protector{master: %s, previous: %s}", p.id, strings.Join(p.PreviousMasterKeyIDs(), ","))
}

// GenerateRoot draws a 256-bit root from crypto/rand and returns it
// wrapped under the master key (40 bytes). The plaintext root is wiped.
func (p *Protector) GenerateRoot(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root := make([]byte, RootKeySize)
	defer clear(root)
	if _, err := io.ReadFull(rand.Reader, root); err != nil {
		return nil, kms.Wrap(kms.EInternal, err, "cannot generate root key")
	}
	return p.WrapRoot(root)
}

// WrapRoot wraps imported root material (a 32-byte key, e.g. from KMIP
// Register) under the master key. It does not keep material.
func (p *Protector) WrapRoot(material []byte) ([]byte, error) {
	if len(material) != RootKeySize {
		return nil, kms.Errorf(kms.EInvalid, "root key material must be %d bytes", RootKeySize)
	}
	w, err := keywrap.Wrap(p.master, material)
	if err != nil {
		return nil, kms.Wrap(kms.EInternal, err, "cannot wrap root key")
	}
	return w, nil
}

// OpenRoot unwraps a root version under the current master key or, if
// that fails, under each previous one. It returns EDecrypt if wrapped was
// made under none of them, is corrupt, or does not hold a 32-byte root.
// It never returns EUnavailable.
func (p *Protector) OpenRoot(ctx context.Context, wrapped []byte) (kms.RootKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := p.unwrap(wrapped)
	if err != nil {
		return nil, err
	}
	return &rootKey{key: root}, nil
}

// RewrapRoot opens wrapped as OpenRoot does and returns the root wrapped
// under the current master key. The plaintext root is wiped.
func (p *Protector) RewrapRoot(ctx context.Context, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := p.unwrap(wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(root)
	return p.WrapRoot(root)
}

// unwrap returns the root in wrapped, opened under the first master key,
// current then previous, whose integrity check passes.
func (p *Protector) unwrap(wrapped []byte) ([]byte, error) {
	if len(wrapped) != wrappedRootSize {
		return nil, kms.Errorf(kms.EDecrypt, "wrapped root key has the wrong size for master key %s", p.id)
	}
	root, err := keywrap.Unwrap(p.master, wrapped)
	for i := 0; err != nil && i < len(p.previous); i++ {
		root, err = keywrap.Unwrap(p.previous[i].block, wrapped)
	}
	if err != nil {
		msg := "wrapped root key does not open under master key " + p.id
		if len(p.previous) > 0 {
			msg += " or the previous master keys " + strings.Join(p.PreviousMasterKeyIDs(), ", ")
		}
		return nil, kms.Wrap(kms.EDecrypt, err, msg)
	}
	if len(root) != RootKeySize {
		clear(root)
		return nil, kms.Errorf(kms.EDecrypt, "wrapped key is not a %d-byte root key", RootKeySize)
	}
	return root, nil
}

// WrapMaterial wraps key material (a multiple of 8 bytes up to
// kms.MaxMaterialSize; see kms.MaterialProtector)
// (RFC 5649) under the current master key. It keeps no copy of plain.
func (p *Protector) WrapMaterial(ctx context.Context, plain []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(plain) < 8 || len(plain) > kms.MaxMaterialSize || len(plain)%8 != 0 {
		return nil, kms.Errorf(kms.EInvalid, "key material must be a multiple of 8 bytes from 8 to %d, got %d", kms.MaxMaterialSize, len(plain))
	}
	w, err := keywrap.Wrap(p.master, plain)
	if err != nil {
		return nil, kms.Wrap(kms.EInternal, err, "cannot wrap key material")
	}
	return w, nil
}

// UnwrapMaterial opens key material wrapped under the current master key
// or, if that fails, under each previous one. It returns EDecrypt if
// wrapped opens under none of them or is corrupt.
func (p *Protector) UnwrapMaterial(ctx context.Context, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(wrapped) < 16 || len(wrapped) > kms.MaxMaterialSize+8 || len(wrapped)%8 != 0 {
		return nil, kms.Errorf(kms.EDecrypt, "wrapped key material has the wrong size for master key %s", p.id)
	}
	plain, err := keywrap.Unwrap(p.master, wrapped)
	for i := 0; err != nil && i < len(p.previous); i++ {
		plain, err = keywrap.Unwrap(p.previous[i].block, wrapped)
	}
	if err != nil {
		msg := "wrapped key material does not open under master key " + p.id
		if len(p.previous) > 0 {
			msg += " or the previous master keys " + strings.Join(p.PreviousMasterKeyIDs(), ", ")
		}
		return nil, kms.Wrap(kms.EDecrypt, err, msg)
	}
	return plain, nil
}

// rootKey is an unwrapped root held in memory.
type rootKey struct {
	mu  sync.RWMutex // PRF holds it shared; Close exclusively, so it waits for running PRFs
	key []byte       // nil once closed
}

// PRF returns HMAC-SHA256(root, input). It fails after Close.
func (r *rootKey) PRF(input []byte) ([32]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.key == nil {
		return [32]byte{}, kms.Errorf(kms.EInternal, "root key used after Close")
	}
	return sealed.HMACPRF(r.key)(input)
}

// Close wipes the root. It is idempotent.
func (r *rootKey) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.key)
	r.key = nil
	return nil
}

// Format prints "[redacted]": fmt would otherwise print the root bytes of
// the unexported field for %v and %#v.
func (r *rootKey) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }
