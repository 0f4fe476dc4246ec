package kms_test

import (
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// TestTransitionConcurrent: of 8 concurrent Activates of one Pre-Active
// key exactly one succeeds; the others fail with EState.
func TestTransitionConcurrent(t *testing.T) {
	h := newHarness(t, 0)
	for _, to := range []kms.State{kms.StateActive, kms.StateCompromised} {
		t.Run(string(to), func(t *testing.T) {
			id := "conc-" + string(to)
			if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: id, State: kms.StatePreActive}); err != nil {
				t.Fatal(err)
			}
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, _, errs[i] = h.svc.Transition(h.admin, id, kms.StateChange{From: []kms.State{kms.StatePreActive}, To: to})
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch kms.ErrorCode(err) {
				case "":
					ok++
				case kms.EState:
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d successes, want exactly 1", ok)
			}
		})
	}
}

// TestLifecycleAttributes checks the dates and reason the state changes
// record.
func TestLifecycleAttributes(t *testing.T) {
	h := newHarness(t, 0)
	t0 := h.clock.now()
	k, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "lc", State: kms.StatePreActive})
	if err != nil {
		t.Fatal(err)
	}
	if k.Attributes.ActivationDate != nil {
		t.Fatalf("Pre-Active key has an Activation Date")
	}
	h.clock.add(time.Minute)
	_, k, err = h.svc.Transition(h.admin, "lc", kms.StateChange{From: []kms.State{kms.StatePreActive}, To: kms.StateActive})
	if err != nil {
		t.Fatal(err)
	}
	if d := k.Attributes.ActivationDate; d == nil || !d.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Activation Date = %v", d)
	}
	occurred := t0.Add(-time.Hour)
	h.clock.add(time.Minute)
	_, _, err = h.svc.Transition(h.admin, "lc", kms.StateChange{
		From: []kms.State{kms.StateActive}, To: kms.StateCompromised,
		RevocationReason: &kms.RevocationReason{Code: 2, Message: "leaked"}, CompromiseOccurrenceDate: &occurred,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.add(time.Minute)
	if _, err := h.svc.DestroyKey(h.admin, "lc"); err != nil {
		t.Fatal(err)
	}
	info, err := h.svc.GetKey(h.admin, "lc")
	if err != nil {
		t.Fatal(err)
	}
	a := info.Attributes
	checks := []struct {
		name string
		got  *time.Time
		want time.Time
	}{
		{"Activation Date", a.ActivationDate, t0.Add(time.Minute)},
		{"Compromise Date", a.CompromiseDate, t0.Add(2 * time.Minute)},
		{"Compromise Occurrence Date", a.CompromiseOccurrenceDate, occurred},
		{"Destroy Date", a.DestroyDate, t0.Add(3 * time.Minute)},
	}
	for _, c := range checks {
		if c.got == nil || !c.got.Equal(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if a.DeactivationDate != nil {
		t.Errorf("Deactivation Date set by a compromise")
	}
	if rr := a.RevocationReason; rr == nil || rr.Code != 2 || rr.Message != "leaked" {
		t.Errorf("Revocation Reason = %+v", rr)
	}
	// An Active key created as such has its Activation Date.
	k, err = h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "lc2"})
	if err != nil || k.Attributes.ActivationDate == nil {
		t.Fatalf("CreateKey active: %v, Activation Date %v", err, k.Attributes.ActivationDate)
	}
	// A transition from a state the key is not in changes nothing.
	_, _, err = h.svc.Transition(h.admin, "lc2", kms.StateChange{From: []kms.State{kms.StatePreActive}, To: kms.StateActive})
	wantCode(t, "Transition from the wrong state", err, kms.EState)
}

// TestUpdateAttributesAndNames covers UpdateAttributes, Name uniqueness
// at creation and change, the policy op and RestoreKey/PurgeKey.
func TestUpdateAttributesAndNames(t *testing.T) {
	h := newHarness(t, 0)
	mk := func(id string, names ...string) error {
		_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: id, State: kms.StatePreActive,
			Attributes: kms.Attributes{Names: names}})
		return err
	}
	if err := mk("n1", "alpha"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "duplicate Name at create", mk("n2", "alpha"), kms.EConflict)
	wantCode(t, "repeated Name at create", mk("n2", "b", "b"), kms.EConflict)
	if err := mk("n2", "beta"); err != nil {
		t.Fatal(err)
	}
	setNames := func(id string, names ...string) error {
		_, _, err := h.svc.UpdateAttributes(h.admin, id, func(k *kms.Key) error {
			k.Attributes.Names = names
			return nil
		})
		return err
	}
	tests := []struct {
		name  string
		id    string
		names []string
		want  kms.Code
	}{
		{"taken", "n2", []string{"alpha"}, kms.EConflict},
		{"own name kept", "n2", []string{"beta", "gamma"}, ""},
		{"free", "n1", []string{"delta"}, ""},
		{"freed name reused", "n2", []string{"alpha"}, ""},
		{"missing key", "n9", []string{"x"}, kms.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, setNames(tt.id, tt.names...), tt.want)
		})
	}
	// A failing change changes nothing.
	_, _, err := h.svc.UpdateAttributes(h.admin, "n2", func(k *kms.Key) error {
		k.Attributes.Names = nil
		return kms.Errorf(kms.EInvalid, "refused")
	})
	wantCode(t, "failing change", err, kms.EInvalid)
	info, _ := h.svc.GetKey(h.admin, "n2")
	if len(info.Attributes.Names) != 1 || info.Attributes.Names[0] != "alpha" {
		t.Fatalf("names after failed change: %v", info.Attributes.Names)
	}
	// The policy op.
	_, _, err = h.svc.UpdateAttributes(h.other, "n2", func(*kms.Key) error { return nil })
	wantCode(t, "unknown identity", err, kms.EUnauthorized)

	// RestoreKey reverts a change while nothing else changed the key.
	before, after, err := h.svc.UpdateAttributes(h.admin, "n2", func(k *kms.Key) error {
		k.Attributes.ObjectGroups = []string{"g"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RestoreKey(h.admin, "n2", after, before, kms.OpAttributes); err != nil {
		t.Fatal(err)
	}
	info, _ = h.svc.GetKey(h.admin, "n2")
	if len(info.Attributes.ObjectGroups) != 0 {
		t.Fatalf("groups after restore: %v", info.Attributes.ObjectGroups)
	}
	_, err = h.svc.RestoreKey(h.admin, "n2", after, before, kms.OpAttributes)
	wantCode(t, "stale restore", err, kms.EConflict)

	// PurgeKey removes a key still at its creation revision.
	k, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "tmp", Attributes: kms.Attributes{Names: []string{"tmp"}}})
	if err != nil {
		t.Fatal(err)
	}
	changed := k
	changed.State = kms.StateDeactivated
	wantCode(t, "stale purge", h.svc.PurgeKey(h.admin, "tmp", changed), kms.EConflict)
	if err := h.svc.PurgeKey(h.admin, "tmp", k); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.GetKey(h.admin, "tmp")
	wantCode(t, "purged key", err, kms.ENotFound)
	if err := mk("tmp2", "tmp"); err != nil {
		t.Fatalf("name of a purged key: %v", err)
	}
	// A destroyed key's Name may be reused.
	if _, err := h.svc.DestroyKey(h.admin, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := mk("n3", "delta"); err != nil {
		t.Fatalf("name of a destroyed key: %v", err)
	}
	_, _, err = h.svc.UpdateAttributes(h.admin, "n1", func(*kms.Key) error { return nil })
	wantCode(t, "destroyed key", err, kms.EDestroyed)
}

// TestTransitionUndoKeepsConcurrentChanges: Transition returns the key as
// its compare-and-set update found it, so that RestoreKey with that
// snapshot undoes the transition only. A snapshot read before the call
// (as the KMIP Activate and Revoke took) would make the undo revert a
// change made in between too.
func TestTransitionUndoKeepsConcurrentChanges(t *testing.T) {
	h := newHarness(t, 0)
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "tu", State: kms.StatePreActive}); err != nil {
		t.Fatal(err)
	}
	// Another client names the key after this one read it.
	if _, _, err := h.svc.UpdateAttributes(h.admin, "tu", func(k *kms.Key) error {
		k.Attributes.Names = []string{"concurrent"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, after, err := h.svc.Transition(h.admin, "tu", kms.StateChange{From: []kms.State{kms.StatePreActive}, To: kms.StateActive})
	if err != nil {
		t.Fatal(err)
	}
	if before.State != kms.StatePreActive || after.State != kms.StateActive {
		t.Fatalf("before %s, after %s", before.State, after.State)
	}
	if _, err := h.svc.RestoreKey(h.admin, "tu", after, before, kms.OpState); err != nil {
		t.Fatal(err)
	}
	info, err := h.svc.GetKey(h.admin, "tu")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != kms.StatePreActive || len(info.Attributes.Names) != 1 || info.Attributes.Names[0] != "concurrent" {
		t.Errorf("after the undo: state %s, Names %v; want Pre-Active, [concurrent]", info.State, info.Attributes.Names)
	}
	if info.Attributes.ActivationDate != nil {
		t.Errorf("the undo kept the Activation Date")
	}
}
