package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

func testCreateGet(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("bucket/0123")
	k.Purpose, k.Exportable = kms.PurposeBucketRoot, false
	create(t, s, k)
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)

	vs, err := s.ListVersions(ctx, k.ID)
	must(t, err)
	equalVersions(t, vs, []kms.KeyVersion{testVersion(k.ID, 1)})
}

func testCreateDuplicate(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("dup")
	create(t, s, k)
	other := testKey("dup")
	other.Description = "second"
	v := testVersion("dup", 1)
	v.Wrapped = []byte("other material")
	wantCode(t, s.CreateKey(ctx, other, v), kms.EConflict)

	// The first key and its version are untouched.
	got, err := s.GetKey(ctx, "dup")
	must(t, err)
	equalKey(t, got, k)
	gotV, err := s.GetVersion(ctx, "dup", 1)
	must(t, err)
	equalVersions(t, []kms.KeyVersion{gotV}, []kms.KeyVersion{testVersion("dup", 1)})
}

func testCreateInvalidFirstVersion(t *testing.T, s Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		k    kms.Key
		v    kms.KeyVersion
	}{
		{"version 2", testKey("k1"), testVersion("k1", 2)},
		{"current version 2", func() kms.Key { k := testKey("k2"); k.CurrentVersion = 2; return k }(), testVersion("k2", 1)},
		{"other key", testKey("k3"), testVersion("other", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.CreateKey(ctx, tt.k, tt.v), kms.EInvalid)
			_, err := s.GetKey(ctx, tt.k.ID)
			wantCode(t, err, kms.ENotFound)
		})
	}
}

func testNotFound(t *testing.T, s Store) {
	ctx := t.Context()
	create(t, s, testKey("exists"))
	v2 := testVersion("missing", 2)
	tests := []struct {
		name string
		call func() error
	}{
		{"GetKey", func() error { _, err := s.GetKey(ctx, "missing"); return err }},
		{"GetKey case", func() error { _, err := s.GetKey(ctx, "EXISTS"); return err }},
		{"GetVersion unknown key", func() error { _, err := s.GetVersion(ctx, "missing", 1); return err }},
		{"GetVersion unknown version", func() error { _, err := s.GetVersion(ctx, "exists", 9); return err }},
		{"ListVersions", func() error { _, err := s.ListVersions(ctx, "missing"); return err }},
		{"DestroyVersions", func() error { return s.DestroyVersions(ctx, "missing", t0) }},
		{"UpdateKey", func() error { return s.UpdateKey(ctx, testKey("missing"), nil) }},
		{"UpdateKey with version", func() error { return s.UpdateKey(ctx, testKey("missing"), &v2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), kms.ENotFound) })
	}
}

func testEmpty(t *testing.T, s Store) {
	ctx := t.Context()
	keys, err := s.ListKeys(ctx, "", 10)
	must(t, err)
	due, err := s.KeysDueForDeletion(ctx, t0.Add(1000*time.Hour), 10)
	must(t, err)
	events, err := s.ListAudit(ctx, kms.AuditFilter{})
	must(t, err)
	if len(keys)+len(due)+len(events) != 0 {
		t.Fatalf("empty store lists %v, %v, %v", keys, due, events)
	}
}

// byteOrder is a set of valid key ids in byte order. A linguistic
// collation would sort "a" before "B" and ignore punctuation in "a-b",
// "a.b", "a/b"; S3 and KMIP clients expect byte order.
var byteOrder = []string{
	"0", "9z", "A", "B", "Z", "a", "a-b", "a.b", "a/b", "a/b/c", "a:b", "a_b", "ab", "bucket/b",
}

