package kms

import (
	"context"
	"errors"
	"time"
)

// Root-key version states (issue 7). A version is StateActive when it is
// made, StateDeactivated once an operator retires it, StateDestroyed once
// its material is erased:
//
//	active ⇄ deactivated → destroyed
//
// Only the key's current version seals (GenerateDataKey, Encrypt, and the
// output of Rewrap); it is always active: it can be neither deactivated
// nor destroyed, and RotateKey makes a new, active one current. An active
// older version still opens (Decrypt) and can be rewrapped from. A
// deactivated or destroyed version refuses both (EState, EDestroyed): it
// is checked on every open of a version other than the current one, from
// the key store, so that every KMS node refuses it at once, also with
// the root in its cache (the node that changed the state evicts it).
// Policy: deactivate and activate need OpState, destroy needs OpDelete
// and OpState (see policy.go).

// errNotDue is RotateDue's way out of an update whose key is no longer
// due (another node rotated it first, or its period changed).
var errNotDue = errors.New("kms: key not due for rotation")

// SetVersionState deactivates (to StateDeactivated) or activates again
// (to StateActive) version of key id. The current version cannot be
// deactivated (EState); a destroyed version stays destroyed (EDestroyed).
// Setting the state a version already has changes nothing. Audited as
// key.version.deactivate or key.version.activate.
func (s *Service) SetVersionState(ctx context.Context, id string, version int, to State) (v KeyVersion, err error) {
	o := op{name: "key.version.", keyID: id, version: version}
	switch to {
	case StateActive:
		o.name += "activate"
	case StateDeactivated:
		o.name += "deactivate"
	default:
		o.name += "state"
	}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpState, id); err != nil {
		return KeyVersion{}, err
	}
	if to != StateActive && to != StateDeactivated {
		return KeyVersion{}, Errorf(EInvalid, "a version is set active or deactivated; destroy it with DestroyVersion")
	}
	return s.changeVersion(ctx, id, version, to)
}

// DestroyVersion erases the material of version of key id, which must be
// deactivated and not current (EState). Whatever is still sealed under it
// can never be opened again. Destroying a destroyed version changes
// nothing. Needs OpDelete and OpState. Audited as key.version.destroy.
func (s *Service) DestroyVersion(ctx context.Context, id string, version int) (v KeyVersion, err error) {
	o := op{name: "key.version.destroy", keyID: id, version: version}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpDelete, id); err != nil {
		return KeyVersion{}, err
	}
	if err := s.authorize(ctx, OpState, id); err != nil {
		return KeyVersion{}, err
	}
	return s.changeVersion(ctx, id, version, StateDestroyed)
}

// changeVersion moves version of key id to the state to. The current
// version only grows, so a version found older than it stays older: the
// check below cannot be overtaken by a concurrent RotateKey.
func (s *Service) changeVersion(ctx context.Context, id string, version int, to State) (KeyVersion, error) {
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return KeyVersion{}, err
	}
	v, err := s.store.GetVersion(ctx, id, version)
	if err != nil {
		return KeyVersion{}, err
	}
	v.Wrapped = nil
	from := v.VersionState()
	switch {
	case from == to:
		return v, nil
	case from == StateDestroyed:
		return KeyVersion{}, Errorf(EDestroyed, "version %d of key %q is destroyed", version, id)
	case version >= k.CurrentVersion:
		return KeyVersion{}, Errorf(EState, "version %d is the current version of key %q: rotate the key first", version, id)
	case to == StateDestroyed && from != StateDeactivated:
		return KeyVersion{}, Errorf(EState, "version %d of key %q is %s: deactivate it before destroying it", version, id, from)
	}
	now := s.now().UTC()
	if err := s.store.SetVersionState(ctx, id, version, from, to, now); err != nil {
		if ErrorCode(err) == EConflict {
			return KeyVersion{}, Errorf(EConflict, "version %d of key %q was changed concurrently; retry", version, id)
		}
		return KeyVersion{}, err
	}
	// This node stops using the root at once; the others refuse it in
	// checkVersion, which reads the state from the store.
	s.cache.evictVersion(id, version)
	v.State = to
	if to == StateDestroyed {
		v.DestroyedAt = &now
	}
	return v, nil
}

