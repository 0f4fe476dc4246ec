package kms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// CreateKeyRequest describes a new key.
type CreateKeyRequest struct {
	ID          string
	Purpose     Purpose
	Exportable  bool
	Description string
	// State is StateActive (the default) or StatePreActive.
	State State
	// Attributes are stored with the key (KMIP attributes).
	Attributes Attributes
	// Material is imported key material (KMIP Register) for a
	// PurposeMaterial key; nil to generate it from Attributes.Algorithm
	// and Attributes.Length. Ignored (must be nil) for other purposes.
	// CreateKey does not keep or wipe it.
	Material []byte
}

// MaxDescriptionLen bounds key descriptions.
const MaxDescriptionLen = 1024

// CreateKey creates a key and its first root version.
func (s *Service) CreateKey(ctx context.Context, req CreateKeyRequest) (k Key, err error) {
	o := op{name: "key.create", keyID: req.ID}
	defer func() { err = s.finish(ctx, o, err) }()
	if !ValidKeyID(req.ID) {
		return Key{}, Errorf(EInvalid, "invalid key id")
	}
	if err := s.authorize(ctx, OpCreate, req.ID); err != nil {
		return Key{}, err
	}
	if req.Purpose == "" {
		req.Purpose = PurposeNamed
	}
	if !req.Purpose.Valid() {
		return Key{}, Errorf(EInvalid, "invalid purpose %q", req.Purpose)
	}
	if req.Purpose == PurposeBucketRoot && req.Exportable {
		return Key{}, Errorf(EInvalid, "bucket root keys cannot be exportable")
	}
	if req.State == "" {
		req.State = StateActive
	}
	if req.State != StateActive && req.State != StatePreActive {
		return Key{}, Errorf(EInvalid, "a new key is active or pre-active")
	}
	if len(req.Description) > MaxDescriptionLen {
		return Key{}, Errorf(EInvalid, "description longer than %d bytes", MaxDescriptionLen)
	}
	if b, err := json.Marshal(req.Attributes); err != nil || len(b) > MaxAttributesLen {
		return Key{}, Errorf(EInvalid, "attributes longer than %d bytes", MaxAttributesLen)
	}
	if req.Material != nil && req.Purpose != PurposeMaterial {
		return Key{}, Errorf(EInvalid, "only %s keys take imported material", PurposeMaterial)
	}
	if req.Attributes.UsageLimits != nil && req.Purpose != PurposeMaterial {
		return Key{}, Errorf(EInvalid, "only %s keys take Usage Limits", PurposeMaterial)
	}
	if req.Attributes.UsageLimits, err = newUsageLimits(req.Attributes.UsageLimits); err != nil {
		return Key{}, err
	}
	if req.State == StateActive && req.Attributes.ActivationDate == nil {
		now := s.now().UTC()
		req.Attributes = CloneAttributes(req.Attributes)
		req.Attributes.ActivationDate = &now
	}
	// Names are unique; the store enforces it when it writes the key.
	if err := s.checkNames(ctx, req.ID, req.Attributes.Names, nil); err != nil {
		return Key{}, err
	}
	var wrapped []byte
	req.Attributes.Digest = ""
	req.Attributes.Fresh, req.Attributes.Generated = nil, false
	if req.Purpose == PurposeMaterial {
		// Server-managed: a new object has not been served yet.
		fresh := true
		req.Attributes.Fresh, req.Attributes.Generated = &fresh, req.Material == nil
		wrapped, req.Attributes.Digest, err = s.wrapMaterial(ctx, req.ID, req.Attributes, req.Material)
	} else {
		wrapped, err = s.generateRoot(ctx)
		err = protectorErrorOrNil(err)
	}
	if err != nil {
		return Key{}, err
	}
	id, _ := IdentityFrom(ctx)
	now := s.now().UTC()
	k = Key{
		ID: req.ID, Purpose: req.Purpose, Exportable: req.Exportable, State: req.State,
		Enabled: true, CurrentVersion: 1, Description: req.Description, Owner: string(id),
		CreatedAt: now, UpdatedAt: now, Revision: 1, Attributes: req.Attributes,
	}
	v := KeyVersion{
		KeyID: req.ID, Version: 1, Wrapped: wrapped, Protector: s.protector.Kind(),
		MasterKeyID: s.protector.MasterKeyID(), CreatedAt: now,
	}
	if err := s.store.CreateKey(ctx, k, v); err != nil {
		if ErrorCode(err) == EConflict && !IsNameTaken(err) {
			return Key{}, Errorf(EConflict, "key %q already exists", req.ID)
		}
		return Key{}, err
	}
	o.version = 1
	return k, nil
}