func testListKeysByteOrder(t *testing.T, s Store) {
	ctx := t.Context()
	if !sort.StringsAreSorted(byteOrder) {
		t.Fatal("byteOrder is not sorted")
	}
	// Insert in a scrambled order so that insertion order cannot pass.
	for i := range byteOrder {
		create(t, s, testKey(byteOrder[(i*5)%len(byteOrder)]))
	}
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, byteOrder},
		{"", -1, byteOrder},
		{"", 3, []string{"0", "9z", "A"}},
		{"B", 1, []string{"Z"}},
		{"Z", 2, []string{"a", "a-b"}},
		{"a", 4, []string{"a-b", "a.b", "a/b", "a/b/c"}},
		{"a/", 1, []string{"a/b"}},
		{"a/b", 100, []string{"a/b/c", "a:b", "a_b", "ab", "bucket/b"}},
		{"b", 0, []string{"bucket/b"}},
		{"bucket/b", 10, nil},
		{"~", 10, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after=%q,limit=%d", tt.after, tt.limit), func(t *testing.T) {
			keys, err := s.ListKeys(ctx, tt.after, tt.limit)
			must(t, err)
			var got []string
			for _, k := range keys {
				got = append(got, k.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		var got []string
		after := ""
		for range len(byteOrder) + 1 {
			keys, err := s.ListKeys(ctx, after, 3)
			must(t, err)
			if len(keys) == 0 {
				break
			}
			for _, k := range keys {
				got = append(got, k.ID)
			}
			after = keys[len(keys)-1].ID
		}
		if !slices.Equal(got, byteOrder) {
			t.Fatalf("paging gives %q, want %q", got, byteOrder)
		}
	})
}

func testUpdateKeyCAS(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("cas")
	create(t, s, k)

	del := t0.Add(7 * 24 * time.Hour)
	k2 := k
	k2.State, k2.Enabled, k2.Description = kms.StateDeactivated, false, "changed"
	k2.DeletionDate, k2.UpdatedAt = &del, t0.Add(time.Minute)
	must(t, s.UpdateKey(ctx, k2, nil))
	want := k2
	want.Revision = k.Revision + 1
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, want)

	// A writer still holding the old revision loses and changes nothing.
	stale := k
	stale.Description = "stale"
	wantCode(t, s.UpdateKey(ctx, stale, nil), kms.EConflict)
	got, err = s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, want)

	// A revision from the future is a conflict too.
	future := want
	future.Revision += 5
	wantCode(t, s.UpdateKey(ctx, future, nil), kms.EConflict)

	// Cancelling the deletion clears the date.
	k3 := got
	k3.DeletionDate, k3.State, k3.Enabled = nil, kms.StateActive, true
	must(t, s.UpdateKey(ctx, k3, nil))
	got, err = s.GetKey(ctx, k.ID)
	must(t, err)
	want = k3
	want.Revision = k3.Revision + 1
	equalKey(t, got, want)
}

func testUpdateKeyImmutableFields(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("immutable")
	create(t, s, k)
	k2 := k
	k2.Purpose, k2.Exportable, k2.Owner = kms.PurposeBucketRoot, false, "mallory"
	k2.CreatedAt = t0.Add(-time.Hour)
	k2.Description = "changed"
	must(t, s.UpdateKey(ctx, k2, nil))
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	want := k
	want.Description, want.Revision = "changed", k.Revision+1
	equalKey(t, got, want)
}

func testUpdateKeyAddVersion(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("rotate")
	create(t, s, k)
	k.CurrentVersion, k.UpdatedAt = 2, t0.Add(2*time.Hour)
	v2 := testVersion(k.ID, 2)
	must(t, s.UpdateKey(ctx, k, &v2))
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	k.Revision++
	equalKey(t, got, k)
	vs, err := s.ListVersions(ctx, k.ID)
	must(t, err)
	equalVersions(t, vs, []kms.KeyVersion{testVersion(k.ID, 1), v2})

	// A version of another key is refused.
	v3 := testVersion("other", 3)
	wantCode(t, s.UpdateKey(ctx, k, &v3), kms.EInvalid)
	got, err = s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
}

func testUpdateKeyDuplicateVersion(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("dupversion")
	create(t, s, k)
	k.CurrentVersion = 2
	v2 := testVersion(k.ID, 2)
	must(t, s.UpdateKey(ctx, k, &v2))
	k.Revision++

	// Same revision, version 2 again: the insert fails, and the key update
	// made in the same transaction must be rolled back with it.
	k2 := k
	k2.Description, k2.State = "must not stick", kms.StateCompromised
	again := testVersion(k.ID, 2)
	again.Wrapped = []byte("other material")
	wantCode(t, s.UpdateKey(ctx, k2, &again), kms.EConflict)

	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
	gotV, err := s.GetVersion(ctx, k.ID, 2)
	must(t, err)
	equalVersions(t, []kms.KeyVersion{gotV}, []kms.KeyVersion{v2})
}

func testUpdateKeyConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("race")
	create(t, s, k)
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			kk := k
			kk.CurrentVersion, kk.Description = 2, fmt.Sprintf("writer %d", i)
			v := testVersion(k.ID, 2)
			v.Wrapped = []byte{byte(i)}
			<-start
			errs[i] = s.UpdateKey(ctx, kk, &v)
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
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	if got.Revision != k.Revision+1 || got.Description != fmt.Sprintf("writer %d", winner) {
		t.Fatalf("stored revision %d %q, want %d %q", got.Revision, got.Description, k.Revision+1, fmt.Sprintf("writer %d", winner))
	}
	v, err := s.GetVersion(ctx, k.ID, 2)
	must(t, err)
	if !bytes.Equal(v.Wrapped, []byte{byte(winner)}) {
		t.Fatalf("version 2 holds %x, want the winner's %x", v.Wrapped, winner)
	}
}

func testVersions(t *testing.T, s Store) {
	ctx := t.Context()
	for _, id := range []string{"v/a", "v/b"} {
		k := testKey(id)
		create(t, s, k)
		for n := 2; n <= 3; n++ {
			k.CurrentVersion = n
			v := testVersion(id, n)
			must(t, s.UpdateKey(ctx, k, &v))
			k.Revision++
		}
	}
	for _, id := range []string{"v/a", "v/b"} {
		want := []kms.KeyVersion{testVersion(id, 1), testVersion(id, 2), testVersion(id, 3)}
		vs, err := s.ListVersions(ctx, id)
		must(t, err)
		equalVersions(t, vs, want)
		for _, w := range want {
			v, err := s.GetVersion(ctx, id, w.Version)
			must(t, err)
			equalVersions(t, []kms.KeyVersion{v}, []kms.KeyVersion{w})
		}
	}
}

func testDestroyVersions(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("doomed")
	create(t, s, k)
	k.CurrentVersion = 2
	v2 := testVersion(k.ID, 2)
	must(t, s.UpdateKey(ctx, k, &v2))
	create(t, s, testKey("survivor"))

	at := t0.Add(30 * 24 * time.Hour)
	must(t, s.DestroyVersions(ctx, k.ID, at))
	vs, err := s.ListVersions(ctx, k.ID)
	must(t, err)
	want := []kms.KeyVersion{testVersion(k.ID, 1), v2}
	for i := range want {
		want[i].Wrapped, want[i].DestroyedAt = nil, &at
	}
	equalVersions(t, vs, want)

	// Idempotent: again later succeeds and keeps the first time.
	must(t, s.DestroyVersions(ctx, k.ID, at.Add(time.Hour)))
	vs, err = s.ListVersions(ctx, k.ID)
	must(t, err)
	equalVersions(t, vs, want)

	// Other keys are untouched.
	vs, err = s.ListVersions(ctx, "survivor")
	must(t, err)
	equalVersions(t, vs, []kms.KeyVersion{testVersion("survivor", 1)})
}

func testKeysDueForDeletion(t *testing.T, s Store) {
	ctx := t.Context()
	now := t0.Add(100 * time.Hour)
	keys := []struct {
		id    string
		del   *time.Time
		state kms.State
	}{
		{"due-past", ptr(now.Add(-time.Hour)), kms.StateDeactivated},
		{"due-now", ptr(now), kms.StateActive},
		{"due-later", ptr(now.Add(time.Microsecond)), kms.StateActive},
		{"not-scheduled", nil, kms.StateActive},
		{"already-destroyed", ptr(now.Add(-2 * time.Hour)), kms.StateDestroyed},
	}
	for _, kk := range keys {
		k := testKey(kk.id)
		k.DeletionDate, k.State = kk.del, kk.state
		create(t, s, k)
	}
	ids, err := s.KeysDueForDeletion(ctx, now, 0)
	must(t, err)
	slices.Sort(ids)
	if want := []string{"due-now", "due-past"}; !slices.Equal(ids, want) {
		t.Fatalf("due: %q, want %q", ids, want)
	}
	ids, err = s.KeysDueForDeletion(ctx, now, 1)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("limit 1 gives %q", ids)
	}
}

func ptr[T any](v T) *T { return &v }

func testTimeRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC-07:30", -(7*3600 + 1800))
	tests := []struct {
		name    string
		created time.Time
		updated time.Time
		del     *time.Time
	}{
		{"other zone", t0.In(zone), t0.Add(time.Microsecond).In(zone), ptr(t0.Add(-time.Microsecond).In(zone))},
		{"zero", time.Time{}, time.Time{}, ptr(time.Time{})},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), t0, nil},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC), t0, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey(fmt.Sprintf("time-%d", i))
			k.CreatedAt, k.UpdatedAt, k.DeletionDate = tt.created, tt.updated, tt.del
			v := testVersion(k.ID, 1)
			v.CreatedAt, v.DestroyedAt = tt.updated, tt.del
			must(t, s.CreateKey(ctx, k, v))
			got, err := s.GetKey(ctx, k.ID)
			must(t, err)
			equalKey(t, got, k)
			if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC ||
				(got.DeletionDate != nil && got.DeletionDate.Location() != time.UTC) {
				t.Errorf("times not in UTC: %s", fmtKey(got))
			}
			gotV, err := s.GetVersion(ctx, k.ID, 1)
			must(t, err)
			equalVersions(t, []kms.KeyVersion{gotV}, []kms.KeyVersion{v})
		})
	}
}

// testAttributes checks that a key's KMIP attributes are stored at
// creation, returned by GetKey and ListKeys, and replaced by UpdateKey
// (lifecycle dates, links, typed custom values included).
func testAttributes(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("with-attributes")
	k.Attributes = kms.Attributes{
		Names: []string{"one", "two"}, ObjectGroups: []string{"g"}, Algorithm: "AES", Length: 256,
		UsageMask: 12, Custom: map[string]string{"x-purpose": "test"},
	}
	k.Attributes.ObjectType, k.Attributes.DataType = kms.ObjectSecretData, "Password"
	k.Attributes.KeyFormat, k.Attributes.Digest = "TransparentSymmetricKey", "ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34"
	create(t, s, k)
	got, err := s.GetKey(ctx, k.ID)
	must(t, err)
	equalKey(t, got, k)
	list, err := s.ListKeys(ctx, "with-attributer", 1)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListKeys: %d keys, want 1", len(list))
	}
	equalKey(t, list[0], k)
	tests := []struct {
		name  string
		attrs kms.Attributes
	}{
		{"changed", kms.Attributes{Names: []string{"changed"}}},
		{"lifecycle", kms.Attributes{Names: []string{"n"}, Lifecycle: kms.Lifecycle{
			ActivationDate: ptr(t0), DeactivationDate: ptr(t0.Add(time.Hour)),
			CompromiseOccurrenceDate: ptr(t0.Add(-time.Hour)), CompromiseDate: ptr(t0.Add(2 * time.Hour)),
			DestroyDate: ptr(t0.Add(3 * time.Hour)), RevocationReason: &kms.RevocationReason{Code: 2, Message: "m"},
			Links:              []kms.Link{{Type: 0x107, ObjectID: "other"}},
			ContactInformation: "ops",
			CustomTyped:        map[string]kms.TypedValue{"x-n": {Type: "Integer", Value: "7"}},
		}}},
		{"empty", kms.Attributes{}},
	}
	want := got
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k2 := want
			k2.Attributes = tt.attrs
			k2.State = kms.StateActive
			must(t, s.UpdateKey(ctx, k2, nil))
			got, err := s.GetKey(ctx, k.ID)
			must(t, err)
			want = k2
			want.Revision++
			equalKey(t, got, want)
		})
	}
}

// testDeleteKey checks DeleteKey: compare-and-set on the revision, the
// versions removed with the key.
func testDeleteKey(t *testing.T, s Store) {
	ctx := t.Context()
	k := testKey("to-delete")
	create(t, s, k)
	wantCode(t, s.DeleteKey(ctx, k.ID, k.Revision+1), kms.EConflict)
	wantCode(t, s.DeleteKey(ctx, "missing", 1), kms.ENotFound)
	must(t, s.DeleteKey(ctx, k.ID, k.Revision))
	_, err := s.GetKey(ctx, k.ID)
	wantCode(t, err, kms.ENotFound)
	_, err = s.ListVersions(ctx, k.ID)
	wantCode(t, err, kms.ENotFound)
	_, err = s.GetVersion(ctx, k.ID, 1)
	wantCode(t, err, kms.ENotFound)
	create(t, s, k) // the id is free again
}
