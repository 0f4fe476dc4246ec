package kms

import (
	"context"
	"time"
)

// KeyStore persists keys and their wrapped versions. It never sees
// plaintext key material. Implementations: storage/postgres and
// storage/sqlite; both pass storage/storagetest.ExerciseKeyStore.
// Any method may return EUnavailable when the database is unreachable.
type KeyStore interface {
	// CreateKey stores a new key with its first version (v.Version == 1,
	// k.CurrentVersion == 1). Returns EConflict if the id exists.
	//
	// Names: CreateKey and UpdateKey keep, in the transaction that writes
	// the key, an index of the Names (k.Attributes.Names) of keys that are
	// not destroyed, each held by at most one key; a key that becomes
	// destroyed releases its Names. A Name held by another key fails the
	// write with NameTakenError (EConflict, ErrNameTaken in its chain),
	// changing nothing. A key may list a Name twice.
	CreateKey(ctx context.Context, k Key, v KeyVersion) error
	// KeyIDByName returns the id of the key, not destroyed, that holds
	// the Name name. Returns ENotFound if no such key holds it.
	KeyIDByName(ctx context.Context, name string) (string, error)
	// GetKey returns a key. Returns ENotFound.
	GetKey(ctx context.Context, id string) (Key, error)
	// ListKeys returns up to limit keys with ids greater than after, in
	// byte order of id.
	ListKeys(ctx context.Context, after string, limit int) ([]Key, error)
	// UpdateKey replaces the key's mutable fields (state, enabled, current
	// version, description, deletion date, updated time, attributes,
	// rotation period, next rotation) if its stored
	// revision equals k.Revision, and stores it with k.Revision+1. If add is
	// not nil the version is inserted in the same transaction. Returns
	// ENotFound, or EConflict if the revision differs or the version exists.
	UpdateKey(ctx context.Context, k Key, add *KeyVersion) error
	// DeleteKey removes a key, its Names and all its versions (material
	// included) if its stored revision equals revision: the undo of a CreateKey
	// whose batch failed (Service.PurgeKey). Returns ENotFound, or
	// EConflict if the revision differs.
	DeleteKey(ctx context.Context, id string, revision int64) error
	// GetVersion returns one version of a key. Returns ENotFound.
	GetVersion(ctx context.Context, id string, version int) (KeyVersion, error)
	// ListVersions returns all versions of a key, oldest first. Returns
	// ENotFound if the key does not exist.
	ListVersions(ctx context.Context, id string) ([]KeyVersion, error)
	// DestroyVersions erases the wrapped material of every version of the
	// key and sets their DestroyedAt and State (StateDestroyed).
	// Idempotent. Returns ENotFound.
	DestroyVersions(ctx context.Context, id string, at time.Time) error
	// KeysDueForDeletion returns the ids of keys whose DeletionDate is at
	// or before t and that are not destroyed yet.
	KeysDueForDeletion(ctx context.Context, t time.Time, limit int) ([]string, error)
	// SetVersionState moves one version from the state from to the state
	// to (StateActive, StateDeactivated, StateDestroyed) if its stored
	// state is from (compare-and-set). To StateDestroyed it also erases
	// the wrapped material and sets DestroyedAt to at. Returns ENotFound,
	// EConflict if the stored state is not from, EInvalid if from is
	// StateDestroyed or a state is not a version state.
	SetVersionState(ctx context.Context, id string, version int, from, to State, at time.Time) error
	// KeysDueForRotation returns the ids of keys whose NextRotation is at
	// or before t and that can rotate (active, enabled, not pending
	// deletion, not PurposeMaterial), earliest NextRotation first.
	KeysDueForRotation(ctx context.Context, t time.Time, limit int) ([]string, error)

	// ListVersionsNotUnder returns up to limit versions, not destroyed,
	// whose MasterKeyID is not masterKeyID and that come after the cursor
	// after, in the order (MasterKeyID, KeyID, Version); the zero cursor
	// starts at the beginning. Master key ids compare in the database's
	// order, key ids in byte order. Used by master-key rotation: a version
	// rewrapped under masterKeyID leaves the listing, so a new listing
	// from the zero cursor resumes where a previous run stopped.
	ListVersionsNotUnder(ctx context.Context, masterKeyID string, after VersionCursor, limit int) ([]KeyVersion, error)
	// CountVersionsByMaster returns how many versions, not destroyed,
	// each master key id wraps. Master ids that wrap none are absent.
	CountVersionsByMaster(ctx context.Context) (map[string]int, error)
	// RewrapVersion replaces the Wrapped, Protector and MasterKeyID of the
	// version v.KeyID/v.Version with v's if its stored material equals old
	// and it is not destroyed (compare-and-set). Returns ENotFound if the
	// version does not exist, EConflict if its material differs (it was
	// rewrapped concurrently) or it was destroyed.
	RewrapVersion(ctx context.Context, v KeyVersion, old []byte) error
}