// KeyInfo is a key with its versions; the versions carry no material.
type KeyInfo struct {
	Key
	Versions []KeyVersion
}

// GetKey returns a key and its versions, without wrapped material.
func (s *Service) GetKey(ctx context.Context, id string) (info KeyInfo, err error) {
	o := op{name: "key.get", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpRead, id); err != nil {
		return KeyInfo{}, err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return KeyInfo{}, err
	}
	vs, err := s.store.ListVersions(ctx, id)
	if err != nil {
		return KeyInfo{}, err
	}
	for i := range vs {
		vs[i].Wrapped = nil
	}
	o.version = k.CurrentVersion
	return KeyInfo{Key: k, Versions: vs}, nil
}

// MaxListLimit bounds one page of ListKeys.
const MaxListLimit = 1000

// ListKeys returns up to limit keys after the id after, in byte order,
// that the caller may read, and the id to pass as after for the next page
// ("" at the end).
func (s *Service) ListKeys(ctx context.Context, after string, limit int) (keys []Key, next string, err error) {
	o := op{name: "key.list"}
	defer func() { err = s.finish(ctx, o, err) }()
	id, ok := IdentityFrom(ctx)
	if !ok {
		return nil, "", Errorf(EUnauthorized, "no client identity")
	}
	if _, known := s.policy.Known(id); !known {
		return nil, "", Errorf(EUnauthorized, "client identity is not in the policy")
	}
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	// Filter by read permission; keep reading pages until one is full so
	// that a caller allowed only some keys still gets full pages.
	cursor := after
	for len(keys) < limit {
		page, err := s.store.ListKeys(ctx, cursor, limit)
		if err != nil {
			return nil, "", err
		}
		for _, k := range page {
			cursor = k.ID
			if s.policy.Allowed(id, OpRead, k.ID) {
				keys = append(keys, k)
				if len(keys) == limit {
					break
				}
			}
		}
		if len(page) < limit {
			return keys, "", nil
		}
	}
	return keys, keys[len(keys)-1].ID, nil
}

// update applies change to key id under optimistic concurrency, retrying
// a few times when another writer won. A taken Name (ErrNameTaken) is
// not retried.
func (s *Service) update(ctx context.Context, id string, change func(k *Key) (*KeyVersion, error)) (Key, error) {
	for attempt := 0; ; attempt++ {
		k, err := s.store.GetKey(ctx, id)
		if err != nil {
			return Key{}, err
		}
		add, err := change(&k)
		if err != nil {
			return Key{}, err
		}
		k.UpdatedAt = s.now().UTC()
		err = s.store.UpdateKey(ctx, k, add)
		if err == nil {
			k.Revision++
			return k, nil
		}
		if ErrorCode(err) != EConflict || IsNameTaken(err) || attempt >= 4 {
			return Key{}, err
		}
	}
}

// RotateKey adds a root version that becomes current at once. Older
// versions still decrypt while active (versions.go). PurposeMaterial keys
// are refused (EInvalid). A key with a rotation period rotates again
// automatically a period from now.
func (s *Service) RotateKey(ctx context.Context, id string) (k Key, err error) {
	o := op{name: "key.rotate", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpRotate, id); err != nil {
		return Key{}, err
	}
	k, err = s.rotate(ctx, id, false)
	o.version = k.CurrentVersion
	return k, err
}

