package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// namedKey is testKey(id) holding names.
func namedKey(id string, names ...string) kms.Key {
	k := testKey(id)
	k.Attributes.Names = names
	return k
}

// wantNameTaken checks that err is the conflict of the taken Name name:
// EConflict, recognisable by kms.IsNameTaken, naming the Name.
func wantNameTaken(t *testing.T, err error, name string) {
	t.Helper()
	wantCode(t, err, kms.EConflict)
	if !kms.IsNameTaken(err) {
		t.Fatalf("error %v is not a taken Name (kms.IsNameTaken)", err)
	}
	if msg := kms.ErrorMessage(err); !strings.Contains(msg, fmt.Sprintf("%q", name)) {
		t.Fatalf("message %q does not name %q", msg, name)
	}
}

// wantHolder checks KeyIDByName(name): the id of its holder, or
// ENotFound when holder is "".
func wantHolder(t *testing.T, s Store, name, holder string) {
	t.Helper()
	got, err := s.KeyIDByName(t.Context(), name)
	if holder == "" {
		wantCode(t, err, kms.ENotFound)
		return
	}
	must(t, err)
	if got != holder {
		t.Fatalf("KeyIDByName(%q) = %q, want %q", name, got, holder)
	}
}

// testNamesUnique checks that CreateKey refuses a Name another key holds,
// changing nothing, and indexes the Names it stores.
func testNamesUnique(t *testing.T, s Store) {
	ctx := t.Context()
	create(t, s, namedKey("a", "n1", "n2"))
	wantHolder(t, s, "n1", "a")
	wantHolder(t, s, "n2", "a")
	wantHolder(t, s, "N1", "") // Names compare exactly
	wantHolder(t, s, "", "")

	tests := []struct {
		name  string
		k     kms.Key
		taken string
	}{
		{"same name", namedKey("b", "n1"), "n1"},
		{"one of several", namedKey("c", "free", "n2"), "n2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantNameTaken(t, s.CreateKey(ctx, tt.k, testVersion(tt.k.ID, 1)), tt.taken)
			_, err := s.GetKey(ctx, tt.k.ID)
			wantCode(t, err, kms.ENotFound)
			_, err = s.GetVersion(ctx, tt.k.ID, 1)
			wantCode(t, err, kms.ENotFound)
			wantHolder(t, s, "free", "") // nothing of the failed create stays
		})
	}

	// An existing id is still the other conflict.
	err := s.CreateKey(ctx, namedKey("a", "other"), testVersion("a", 1))
	wantCode(t, err, kms.EConflict)
	if kms.IsNameTaken(err) {
		t.Fatalf("duplicate id reported as a taken Name: %v", err)
	}
	wantHolder(t, s, "other", "")

	// A key may list a Name twice; a key created destroyed holds none.
	create(t, s, namedKey("twice", "t", "t"))
	wantHolder(t, s, "t", "twice")
	gone := namedKey("gone", "g")
	gone.State = kms.StateDestroyed
	create(t, s, gone)
	wantHolder(t, s, "g", "")
	create(t, s, namedKey("g-holder", "g"))
	wantHolder(t, s, "g", "g-holder")
}

// testNamesUpdate checks that UpdateKey moves Names with the key's
// attributes, refuses a taken one without changing the key, and keeps
// revision conflicts distinct.
func testNamesUpdate(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := namedKey("a", "n1"), namedKey("b", "m")
	create(t, s, a)
	create(t, s, b)

	// Rename: n1 is released, n2 taken.
	a.Attributes.Names = []string{"n2", "keep"}
	must(t, s.UpdateKey(ctx, a, nil))
	a.Revision++
	wantHolder(t, s, "n1", "")
	wantHolder(t, s, "n2", "a")
	wantHolder(t, s, "keep", "a")

	// Another key takes the released Name.
	b.Attributes.Names = []string{"m", "n1"}
	must(t, s.UpdateKey(ctx, b, nil))
	b.Revision++
	wantHolder(t, s, "n1", "b")

	// A taken Name fails the whole update.
	b2 := b
	b2.Description = "renamed"
	b2.Attributes.Names = []string{"fresh", "n2"}
	wantNameTaken(t, s.UpdateKey(ctx, b2, nil), "n2")
	got, err := s.GetKey(ctx, "b")
	must(t, err)
	equalKey(t, got, b)
	wantHolder(t, s, "fresh", "")
	wantHolder(t, s, "m", "b")

	// An update that leaves the Names alone keeps them.
	a2 := a
	a2.Description = "other field"
	must(t, s.UpdateKey(ctx, a2, nil))
	wantHolder(t, s, "n2", "a")
	wantHolder(t, s, "keep", "a")

	// A stale revision is a conflict, not a taken Name.
	err = s.UpdateKey(ctx, a, nil)
	wantCode(t, err, kms.EConflict)
	if kms.IsNameTaken(err) {
		t.Fatalf("revision conflict reported as a taken Name: %v", err)
	}
}

