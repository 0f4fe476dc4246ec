package storagetest

import (
	"bytes"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// masterFixture stores keys whose versions are under the master key ids
// "m-a", "m-b" and "m-c", plus one destroyed key, and returns the
// versions not under "m-b" in ListVersionsNotUnder's order.
func masterFixture(t *testing.T, s Store) []kms.KeyVersion {
	t.Helper()
	ctx := t.Context()
	var notB []kms.KeyVersion
	add := func(id string, masters ...string) {
		k := testKey(id)
		for i, m := range masters {
			v := testVersion(id, i+1)
			v.MasterKeyID = m
			if i == 0 {
				must(t, s.CreateKey(ctx, k, v))
			} else {
				k.CurrentVersion = i + 1
				must(t, s.UpdateKey(ctx, k, &v))
				k.Revision++
			}
			if m != "m-b" {
				notB = append(notB, v)
			}
		}
	}
	// Inserted out of order; "B" < "a" in byte order.
	add("k2", "m-c", "m-a")
	add("k1", "m-a", "m-b", "m-c")
	add("a", "m-a")
	add("B", "m-a", "m-b")
	add("gone", "m-a", "m-c")
	must(t, s.DestroyVersions(ctx, "gone", t0))
	notB = slicesDeleteKey(notB, "gone")
	// Order: master key id, then key id (bytes), then version.
	order := map[string]int{}
	for i, kv := range []string{"m-a/B/1", "m-a/a/1", "m-a/k1/1", "m-a/k2/2", "m-c/k1/3", "m-c/k2/1"} {
		order[kv] = i
	}
	want := make([]kms.KeyVersion, len(order))
	for _, v := range notB {
		name := fmt.Sprintf("%s/%s/%d", v.MasterKeyID, v.KeyID, v.Version)
		i, ok := order[name]
		if !ok {
			t.Fatalf("fixture: version %s not in the expected order", name)
		}
		want[i] = v
	}
	return want
}

func slicesDeleteKey(vs []kms.KeyVersion, id string) []kms.KeyVersion {
	var out []kms.KeyVersion
	for _, v := range vs {
		if v.KeyID != id {
			out = append(out, v)
		}
	}
	return out
}

func testVersionsNotUnder(t *testing.T, s Store) {
	ctx := t.Context()
	want := masterFixture(t, s)

	all, err := s.ListVersionsNotUnder(ctx, "m-b", kms.VersionCursor{}, 100)
	must(t, err)
	equalVersions(t, all, want)

	// Pages of every size give the same sequence.
	for size := 1; size <= len(want); size++ {
		var got []kms.KeyVersion
		var cur kms.VersionCursor
		for pages := 0; ; pages++ {
			if pages > len(want) {
				t.Fatalf("page size %d: paging does not end", size)
			}
			page, err := s.ListVersionsNotUnder(ctx, "m-b", cur, size)
			must(t, err)
			if len(page) > size {
				t.Fatalf("page size %d: got %d versions", size, len(page))
			}
			got = append(got, page...)
			if len(page) < size {
				break
			}
			last := page[len(page)-1]
			cur = kms.VersionCursor{MasterKeyID: last.MasterKeyID, KeyID: last.KeyID, Version: last.Version}
		}
		equalVersions(t, got, want)
	}

	// Under a master id no version has, every live version is listed;
	// under the lowest and the highest id, only the others.
	none, err := s.ListVersionsNotUnder(ctx, "m-z", kms.VersionCursor{}, 100)
	must(t, err)
	if len(none) != 8 {
		t.Fatalf("not under m-z: %d versions, want 8", len(none))
	}
	notA, err := s.ListVersionsNotUnder(ctx, "m-a", kms.VersionCursor{}, 100)
	must(t, err)
	if len(notA) != 4 || notA[0].MasterKeyID != "m-b" {
		t.Fatalf("not under m-a: %+v", notA)
	}
	notC, err := s.ListVersionsNotUnder(ctx, "m-c", kms.VersionCursor{}, 100)
	must(t, err)
	if len(notC) != 6 || notC[len(notC)-1].MasterKeyID != "m-b" {
		t.Fatalf("not under m-c: %+v", notC)
	}
	_, err = s.ListVersionsNotUnder(ctx, "m-b", kms.VersionCursor{}, 0)
	wantCode(t, err, kms.EInvalid)
}

func testCountVersionsByMaster(t *testing.T, s Store) {
	ctx := t.Context()
	got, err := s.CountVersionsByMaster(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty store: counts %v", got)
	}
	masterFixture(t, s)
	got, err = s.CountVersionsByMaster(ctx)
	must(t, err)
	// The destroyed key's versions are not counted.
	if want := map[string]int{"m-a": 4, "m-b": 2, "m-c": 2}; !maps.Equal(got, want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
}

func testRewrapVersion(t *testing.T, s Store) {
	ctx := t.Context()
	masterFixture(t, s)
	old, err := s.GetVersion(ctx, "k1", 1)
	must(t, err)
	nv := old
	nv.Wrapped, nv.Protector, nv.MasterKeyID = []byte("rewrapped k1 v1"), "pkcs11", "m-b"
	must(t, s.RewrapVersion(ctx, nv, old.Wrapped))
	got, err := s.GetVersion(ctx, "k1", 1)
	must(t, err)
	equalVersions(t, []kms.KeyVersion{got}, []kms.KeyVersion{nv}) // created_at unchanged

	// The same compare again fails: the material is no longer old.
	other := nv
	other.Wrapped = []byte("another wrapping")
	wantCode(t, s.RewrapVersion(ctx, other, old.Wrapped), kms.EConflict)
	got, err = s.GetVersion(ctx, "k1", 1)
	must(t, err)
	equalVersions(t, []kms.KeyVersion{got}, []kms.KeyVersion{nv})

	counts, err := s.CountVersionsByMaster(ctx)
	must(t, err)
	if want := map[string]int{"m-a": 3, "m-b": 3, "m-c": 2}; !maps.Equal(counts, want) {
		t.Fatalf("counts after rewrap = %v, want %v", counts, want)
	}

	// Unknown versions, destroyed versions, empty material.
	missing := nv
	missing.Version = 9
	wantCode(t, s.RewrapVersion(ctx, missing, old.Wrapped), kms.ENotFound)
	missing.KeyID = "missing"
	wantCode(t, s.RewrapVersion(ctx, missing, old.Wrapped), kms.ENotFound)
	gone := testVersion("gone", 1)
	oldGone := gone.Wrapped
	gone.Wrapped, gone.MasterKeyID = []byte("resurrected"), "m-b"
	wantCode(t, s.RewrapVersion(ctx, gone, oldGone), kms.EConflict)
	wantCode(t, s.RewrapVersion(ctx, gone, nil), kms.EInvalid)
	gv, err := s.GetVersion(ctx, "gone", 1)
	must(t, err)
	if gv.Wrapped != nil || gv.DestroyedAt == nil || gv.MasterKeyID != "m-a" {
		t.Fatalf("destroyed version changed: %+v", gv)
	}
}

func testRewrapVersionConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	create(t, s, testKey("race"))
	old := testVersion("race", 1)
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			v := old
			v.Wrapped, v.MasterKeyID = []byte{byte(i), 0xee}, fmt.Sprintf("m-%d", i)
			<-start
			errs[i] = s.RewrapVersion(ctx, v, old.Wrapped)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch kms.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Fatalf("writers %d and %d both won", winner, i)
			}
			winner = i
		case kms.EConflict:
		default:
			t.Fatalf("writer %d: %v, want nil or %s", i, err, kms.EConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	v, err := s.GetVersion(ctx, "race", 1)
	must(t, err)
	if !bytes.Equal(v.Wrapped, []byte{byte(winner), 0xee}) || v.MasterKeyID != fmt.Sprintf("m-%d", winner) {
		t.Fatalf("stored %x under %s, want the winner's (%d)", v.Wrapped, v.MasterKeyID, winner)
	}
}