// SetEnabled enables or disables a key. A disabled key refuses every
// cryptographic operation until enabled again.
func (s *Service) SetEnabled(ctx context.Context, id string, enabled bool) (k Key, err error) {
	o := op{name: "key.disable", keyID: id}
	if enabled {
		o.name = "key.enable"
	}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpEnable, id); err != nil {
		return Key{}, err
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed {
			return nil, Errorf(EDestroyed, "key %q is destroyed", id)
		}
		if k.PendingDeletion() && enabled {
			return nil, Errorf(EState, "key %q is pending deletion; cancel the deletion first", id)
		}
		k.Enabled = enabled
		return nil, nil
	})
}

// transitions lists the KMIP state changes SetState allows.
var transitions = map[State][]State{
	StatePreActive:   {StateActive, StateDeactivated, StateCompromised},
	StateActive:      {StateDeactivated, StateCompromised},
	StateDeactivated: {StateCompromised},
}

// SetState moves a key along its KMIP lifecycle (activate, deactivate,
// mark compromised) from whatever state it is in, recording the lifecycle
// dates; Transition also checks the state it starts from. Destruction
// goes through DestroyKey.
func (s *Service) SetState(ctx context.Context, id string, to State) (k Key, err error) {
	o := op{name: "key.state." + string(to), keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpState, id); err != nil {
		return Key{}, err
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		return nil, s.moveState(k, StateChange{To: to})
	})
}

// ScheduleDeletion schedules the destruction of a key after days days
// (between the configured minimum and maximum). The key refuses use from
// now on; CancelDeletion undoes this until the date.
func (s *Service) ScheduleDeletion(ctx context.Context, id string, days int) (k Key, err error) {
	o := op{name: "key.schedule-deletion", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpDelete, id); err != nil {
		return Key{}, err
	}
	if days < s.minDays || days > s.maxDays {
		return Key{}, Errorf(EInvalid, "the waiting period must be between %d and %d days", s.minDays, s.maxDays)
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed {
			return nil, Errorf(EDestroyed, "key %q is destroyed", id)
		}
		if k.PendingDeletion() {
			return nil, Errorf(EState, "key %q is already pending deletion", id)
		}
		at := s.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
		k.DeletionDate = &at
		return nil, nil
	})
}

// CancelDeletion cancels a scheduled deletion. The key stays disabled, as
// in AWS KMS, until it is enabled explicitly.
func (s *Service) CancelDeletion(ctx context.Context, id string) (k Key, err error) {
	o := op{name: "key.cancel-deletion", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpDelete, id); err != nil {
		return Key{}, err
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if !k.PendingDeletion() {
			return nil, Errorf(EState, "key %q is not pending deletion", id)
		}
		k.DeletionDate = nil
		k.Enabled = false
		return nil, nil
	})
}

// DestroyKey destroys a key's material at once. As KMIP requires, an
// active key is refused: deactivate it (or schedule its deletion) first.
func (s *Service) DestroyKey(ctx context.Context, id string) (k Key, err error) {
	o := op{name: "key.destroy", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpDelete, id); err != nil {
		return Key{}, err
	}
	return s.destroy(ctx, id, false)
}

func (s *Service) destroy(ctx context.Context, id string, due bool) (Key, error) {
	k, err := s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed {
			return nil, nil
		}
		if k.State == StateActive && !due {
			return nil, Errorf(EState, "key %q is active; deactivate it or schedule its deletion first", id)
		}
		k.State = StateDestroyed
		k.Enabled = false
		now := s.now().UTC()
		k.Attributes.DestroyDate = &now
		return nil, nil
	})
	if err != nil {
		return Key{}, err
	}
	// The state change is committed first so the key refuses use even if
	// erasing the material fails; DestroyVersions is idempotent and the
	// reaper retries it.
	if err := s.store.DestroyVersions(ctx, id, s.now().UTC()); err != nil {
		return Key{}, err
	}
	s.cache.evictKey(id)
	return k, nil
}

