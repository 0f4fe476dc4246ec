// Package storagetest holds the conformance suites that every storage
// backend must pass, so that the KMS behaves the same on PostgreSQL and
// SQLite. A backend's tests call them with a constructor for fresh,
// empty, migrated stores:
//
//	func TestKeyStore(t *testing.T) {
//		storagetest.ExerciseKeyStore(t, func(t *testing.T) storagetest.Store { ... })
//	}
//
// Times are compared at microsecond precision, the finest PostgreSQL
// keeps; a backend that keeps more tests that itself. Where the kms
// interfaces leave a choice open the suite pins one, so that both backends
// make the same choice:
//
//   - CreateKey stores every field as given, including Revision; it
//     returns kms.EInvalid unless the version is version 1 of the same key
//     and CurrentVersion is 1.
//   - UpdateKey leaves Purpose, Exportable, Owner and CreatedAt alone and
//     returns kms.EInvalid for a version of another key.
//   - A limit <= 0 means no limit (ListKeys, KeysDueForDeletion, ListAudit).
//   - A destroyed version has a nil Wrapped; DestroyVersions keeps the
//     first DestroyedAt when called again.
//   - Times come back in UTC.
//   - A key may list a Name twice; it holds it once.
//   - AppendAudit with ID 0 lets the store assign increasing ids; a
//     non-zero ID is stored as given, and an existing one is
//     kms.EConflict. (Do not mix the two on one database: PostgreSQL's id
//     sequence does not skip ids set by hand.) A nil Context comes back
//     nil and an empty one empty.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// Store is what a KMS storage backend provides. It is an alias so that a
// func literal returning the same interface type matches the
// ExerciseKeyStore parameter.
type Store = interface {
	kms.KeyStore
	kms.AuditLog
}