// VersionCursor is a position in ListVersionsNotUnder's order: the last
// version of the previous page.
type VersionCursor struct {
	MasterKeyID string
	KeyID       string
	Version     int
}

// MasterRewrapper is an optional ability of a Protector: re-wrapping a
// root version under the current master key without letting the root
// out of the protector. Master-key rotation (Service.RotateMaster) needs
// it.
type MasterRewrapper interface {
	// RewrapRoot opens wrapped under the current master key or any
	// previous one the protector was configured with and returns the same
	// root wrapped under the current master key. Returns EDecrypt if
	// wrapped opens under none of them, EUnavailable if the protector
	// cannot be reached.
	RewrapRoot(ctx context.Context, wrapped []byte) ([]byte, error)
}

// MaxMaterialSize is the longest key material a MaterialProtector wraps:
// 64 bytes covers every symmetric key KMIP clients use (AES-128/192/256,
// 3DES, HMAC keys up to SHA-512's block size).
const MaxMaterialSize = 64

// MaterialProtector is an optional ability of a Protector: wrapping key
// material that is not a root, for keys whose versions hold the material
// itself (KMIP Symmetric Keys that clients Get, Encrypt or Decrypt with).
// Unlike a root, such material exists in clear outside the protector:
// it is generated or imported in Go, and an exportable key is handed to
// its client in clear. The protector only protects it at rest.
//
// The wrapping is RFC 5649 (AES Key Wrap with Padding) under the current
// master key, as for roots; it is deterministic, so every implementation
// produces the same bytes for the same master and material. Material
// lengths are multiples of 8 bytes (8 to MaxMaterialSize): SoftHSM 2.6
// zero-pads a key value to a multiple of 8 before CKM_AES_KEY_WRAP_PAD,
// so other lengths would neither match the software protector nor
// round-trip. Every KMIP symmetric key length (AES 16/24/32, 3DES 24) is
// one; variable-length Secret Data and Opaque Objects are stored in an
// envelope whose 32-byte DEK is what the protector wraps (envelope.go).
// The material of an AES key may also serve as an SSE root: the Service
// then computes its PRF in Go, outside the protector (materialroot.go).
type MaterialProtector interface {
	// WrapMaterial wraps 8, 16, ... MaxMaterialSize bytes under the
	// current master key. Returns EInvalid for other lengths, EUnavailable if the
	// protector cannot be reached.
	WrapMaterial(ctx context.Context, plain []byte) ([]byte, error)
	// UnwrapMaterial opens wrapped under the current master key or any
	// previous one the protector was configured with and returns the
	// material; the caller wipes it after use. Returns EDecrypt if
	// wrapped opens under none of them or is corrupt, EUnavailable if the
	// protector cannot be reached.
	UnwrapMaterial(ctx context.Context, wrapped []byte) ([]byte, error)
}

// AuditLog is the append-only audit trail. Implementations must not allow
// records to be changed or removed.
type AuditLog interface {
	// AppendAudit records one event. The store assigns the ID (e.ID is
	// zero); Time is set by the caller.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns events matching f, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Protector guards root key material under the master key. The software
// protector (hsm/software) holds the master in memory; the pkcs11
// protector keeps it in an HSM and never lets root material out. Both
// compute the same functions, so the same wrapped root opens under either
// when the master key is the same.
type Protector interface {
	// Kind names the implementation: "software" or "pkcs11".
	Kind() string
	// MasterKeyID identifies the master key that wraps new root versions.
	MasterKeyID() string
	// GenerateRoot creates a new random 256-bit root version inside the
	// protector and returns it wrapped (RFC 5649) under the master key.
	GenerateRoot(ctx context.Context) ([]byte, error)
	// OpenRoot unwraps a root version for use. Returns EDecrypt if wrapped
	// was not made under the current master key (or a previous one the
	// protector was configured with, during a master-key rotation) or is
	// corrupt, EUnavailable if the
	// protector cannot be reached.
	OpenRoot(ctx context.Context, wrapped []byte) (RootKey, error)
}

// RootKey is an unwrapped root version held by a protector. It never
// reveals its material.
type RootKey interface {
	// PRF returns HMAC-SHA256(root, input): one SP 800-108 counter-mode
	// block of output, which is the KEK when input is a KDF input.
	PRF(input []byte) ([32]byte, error)
	// Close releases the root (wipes memory or destroys the HSM session
	// object). The RootKey must not be used afterwards.
	Close() error
}

// AuditEvent is one audited operation. It never contains key material.
type AuditEvent struct {
	ID         int64
	Time       time.Time
	Identity   string
	Operation  string
	KeyID      string
	KeyVersion int
	Result     string // "ok" or an error Code
	Context    map[string]string
	RequestID  string
}

// AuditFilter selects audit events.
type AuditFilter struct {
	KeyID    string // exact key id, or "" for all
	Identity string // exact identity, or "" for all
	Before   int64  // only events with ID < Before, or 0 for no bound
	Limit    int
}