// testNamesReleased checks that a destroyed key, and a deleted one,
// release their Names.
func testNamesReleased(t *testing.T, s Store) {
	ctx := t.Context()
	a := namedKey("a", "n")
	create(t, s, a)
	a.State = kms.StateDestroyed
	must(t, s.UpdateKey(ctx, a, nil))
	a.Revision++
	wantHolder(t, s, "n", "")
	create(t, s, namedKey("b", "n"))
	wantHolder(t, s, "n", "b")

	// Later updates of the destroyed key leave its old Name to the new
	// holder.
	a.Description = "still destroyed"
	must(t, s.UpdateKey(ctx, a, nil))
	wantHolder(t, s, "n", "b")

	// DeleteKey (the undo of a create) frees the Names.
	c := namedKey("c", "d1", "d2")
	create(t, s, c)
	must(t, s.DeleteKey(ctx, c.ID, c.Revision))
	wantHolder(t, s, "d1", "")
	wantHolder(t, s, "d2", "")
	create(t, s, namedKey("e", "d2"))
	wantHolder(t, s, "d2", "e")
}

// testNamesConcurrent checks that of writers racing for one Name, in
// creates and in updates, exactly one gets it.
func testNamesConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	const writers, rounds = 4, 5
	for i := range writers {
		create(t, s, namedKey(fmt.Sprintf("upd-%d", i)))
	}
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		errs := make([]error, 2*writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Go(func() {
				k := namedKey(fmt.Sprintf("new-%d-%d", round, i), name)
				<-start
				errs[i] = s.CreateKey(ctx, k, testVersion(k.ID, 1))
			})
			wg.Go(func() {
				id := fmt.Sprintf("upd-%d", i)
				<-start
				k, err := s.GetKey(ctx, id)
				if err == nil {
					k.Attributes.Names = append(k.Attributes.Names, name)
					err = s.UpdateKey(ctx, k, nil)
				}
				errs[writers+i] = err
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case !kms.IsNameTaken(err):
				t.Fatalf("round %d writer %d: %v, want nil or a taken Name", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d writers got the Name, want 1 (errors %v)", round, winners, errs)
		}
		holder, err := s.KeyIDByName(ctx, name)
		must(t, err)
		k, err := s.GetKey(ctx, holder)
		must(t, err)
		if !slices.Contains(k.Attributes.Names, name) {
			t.Fatalf("round %d: holder %q lists %v, not %q", round, holder, k.Attributes.Names, name)
		}
	}
}

// NamesBackfillKeys are the keys ExerciseNamesBackfill has its setup
// store before migration 0007_key_names: two hold "dup", the older one
// ("k1") with the greater id.
func NamesBackfillKeys() []kms.Key {
	k1 := namedKey("k1", "dup", "a")
	k0 := namedKey("k0", "dup", "b")
	k0.CreatedAt = t0.Add(time.Hour)
	k2 := namedKey("k2", "c")
	k2.State = kms.StateDestroyed
	return []kms.Key{k1, k0, k2, namedKey("k3", "d", "d"), testKey("k4")}
}

// ExerciseNamesBackfill checks the backfill of migration 0007_key_names.
// setup must return a store whose database held the keys
// NamesBackfillKeys (rows of the keys table only, written with the
// schema before 0007) and was then migrated to the current schema.
func ExerciseNamesBackfill(t *testing.T, setup func(t *testing.T, keys []kms.Key) Store) {
	ctx := t.Context()
	s := setup(t, NamesBackfillKeys())
	for _, tt := range []struct{ name, holder string }{
		{"dup", "k1"}, {"a", "k1"}, {"b", "k0"}, {"c", ""}, {"d", "k3"},
	} {
		wantHolder(t, s, tt.name, tt.holder)
	}
	// The key that lost "dup" still updates, and dropping "dup" leaves it
	// to its holder.
	k0, err := s.GetKey(ctx, "k0")
	must(t, err)
	k0.Description = "changed"
	must(t, s.UpdateKey(ctx, k0, nil))
	k0.Revision++
	k0.Attributes.Names = []string{"b"}
	must(t, s.UpdateKey(ctx, k0, nil))
	wantHolder(t, s, "dup", "k1")
	// The destroyed key's Name is free.
	create(t, s, namedKey("k5", "c"))
	wantHolder(t, s, "c", "k5")
}
