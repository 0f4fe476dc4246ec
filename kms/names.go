package kms

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrNameTaken is in the chain of the EConflict error a KeyStore returns
// when a key would hold a Name that another key, not destroyed, holds.
// Unlike a revision conflict it is not retried: the Name stays taken.
var ErrNameTaken = errors.New("name already taken")

// NameTakenError returns the EConflict error of the Name name held by
// another key that is not destroyed; cause, if not nil, is the database
// error behind it (logged only). Its message names the Name, never a key
// id or material.
func NameTakenError(name string, cause error) *Error {
	err := ErrNameTaken
	if cause != nil {
		err = fmt.Errorf("%w: %w", ErrNameTaken, cause)
	}
	return &Error{Code: EConflict, Message: fmt.Sprintf("the Name %q is already used by another object", name), Err: err}
}

// IsNameTaken reports whether err is the conflict of a taken Name (see
// ErrNameTaken), as opposed to a key id that exists or a concurrent
// update.
func IsNameTaken(err error) bool { return errors.Is(err, ErrNameTaken) }

// checkNames returns EConflict if names repeats a value, or another key
// that is not destroyed holds one of them that is not in old (the key's
// Names before the change), looked up in the store's index of Names. It
// only fails early, before material is generated or an update is tried:
// the store enforces uniqueness in the transaction that writes the key,
// so that of concurrent writers, in this process or in others sharing
// the database, exactly one gets a Name.
func (s *Service) checkNames(ctx context.Context, id string, names, old []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return Errorf(EConflict, "the Name %q is given twice", n)
		}
		seen[n] = true
		if slices.Contains(old, n) {
			continue // kept, not taken (as the store sees it)
		}
		holder, err := s.store.KeyIDByName(ctx, n)
		switch {
		case ErrorCode(err) == ENotFound:
		case err != nil:
			return err
		case holder != id:
			return NameTakenError(n, nil)
		}
	}
	return nil
}

// FindKeyByName returns the key, not destroyed, that holds the Name name
// (Names are unique among such keys). Returns ENotFound if there is none
// or the caller may not read it, so that the answer does not reveal
// names of keys the caller cannot see. Audited as key.find.
func (s *Service) FindKeyByName(ctx context.Context, name string) (k Key, err error) {
	o := op{name: "key.find"}
	defer func() { err = s.finish(ctx, o, err) }()
	caller, ok := IdentityFrom(ctx)
	if !ok {
		return Key{}, Errorf(EUnauthorized, "no client identity")
	}
	if _, known := s.policy.Known(caller); !known {
		return Key{}, Errorf(EUnauthorized, "client identity is not in the policy")
	}
	id, err := s.store.KeyIDByName(ctx, name)
	if err != nil {
		return Key{}, err
	}
	if !s.policy.Allowed(caller, OpRead, id) {
		return Key{}, Errorf(ENotFound, "no key is named %q", name)
	}
	o.keyID = id
	k, err = s.store.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if k.State == StateDestroyed {
		// Destroyed between the two reads: its names are released.
		return Key{}, Errorf(ENotFound, "no key is named %q", name)
	}
	return k, nil
}
