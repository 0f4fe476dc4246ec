package kms

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// StateChange is a lifecycle transition for Transition: the key must be
// in one of From, and goes to To.
type StateChange struct {
	// From are the states the key must be in; empty means any state the
	// KMIP lifecycle allows to reach To. The check is made inside the
	// compare-and-set update, so of concurrent callers expecting the same
	// state exactly one succeeds.
	From []State
	To   State
	// RevocationReason is recorded when To is Deactivated or
	// Compromised.
	RevocationReason *RevocationReason
	// CompromiseOccurrenceDate is recorded when To is Compromised.
	CompromiseOccurrenceDate *time.Time
}

// Transition moves a key along its KMIP lifecycle under compare-and-set:
// it fails with EState, changing nothing, if the key is not in one of
// ch.From when the update is applied, or the lifecycle forbids the move.
// It records the lifecycle attributes: Activation Date (to Active),
// Deactivation Date (to Deactivated), Compromise Date and Compromise
// Occurrence Date (to Compromised), the Revocation Reason. Needs the
// policy op "state"; audited as key.state.<to>. Destruction goes through
// DestroyKey. Returns the key before and after the change, both as the
// compare-and-set update saw them (what RestoreKey needs to undo it
// without undoing a concurrent change too).
func (s *Service) Transition(ctx context.Context, id string, ch StateChange) (before, after Key, err error) {
	o := op{name: "key.state." + string(ch.To), keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpState, id); err != nil {
		return Key{}, Key{}, err
	}
	if len(ch.From) == 0 {
		return Key{}, Key{}, Errorf(EInvalid, "a transition names the states it starts from")
	}
	after, err = s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if !slices.Contains(ch.From, k.State) {
			return nil, Errorf(EState, "key %q is %s, not %s", id, k.State, joinStates(ch.From))
		}
		before = *k
		before.Attributes = CloneAttributes(k.Attributes)
		return nil, s.moveState(k, ch)
	})
	if err != nil {
		return Key{}, Key{}, err
	}
	return before, after, nil
}

func joinStates(ss []State) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " or "
		}
		out += string(s)
	}
	return out
}

// moveState applies ch to k if the lifecycle allows it, recording the
// lifecycle attributes. Moving to the current state changes nothing.
func (s *Service) moveState(k *Key, ch StateChange) error {
	if k.State == ch.To {
		return nil
	}
	if !slices.Contains(transitions[k.State], ch.To) {
		return Errorf(EState, "key %q cannot go from %s to %s", k.ID, k.State, ch.To)
	}
	now := s.now().UTC()
	a := &k.Attributes.Lifecycle
	switch ch.To {
	case StateActive:
		a.ActivationDate = &now
	case StateDeactivated:
		a.DeactivationDate = &now
	case StateCompromised:
		a.CompromiseDate = &now
		if ch.CompromiseOccurrenceDate != nil {
			d := ch.CompromiseOccurrenceDate.UTC()
			a.CompromiseOccurrenceDate = &d
		}
	}
	if ch.RevocationReason != nil && (ch.To == StateDeactivated || ch.To == StateCompromised) {
		rr := *ch.RevocationReason
		a.RevocationReason = &rr
	}
	k.State = ch.To
	return nil
}

// UpdateAttributes changes a key's KMIP attributes under compare-and-set:
// change gets a copy of the key and may modify only its Attributes (other
// fields are ignored); an error from change leaves the key unchanged and
// is returned. A Name already held by another key that is not destroyed
// is refused with EConflict (see ErrNameTaken). Destroyed keys are refused
// with EDestroyed. Needs the policy op "attributes"; audited as
// key.attributes. Returns the key before and after the change.
func (s *Service) UpdateAttributes(ctx context.Context, id string, change func(k *Key) error) (before, after Key, err error) {
	o := op{name: "key.attributes", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpAttributes, id); err != nil {
		return Key{}, Key{}, err
	}
	after, err = s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed {
			return nil, Errorf(EDestroyed, "key %q is destroyed", id)
		}
		before = *k
		before.Attributes = CloneAttributes(k.Attributes)
		cp := *k
		cp.Attributes = CloneAttributes(k.Attributes)
		if err := change(&cp); err != nil {
			return nil, err
		}
		if b, err := json.Marshal(cp.Attributes); err != nil || len(b) > MaxAttributesLen {
			return nil, Errorf(EInvalid, "attributes longer than %d bytes", MaxAttributesLen)
		}
		if !slices.Equal(cp.Attributes.Names, k.Attributes.Names) {
			if err := s.checkNames(ctx, id, cp.Attributes.Names, k.Attributes.Names); err != nil {
				return nil, err
			}
		}
		k.Attributes = cp.Attributes
		return nil, nil
	})
	if err != nil {
		return Key{}, Key{}, err
	}
	return before, after, nil
}