// ReapDeletions destroys the keys whose scheduled deletion date has
// passed. It runs periodically in the server and returns how many keys
// it destroyed.
func (s *Service) ReapDeletions(ctx context.Context) (int, error) {
	ids, err := s.store.KeysDueForDeletion(ctx, s.now().UTC(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		_, err := s.destroy(ctx, id, true)
		_ = s.finish(ctx, op{name: "key.destroy.scheduled", keyID: id}, err)
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ListAudit returns audit events. Filtering by key needs audit permission
// on that key; an unfiltered listing needs it on every key.
func (s *Service) ListAudit(ctx context.Context, f AuditFilter) (events []AuditEvent, err error) {
	o := op{name: "audit.list", keyID: f.KeyID}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorize(ctx, OpAudit, f.KeyID); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxListLimit {
		f.Limit = MaxListLimit
	}
	return s.audit.ListAudit(ctx, f)
}

// usable returns nil if k may be used at now: to protect (new seals) when
// protect is true, else only to process (decrypt existing data). A KMIP
// material key serving as a root (materialroot.go) also obeys what KMIP
// Encrypt and Decrypt obey: its Cryptographic Usage Mask, when set, must
// have the Encrypt or Wrap Key bit to seal, Decrypt or Unwrap Key to open
// (EForbidden, cause ErrUsageMask), and its Protect Stop Date and Process
// Start Date bound sealing and opening (EState). Its Usage Limits are
// counted by seal.
func usable(k *Key, protect bool, now time.Time) error {
	switch {
	case k.State == StateDestroyed:
		return Errorf(EDestroyed, "key %q is destroyed", k.ID)
	case k.PendingDeletion():
		return Errorf(EDisabled, "key %q is pending deletion", k.ID)
	case !k.Enabled:
		return Errorf(EDisabled, "key %q is disabled", k.ID)
	case k.Purpose == PurposeMaterial && !materialRootable(k.Attributes):
		return Errorf(EInvalid, "key %q holds KMIP %s material, not an AES key: it cannot seal data", k.ID, k.Attributes.objectType())
	case k.State == StatePreActive:
		return Errorf(EState, "key %q is not active yet", k.ID)
	case protect && k.State != StateActive:
		return Errorf(EState, "key %q is %s and cannot protect new data", k.ID, k.State)
	case k.Purpose != PurposeMaterial:
		return nil
	case protect && k.Attributes.ProtectStopDate != nil && !now.Before(*k.Attributes.ProtectStopDate):
		return Errorf(EState, "key %q is past its Protect Stop Date", k.ID)
	case !protect && k.Attributes.ProcessStartDate != nil && now.Before(*k.Attributes.ProcessStartDate):
		return Errorf(EState, "key %q is before its Process Start Date", k.ID)
	}
	need, what := UsageDecrypt|usageUnwrapKey, "Decrypt or Unwrap Key"
	if protect {
		need, what = UsageEncrypt|UsageWrapKey, "Encrypt or Wrap Key"
	}
	if m := k.Attributes.UsageMask; m != 0 && m&need == 0 {
		return Wrap(EForbidden, ErrUsageMask, fmt.Sprintf("the Cryptographic Usage Mask of key %q allows neither %s", k.ID, what))
	}
	return nil
}

// usageUnwrapKey is the Cryptographic Usage Mask bit Unwrap Key.
const usageUnwrapKey int32 = 0x20

func protectorErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return protectorError(err)
}

// protectorError makes sure a protector failure carries a KMS code.
func protectorError(err error) error {
	if ErrorCode(err) == EInternal {
		return Wrap(EUnavailable, err, "key protector failed")
	}
	return err
}
