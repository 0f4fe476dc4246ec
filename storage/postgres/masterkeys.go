package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

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
		rs, err := s.db.pool.Query(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
			WHERE destroyed_at IS NULL AND master_key_id `+cmp+` $1
				AND (master_key_id, key_id, version) > ($2, $3, $4)
			ORDER BY master_key_id, key_id, version LIMIT $5`,
			masterKeyID, after.MasterKeyID, after.KeyID, after.Version, limit-len(out))
		if err != nil {
			return nil, s.db.fail(err, "list key versions by master key")
		}
		vs, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (kms.KeyVersion, error) { return scanVersion(r) })
		if err != nil {
			return nil, s.db.fail(err, "list key versions by master key")
		}
		out = append(out, vs...)
	}
	return out, nil
}

// CountVersionsByMaster counts the versions, not destroyed, per master key
// id.
func (s *KeyStore) CountVersionsByMaster(ctx context.Context) (map[string]int, error) {
	rs, err := s.db.pool.Query(ctx, `SELECT master_key_id, count(*) FROM key_versions
		WHERE destroyed_at IS NULL GROUP BY master_key_id`)
	if err != nil {
		return nil, s.db.fail(err, "count key versions by master key")
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rs, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	})
	if err != nil {
		return nil, s.db.fail(err, "count key versions by master key")
	}
	return out, nil
}

// RewrapVersion stores v's wrapped material, protector and master key id
// if the stored material is still old and the version is not destroyed.
func (s *KeyStore) RewrapVersion(ctx context.Context, v kms.KeyVersion, old []byte) error {
	if len(v.Wrapped) == 0 || len(old) == 0 {
		return kms.Errorf(kms.EInvalid, "rewrap key %q version %d: empty material", v.KeyID, v.Version)
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE key_versions
		SET wrapped = $3, protector = $4, master_key_id = $5
		WHERE key_id = $1 AND version = $2 AND wrapped = $6 AND destroyed_at IS NULL`,
		v.KeyID, v.Version, v.Wrapped, v.Protector, v.MasterKeyID, old)
	if err != nil {
		return s.db.fail(err, "rewrap key version")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	err = s.db.pool.QueryRow(ctx, `SELECT 1 FROM key_versions WHERE key_id = $1 AND version = $2`,
		v.KeyID, v.Version).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return kms.Errorf(kms.ENotFound, "key %q version %d not found", v.KeyID, v.Version)
	}
	if err != nil {
		return s.db.fail(err, "rewrap key version")
	}
	return kms.Errorf(kms.EConflict, "key %q version %d was rewrapped or destroyed concurrently", v.KeyID, v.Version)
}