// RestoreKey undoes a change made earlier in the same KMIP batch: if key
// id still has the state and attributes of expect (the key as the change
// left it, or as the undo of later changes restored it), they become
// prev's. A destroyed key is never restored. Returns EConflict if the key
// changed otherwise since. perm is the policy op of the change being
// undone (the caller needs it again); audited as key.undo.
func (s *Service) RestoreKey(ctx context.Context, id string, expect, prev Key, perm Op) (k Key, err error) {
	o := op{name: "key.undo", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, perm, id); err != nil {
		return Key{}, err
	}
	return s.update(ctx, id, func(k *Key) (*KeyVersion, error) {
		if k.State == StateDestroyed || prev.State == StateDestroyed {
			return nil, Errorf(EState, "key %q is destroyed; the change cannot be undone", id)
		}
		if !sameContent(*k, expect) {
			return nil, Errorf(EConflict, "key %q changed since; the change cannot be undone", id)
		}
		k.State = prev.State
		fresh := k.Attributes.Fresh // server-managed: a served key stays served
		k.Attributes = CloneAttributes(prev.Attributes)
		k.Attributes.Fresh = fresh
		return nil, nil
	})
}

// sameContent reports whether a and b have the same state and attributes
// (compared in their stored form, so that nil and empty lists are equal).
func sameContent(a, b Key) bool {
	// Fresh is left out: a Get in between serves a key without changing
	// what the client set.
	a.Attributes.Fresh, b.Attributes.Fresh = nil, nil
	ja, err1 := json.Marshal(a.Attributes)
	jb, err2 := json.Marshal(b.Attributes)
	return a.State == b.State && err1 == nil && err2 == nil && string(ja) == string(jb)
}

// PurgeKey removes a key created earlier in the same KMIP batch, with its
// material, if it still has the state, attributes and single version of
// created (as CreateKey returned it, or as undoing later changes
// restored it): the undo of a Create. Needs the policy op "create", as
// the creation did; audited as key.purge. Returns EConflict if the key
// changed otherwise since.
func (s *Service) PurgeKey(ctx context.Context, id string, created Key) (err error) {
	o := op{name: "key.purge", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpCreate, id); err != nil {
		return err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil {
		return err
	}
	if !sameContent(k, created) || k.CurrentVersion != 1 {
		return Errorf(EConflict, "key %q changed since its creation; it cannot be purged", id)
	}
	if err := s.store.DeleteKey(ctx, id, k.Revision); err != nil {
		return err
	}
	s.cache.evictKey(id)
	return nil
}

// CloneAttributes returns a deep copy of a.
func CloneAttributes(a Attributes) Attributes {
	a.Names = slices.Clone(a.Names)
	a.ObjectGroups = slices.Clone(a.ObjectGroups)
	a.Custom = maps.Clone(a.Custom)
	a.Links = slices.Clone(a.Links)
	a.CustomTyped = maps.Clone(a.CustomTyped)
	a.AlternativeNames = slices.Clone(a.AlternativeNames)
	a.AppInfo = slices.Clone(a.AppInfo)
	if a.Fresh != nil {
		f := *a.Fresh
		a.Fresh = &f
	}
	for _, p := range []**time.Time{&a.ActivationDate, &a.DeactivationDate, &a.CompromiseOccurrenceDate, &a.CompromiseDate, &a.DestroyDate} {
		if *p != nil {
			t := **p
			*p = &t
		}
	}
	if a.RevocationReason != nil {
		rr := *a.RevocationReason
		a.RevocationReason = &rr
	}
	if a.UsageLimits != nil {
		u := *a.UsageLimits
		a.UsageLimits = &u
	}
	return a
}
