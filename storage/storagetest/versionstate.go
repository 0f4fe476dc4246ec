package storagetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// threeVersions creates key id with versions 1 to 3 (current 3).
func threeVersions(t *testing.T, s Store, id string) kms.Key {
	t.Helper()
	k := testKey(id)
	create(t, s, k)
	for n := 2; n <= 3; n++ {
		k.CurrentVersion = n
		v := testVersion(id, n)
		must(t, s.UpdateKey(t.Context(), k, &v))
		k.Revision++
	}
	return k
}

func testSetVersionState(t *testing.T, s Store) {
	ctx := t.Context()
	threeVersions(t, s, "vs/a")
	threeVersions(t, s, "vs/b")
	at := t0.Add(50 * time.Hour)
	steps := []struct {
		name     string
		version  int
		from, to kms.State
		code     kms.Code
	}{
		{"unknown version", 9, kms.StateActive, kms.StateDeactivated, kms.ENotFound},
		{"from destroyed", 1, kms.StateDestroyed, kms.StateActive, kms.EInvalid},
		{"not a version state", 1, kms.StateActive, kms.StateCompromised, kms.EInvalid},
		{"wrong from", 1, kms.StateDeactivated, kms.StateActive, kms.EConflict},
		{"deactivate", 1, kms.StateActive, kms.StateDeactivated, ""},
		{"deactivate twice", 1, kms.StateActive, kms.StateDeactivated, kms.EConflict},
		{"activate", 1, kms.StateDeactivated, kms.StateActive, ""},
		{"deactivate again", 1, kms.StateActive, kms.StateDeactivated, ""},
		{"destroy", 1, kms.StateDeactivated, kms.StateDestroyed, ""},
		{"activate destroyed", 1, kms.StateDeactivated, kms.StateActive, kms.EConflict},
		{"deactivate 2", 2, kms.StateActive, kms.StateDeactivated, ""},
	}
	for _, st := range steps {
		err := s.SetVersionState(ctx, "vs/a", st.version, st.from, st.to, at)
		if kms.ErrorCode(err) != st.code {
			t.Fatalf("%s: error code %q (%v), want %q", st.name, kms.ErrorCode(err), err, st.code)
		}
	}
	// The unknown key too.
	wantCode(t, s.SetVersionState(ctx, "vs/none", 1, kms.StateActive, kms.StateDeactivated, at), kms.ENotFound)

	want := []kms.KeyVersion{testVersion("vs/a", 1), testVersion("vs/a", 2), testVersion("vs/a", 3)}
	want[0].Wrapped, want[0].DestroyedAt, want[0].State = nil, &at, kms.StateDestroyed
	want[1].State = kms.StateDeactivated
	vs, err := s.ListVersions(ctx, "vs/a")
	must(t, err)
	equalVersions(t, vs, want)
	v, err := s.GetVersion(ctx, "vs/a", 2)
	must(t, err)
	if v.State != kms.StateDeactivated {
		t.Fatalf("GetVersion state = %q", v.State)
	}
	// The other key is untouched; new versions are active.
	vs, err = s.ListVersions(ctx, "vs/b")
	must(t, err)
	for _, v := range vs {
		if v.State != kms.StateActive {
			t.Fatalf("vs/b version %d is %q", v.Version, v.State)
		}
	}
	// A destroyed version leaves master-key rotation; a deactivated one
	// stays (its material is still wrapped under the master).
	counts, err := s.CountVersionsByMaster(ctx)
	must(t, err)
	if counts["master-1"] != 5 {
		t.Fatalf("versions under master-1 = %d, want 5", counts["master-1"])
	}
	// DestroyVersions marks every version destroyed.
	must(t, s.DestroyVersions(ctx, "vs/b", at))
	vs, err = s.ListVersions(ctx, "vs/b")
	must(t, err)
	for _, v := range vs {
		if v.State != kms.StateDestroyed {
			t.Fatalf("after DestroyVersions vs/b version %d is %q", v.Version, v.State)
		}
	}
}

// testSetVersionStateConcurrent: of concurrent changes from the same
// state, exactly one wins.
func testSetVersionStateConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	threeVersions(t, s, "vs/race")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := kms.StateDeactivated
			if i%2 == 1 {
				to = kms.StateDestroyed // active → destroyed is allowed by the store
			}
			errs[i] = s.SetVersionState(ctx, "vs/race", 1, kms.StateActive, to, t0)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch kms.ErrorCode(err) {
		case "":
			ok++
		case kms.EConflict, kms.EUnavailable:
		default:
			t.Fatalf("concurrent SetVersionState: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent changes won, want 1 (%v)", ok, errs)
	}
}

func testRotationRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("rot/a")
	create(t, s, k)
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
	next := t0.Add(90*24*time.Hour + time.Microsecond)
	k.RotationPeriod, k.NextRotation = 90*24*time.Hour, &next
	must(t, s.UpdateKey(ctx, k, nil))
	k.Revision++
	got, err = s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
	k.RotationPeriod, k.NextRotation = 0, nil
	must(t, s.UpdateKey(ctx, k, nil))
	k.Revision++
	got, err = s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
}

func testKeysDueForRotation(t *testing.T, s Store) {
	ctx := t.Context()
	now := t0.Add(100 * time.Hour)
	keys := []struct {
		id      string
		next    *time.Time
		change  func(k *kms.Key)
		wantDue bool
	}{
		{"due-past", ptr(now.Add(-time.Hour)), nil, true},
		{"due-now", ptr(now), nil, true},
		{"due-later", ptr(now.Add(time.Microsecond)), nil, false},
		{"off", nil, nil, false},
		{"disabled", ptr(now.Add(-time.Hour)), func(k *kms.Key) { k.Enabled = false }, false},
		{"deactivated", ptr(now.Add(-time.Hour)), func(k *kms.Key) { k.State = kms.StateDeactivated }, false},
		{"pending-deletion", ptr(now.Add(-time.Hour)), func(k *kms.Key) { k.DeletionDate = ptr(now) }, false},
		{"material", ptr(now.Add(-time.Hour)), func(k *kms.Key) { k.Purpose = kms.PurposeMaterial }, false},
	}
	var want []string
	for _, kk := range keys {
		k := testKey(kk.id)
		k.RotationPeriod, k.NextRotation = time.Hour, kk.next
		if kk.next == nil {
			k.RotationPeriod = 0
		}
		if kk.change != nil {
			kk.change(&k)
		}
		create(t, s, k)
		if kk.wantDue {
			want = append(want, kk.id)
		}
	}
	ids, err := s.KeysDueForRotation(ctx, now, 0)
	must(t, err)
	// Earliest first: due-past before due-now.
	if !slices.Equal(ids, want) {
		t.Fatalf("due: %q, want %q", ids, want)
	}
	ids, err = s.KeysDueForRotation(ctx, now, 1)
	must(t, err)
	if !slices.Equal(ids, want[:1]) {
		t.Fatalf("limit 1 gives %q", ids)
	}
}