// t0 is the suite's reference time: microsecond precision, not UTC-only
// values are made from it in the time round-trip test.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func wantCode(t *testing.T, err error, want kms.Code) {
	t.Helper()
	if got := kms.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
	if want != "" {
		var ke *kms.Error
		if !errors.As(err, &ke) {
			t.Fatalf("error %v is not a *kms.Error", err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testKey(id string) kms.Key {
	return kms.Key{
		ID:             id,
		Purpose:        kms.PurposeNamed,
		Exportable:     true,
		State:          kms.StateActive,
		Enabled:        true,
		CurrentVersion: 1,
		Description:    "test key " + id,
		Owner:          "identity-1",
		CreatedAt:      t0,
		UpdatedAt:      t0,
		Revision:       1,
	}
}

func testVersion(id string, n int) kms.KeyVersion {
	return kms.KeyVersion{
		KeyID:       id,
		Version:     n,
		Wrapped:     []byte(fmt.Sprintf("wrapped %s v%d \x00\xff", id, n)),
		Protector:   "software",
		MasterKeyID: "master-1",
		CreatedAt:   t0.Add(time.Duration(n) * time.Hour),
	}
}

func create(t *testing.T, s Store, k kms.Key) {
	t.Helper()
	must(t, s.CreateKey(t.Context(), k, testVersion(k.ID, 1)))
}

// normKey and normVersion make values comparable with reflect.DeepEqual:
// times in UTC (same instant, same representation) and no empty-vs-nil
// difference in Wrapped.
func normKey(k kms.Key) kms.Key {
	k.CreatedAt, k.UpdatedAt, k.DeletionDate = k.CreatedAt.UTC(), k.UpdatedAt.UTC(), utcPtr(k.DeletionDate)
	k.NextRotation = utcPtr(k.NextRotation)
	return k
}

func normVersion(v kms.KeyVersion) kms.KeyVersion {
	v.CreatedAt, v.DestroyedAt = v.CreatedAt.UTC(), utcPtr(v.DestroyedAt)
	v.State = v.VersionState() // "" reads as active
	if len(v.Wrapped) == 0 {
		v.Wrapped = nil
	}
	return v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func equalKey(t *testing.T, got, want kms.Key) {
	t.Helper()
	if g, w := normKey(got), normKey(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("key differs\n got: %s\nwant: %s", fmtKey(g), fmtKey(w))
	}
}

func fmtKey(k kms.Key) string {
	del := "nil"
	if k.DeletionDate != nil {
		del = k.DeletionDate.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%+v (created %s, updated %s, deletion %s)", k,
		k.CreatedAt.Format(time.RFC3339Nano), k.UpdatedAt.Format(time.RFC3339Nano), del)
}

func equalVersions(t *testing.T, got, want []kms.KeyVersion) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d versions, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if g, w := normVersion(got[i]), normVersion(want[i]); !reflect.DeepEqual(g, w) {
			t.Fatalf("version %d differs\n got: %+v\nwant: %+v", i, g, w)
		}
	}
}

// ExerciseKeyStore runs the conformance suite for kms.KeyStore and
// kms.AuditLog. newStore must return a fresh, empty store each time it is
// called (subtests run in parallel) and arrange for it to be closed when
// its test ends.
func ExerciseKeyStore(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateInvalidFirstVersion", testCreateInvalidFirstVersion},
		{"NotFound", testNotFound},
		{"Empty", testEmpty},
		{"ListKeysByteOrder", testListKeysByteOrder},
		{"UpdateKeyCAS", testUpdateKeyCAS},
		{"UpdateKeyImmutableFields", testUpdateKeyImmutableFields},
		{"Attributes", testAttributes},
		{"DeleteKey", testDeleteKey},
		{"NamesUnique", testNamesUnique},
		{"NamesUpdate", testNamesUpdate},
		{"NamesReleased", testNamesReleased},
		{"NamesConcurrent", testNamesConcurrent},
		{"UpdateKeyAddVersion", testUpdateKeyAddVersion},
		{"UpdateKeyDuplicateVersion", testUpdateKeyDuplicateVersion},
		{"UpdateKeyConcurrent", testUpdateKeyConcurrent},
		{"Versions", testVersions},
		{"DestroyVersions", testDestroyVersions},
		{"KeysDueForDeletion", testKeysDueForDeletion},
		{"SetVersionState", testSetVersionState},
		{"SetVersionStateConcurrent", testSetVersionStateConcurrent},
		{"RotationRoundTrip", testRotationRoundTrip},
		{"KeysDueForRotation", testKeysDueForRotation},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"VersionsNotUnder", testVersionsNotUnder},
		{"CountVersionsByMaster", testCountVersionsByMaster},
		{"RewrapVersion", testRewrapVersion},
		{"RewrapVersionConcurrent", testRewrapVersionConcurrent},
		{"AuditAppendList", testAuditAppendList},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"AuditContextNilEmpty", testAuditContextNilEmpty},
		{"AuditExplicitID", testAuditExplicitID},
		{"AuditBatch", testAuditBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// ExerciseAuditAppendOnly checks that the audit trail cannot be changed
// behind the store's back: each of statements (raw SQL that updates,
// deletes or truncates audit rows), run through exec, must fail, and the
// recorded events must be unchanged afterwards.
func ExerciseAuditAppendOnly(t *testing.T, log kms.AuditLog, exec func(ctx context.Context, sql string) error, statements ...string) {
	ctx := t.Context()
	e := auditEvent(1, "id-a", "key-1", map[string]string{"bucket": "b"})
	must(t, log.AppendAudit(ctx, e))
	before, err := log.ListAudit(ctx, kms.AuditFilter{})
	must(t, err)
	if len(before) != 1 {
		t.Fatalf("got %d events, want 1", len(before))
	}
	for _, stmt := range statements {
		if err := exec(ctx, stmt); err == nil {
			t.Errorf("%q succeeded on the audit table", stmt)
		}
	}
	after, err := log.ListAudit(ctx, kms.AuditFilter{})
	must(t, err)
	if !reflect.DeepEqual(normEvents(after), normEvents(before)) {
		t.Fatalf("audit changed\nbefore: %+v\n after: %+v", before, after)
	}
}
