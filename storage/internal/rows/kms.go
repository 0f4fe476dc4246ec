package rows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// Columns of keys and key_versions, in ScanKey's and KeyArgs' order and
// ScanVersion's and VersionArgs' order.
const (
	KeyCols = KeyColsBefore0009 + `, rotation_period, next_rotation`
	// KeyColsBefore0009 are the columns of keys before migration 0009,
	// the first len of KeyArgs: for tests that fill older schemas.
	KeyColsBefore0009 = `id, purpose, exportable, state, enabled, current_version,
	description, owner, created_at, updated_at, deletion_date, revision, attributes`
	VersionCols = `key_id, version, wrapped, protector, master_key_id, created_at, destroyed_at, state`
)

// CheckFirstVersion validates CreateKey's arguments and returns v with
// its key id set.
func CheckFirstVersion(k kms.Key, v kms.KeyVersion) (kms.KeyVersion, error) {
	if v.Version != 1 || k.CurrentVersion != 1 || (v.KeyID != "" && v.KeyID != k.ID) {
		return v, kms.Errorf(kms.EInvalid, "create key %q: the first version must be version 1 of the same key", k.ID)
	}
	v.KeyID = k.ID
	return v, nil
}

// KeyArgs are k's values for KeyCols.
func KeyArgs(k kms.Key, c Codec) []any {
	return []any{k.ID, string(k.Purpose), k.Exportable, string(k.State), k.Enabled, k.CurrentVersion,
		k.Description, k.Owner, c.Time(k.CreatedAt), c.Time(k.UpdatedAt), c.NullTime(k.DeletionDate), k.Revision, AttributesArg(k),
		RotationSeconds(k.RotationPeriod), c.NullTime(k.NextRotation)}
}

// RotationSeconds is a rotation period as stored in rotation_period: whole
// seconds.
func RotationSeconds(d time.Duration) int64 { return int64(d / time.Second) }

// VersionStateArg is v's state as stored in key_versions.state.
func VersionStateArg(v kms.KeyVersion) string { return string(v.VersionState()) }

// AttributesArg is k's Attributes as stored in the attributes column
// (JSON text).
func AttributesArg(k kms.Key) string {
	attrs, err := json.Marshal(k.Attributes)
	if err != nil {
		panic(err) // strings, ints, times and maps of them always marshal
	}
	return string(attrs)
}

// VersionArgs are v's values for VersionCols.
func VersionArgs(v kms.KeyVersion, c Codec) []any {
	wrapped := v.Wrapped
	if wrapped == nil {
		wrapped = []byte{} // NOT NULL column; the drivers bind nil as NULL
	}
	return []any{v.KeyID, v.Version, wrapped, v.Protector, v.MasterKeyID, c.Time(v.CreatedAt), c.NullTime(v.DestroyedAt), VersionStateArg(v)}
}

// ScanKey reads a row of KeyCols.
func ScanKey(row Scanner, c Codec) (kms.Key, error) {
	var k kms.Key
	var purpose, state, attrs string
	var period int64
	err := row.Scan(&k.ID, &purpose, &k.Exportable, &state, &k.Enabled, &k.CurrentVersion,
		&k.Description, &k.Owner, c.ScanTime(&k.CreatedAt), c.ScanTime(&k.UpdatedAt),
		c.ScanNullTime(&k.DeletionDate), &k.Revision, &attrs, &period, c.ScanNullTime(&k.NextRotation))
	if err != nil {
		return kms.Key{}, err
	}
	if err := json.Unmarshal([]byte(attrs), &k.Attributes); err != nil {
		return kms.Key{}, fmt.Errorf("key %q: attributes: %w", k.ID, err)
	}
	k.Purpose, k.State = kms.Purpose(purpose), kms.State(state)
	k.CreatedAt, k.UpdatedAt, k.DeletionDate = k.CreatedAt.UTC(), k.UpdatedAt.UTC(), UTC(k.DeletionDate)
	k.RotationPeriod, k.NextRotation = time.Duration(period)*time.Second, UTC(k.NextRotation)
	return k, nil
}

// ScanVersion reads a row of VersionCols.
func ScanVersion(row Scanner, c Codec) (kms.KeyVersion, error) {
	var v kms.KeyVersion
	var state string
	err := row.Scan(&v.KeyID, &v.Version, &v.Wrapped, &v.Protector, &v.MasterKeyID,
		c.ScanTime(&v.CreatedAt), c.ScanNullTime(&v.DestroyedAt), &state)
	if err != nil {
		return kms.KeyVersion{}, err
	}
	if len(v.Wrapped) == 0 {
		v.Wrapped = nil // destroyed: the same on every backend
	}
	v.CreatedAt, v.DestroyedAt, v.State = v.CreatedAt.UTC(), UTC(v.DestroyedAt), kms.State(state)
	return v, nil
}

// CheckVersionState validates KeyStore.SetVersionState's states.
func CheckVersionState(from, to kms.State) error {
	ok := func(s kms.State) bool {
		return s == kms.StateActive || s == kms.StateDeactivated || s == kms.StateDestroyed
	}
	if !ok(from) || !ok(to) || from == kms.StateDestroyed {
		return kms.Errorf(kms.EInvalid, "invalid key version state change %q to %q", from, to)
	}
	return nil
}

// VersionStateConflict is SetVersionState's error when the stored state
// is not the expected one.
func VersionStateConflict(id string, version int, want, stored kms.State) error {
	return kms.Errorf(kms.EConflict, "key %q version %d is %s, not %s", id, version, stored, want)
}