// checkVersion returns nil if version of k may open data: the current
// version always may (it is active); an older one only while active.
func (s *Service) checkVersion(ctx context.Context, k *Key, version int) error {
	if version == k.CurrentVersion {
		return nil
	}
	v, err := s.store.GetVersion(ctx, k.ID, version)
	if err != nil {
		if ErrorCode(err) == ENotFound {
			return Errorf(EDecrypt, "ciphertext names an unknown key version")
		}
		return err
	}
	switch v.VersionState() {
	case StateActive:
		return nil
	case StateDestroyed:
		return Errorf(EDestroyed, "version %d of key %q is destroyed", version, k.ID)
	default:
		return Errorf(EState, "version %d of key %q is %s: activate it to open what it sealed", version, k.ID, v.VersionState())
	}
}

// MinRotationPeriod is the shortest automatic rotation period.
const MinRotationPeriod = time.Minute

// SetRotation sets the automatic rotation period of key id: every period
// the rotation loop (RotateDue) rotates it, the first time period from
// now. A period of 0 turns automatic rotation off. Needs OpRotate;
// PurposeMaterial keys are refused (EInvalid). Audited as key.rotation.
func (s *Service) SetRotation(ctx context.Context, id string, period time.Duration) (k Key, err error) {
	o := op{name: "key.rotation", keyID: id, context: map[string]string{"period": period.String()}}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpRotate, id); err != nil {
		return Key{}, err
	}
	if period != 0 && (period < MinRotationPeriod || period%time.Second != 0) {
		return Key{}, Errorf(EInvalid, "a rotation period is 0 (off) or whole seconds of at least %s", MinRotationPeriod)
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.Purpose == PurposeMaterial {
			return nil, Errorf(EInvalid, "key %q holds KMIP key material: it has no root versions to rotate", id)
		}
		if k.State == StateDestroyed {
			return nil, Errorf(EDestroyed, "key %q is destroyed", id)
		}
		k.RotationPeriod, k.NextRotation = period, nil
		if period != 0 {
			next := s.now().UTC().Add(period)
			k.NextRotation = &next
		}
		return nil, nil
	})
}

// RotateDue rotates the keys whose automatic rotation is due, each
// audited as key.rotate.auto (by the identity in ctx, the system's), and
// returns how many it rotated. It runs periodically in the server next to
// ReapDeletions; several KMS nodes may run it at once: a key is rotated by
// one of them (the others find it no longer due).
func (s *Service) RotateDue(ctx context.Context) (int, error) {
	ids, err := s.store.KeysDueForRotation(ctx, s.now().UTC(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		k, err := s.rotate(ctx, id, true)
		if errors.Is(err, errNotDue) {
			continue
		}
		o := op{name: "key.rotate.auto", keyID: id, version: k.CurrentVersion}
		if err == nil {
			o.context = map[string]string{"period": k.RotationPeriod.String()}
		}
		if err := s.finish(ctx, o, err); err != nil {
			if ErrorCode(err) == EUnavailable {
				return n, err
			}
			s.log.Warn("automatic key rotation failed", "key", id, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// rotate adds a root version to key id and makes it current. auto: only
// if the key is due for automatic rotation (else errNotDue). When the key
// has a rotation period, its next rotation is a period from now.
func (s *Service) rotate(ctx context.Context, id string, auto bool) (Key, error) {
	wrapped, err := s.generateRoot(ctx)
	if err != nil {
		return Key{}, protectorError(err)
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		now := s.now().UTC()
		if auto && (k.NextRotation == nil || k.NextRotation.After(now)) {
			return nil, errNotDue
		}
		if k.Purpose == PurposeMaterial {
			// Its material is its KMIP client's (KMIP ReKey makes a new
			// object); a root version is not material.
			return nil, Errorf(EInvalid, "key %q holds KMIP key material: it has no root versions to rotate", id)
		}
		if err := usable(k, false, s.now()); err != nil {
			return nil, err
		}
		k.CurrentVersion++
		if k.RotationPeriod > 0 {
			next := now.Add(k.RotationPeriod)
			k.NextRotation = &next
		}
		return &KeyVersion{
			KeyID: id, Version: k.CurrentVersion, Wrapped: wrapped,
			Protector: s.protector.Kind(), MasterKeyID: s.protector.MasterKeyID(),
			CreatedAt: now, State: StateActive,
		}, nil
	})
}
