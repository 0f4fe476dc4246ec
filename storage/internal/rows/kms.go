package rows

import (
	"encoding/json"
	"fmt"

	"github.com/s3kms/s3kms/kms"
)

// Columns of keys and key_versions, in ScanKey's and KeyArgs' order and
// ScanVersion's and VersionArgs' order.
const (
	KeyCols = `id, purpose, exportable, state, enabled, current_version,
	description, owner, created_at, updated_at, deletion_date, revision, attributes`
	VersionCols = `key_id, version, wrapped, protector, master_key_id, created_at, destroyed_at`
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
		k.Description, k.Owner, c.Time(k.CreatedAt), c.Time(k.UpdatedAt), c.NullTime(k.DeletionDate), k.Revision, AttributesArg(k)}
}

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
	return []any{v.KeyID, v.Version, wrapped, v.Protector, v.MasterKeyID, c.Time(v.CreatedAt), c.NullTime(v.DestroyedAt)}
}

// ScanKey reads a row of KeyCols.
func ScanKey(row Scanner, c Codec) (kms.Key, error) {
	var k kms.Key
	var purpose, state, attrs string
	err := row.Scan(&k.ID, &purpose, &k.Exportable, &state, &k.Enabled, &k.CurrentVersion,
		&k.Description, &k.Owner, c.ScanTime(&k.CreatedAt), c.ScanTime(&k.UpdatedAt),
		c.ScanNullTime(&k.DeletionDate), &k.Revision, &attrs)
	if err != nil {
		return kms.Key{}, err
	}
	if err := json.Unmarshal([]byte(attrs), &k.Attributes); err != nil {
		return kms.Key{}, fmt.Errorf("key %q: attributes: %w", k.ID, err)
	}
	k.Purpose, k.State = kms.Purpose(purpose), kms.State(state)
	k.CreatedAt, k.UpdatedAt, k.DeletionDate = k.CreatedAt.UTC(), k.UpdatedAt.UTC(), UTC(k.DeletionDate)
	return k, nil
}

// ScanVersion reads a row of VersionCols.
func ScanVersion(row Scanner, c Codec) (kms.KeyVersion, error) {
	var v kms.KeyVersion
	err := row.Scan(&v.KeyID, &v.Version, &v.Wrapped, &v.Protector, &v.MasterKeyID,
		c.ScanTime(&v.CreatedAt), c.ScanNullTime(&v.DestroyedAt))
	if err != nil {
		return kms.KeyVersion{}, err
	}
	if len(v.Wrapped) == 0 {
		v.Wrapped = nil // destroyed: the same on every backend
	}
	v.CreatedAt, v.DestroyedAt = v.CreatedAt.UTC(), UTC(v.DestroyedAt)
	return v, nil
}
