package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// ListVersionsNotUnder returns versions, not destroyed, whose master key
// id is not masterKeyID, ordered by (master_key_id, key_id, version).
//
// It reads the ranges below and above masterKeyID separately so that each
// is one ordered scan of the key_versions_master index (migration 0005):
// a page costs its own size, however many versions are already under
// masterKeyID.
func (s *KeyStore) ListVersionsNotUnder(ctx context.Context, masterKeyID string, after kms.VersionCursor, limit int) ([]kms.KeyVersion, error) {
	if limit <= 0 {
		return nil, kms.Errorf(kms.EInvalid, "list versions: limit must be positive")
	}
	var out []kms.KeyVersion
	for _, cmp := range []string{"<", ">"} {
		if len(out) == limit {
			break
		}
		rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
			WHERE destroyed_at IS NULL AND master_key_id `+cmp+` ?
				AND (master_key_id, key_id, version) > (?, ?, ?)
			ORDER BY master_key_id, key_id, version LIMIT ?`,
			masterKeyID, after.MasterKeyID, after.KeyID, after.Version, limit-len(out))
		if err != nil {
			return nil, mapErr(err, "list key versions by master key")
		}
		vs, err := collect(rs, scanVersion)
		if err != nil {
			return nil, mapErr(err, "list key versions by master key")
		}
		out = append(out, vs...)
	}
	return out, nil
}

// CountVersionsByMaster counts the versions, not destroyed, per master key
// id.
func (s *KeyStore) CountVersionsByMaster(ctx context.Context) (map[string]int, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT master_key_id, count(*) FROM key_versions
		WHERE destroyed_at IS NULL GROUP BY master_key_id`)
	if err != nil {
		return nil, mapErr(err, "count key versions by master key")
	}
	type row struct {
		id string
		n  int
	}
	counted, err := collect(rs, func(r scanner) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.n)
		return x, err
	})
	if err != nil {
		return nil, mapErr(err, "count key versions by master key")
	}
	out := make(map[string]int, len(counted))
	for _, x := range counted {
		out[x.id] = x.n
	}
	return out, nil
}

// RewrapVersion stores v's wrapped material, protector and master key id
// if the stored material is still old and the version is not destroyed.
func (s *KeyStore) RewrapVersion(ctx context.Context, v kms.KeyVersion, old []byte) error {
	if len(v.Wrapped) == 0 || len(old) == 0 {
		return kms.Errorf(kms.EInvalid, "rewrap key %q version %d: empty material", v.KeyID, v.Version)
	}
	err := s.db.writeTx(ctx, func(tx *sql.Tx) error {
		// The write lock (BEGIN IMMEDIATE) serialises concurrent rewraps:
		// the second sees the first one's material and updates nothing.
		res, err := tx.ExecContext(ctx, `UPDATE key_versions
			SET wrapped = ?, protector = ?, master_key_id = ?
			WHERE key_id = ? AND version = ? AND wrapped = ? AND destroyed_at IS NULL`,
			v.Wrapped, v.Protector, v.MasterKeyID, v.KeyID, v.Version, old)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 1 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM key_versions WHERE key_id = ? AND version = ?`,
			v.KeyID, v.Version).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return kms.Errorf(kms.ENotFound, "key %q version %d not found", v.KeyID, v.Version)
		}
		if err != nil {
			return err
		}
		return kms.Errorf(kms.EConflict, "key %q version %d was rewrapped or destroyed concurrently", v.KeyID, v.Version)
	})
	return mapErr(err, "rewrap key version")
}
