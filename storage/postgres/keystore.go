package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// KeyStore implements kms.KeyStore on PostgreSQL.
//
// Times are stored as timestamptz, which keeps microseconds: nanoseconds
// are truncated. Times are returned in UTC.
type KeyStore struct {
	db *DB
}

var _ kms.KeyStore = (*KeyStore)(nil)

// CreateKey stores k with its first version v in one transaction.
func (s *KeyStore) CreateKey(ctx context.Context, k kms.Key, v kms.KeyVersion) error {
	v, err := rows.CheckFirstVersion(k, v)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO keys (`+rows.KeyCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, rows.KeyArgs(k, codec{})...)
		if err != nil {
			return err
		}
		if err := takeNames(ctx, tx, k.ID, rows.HeldNames(k.State, k.Attributes.Names)); err != nil {
			return err
		}
		return insertVersion(ctx, tx, v)
	})
	if isUniqueViolation(err) {
		return kms.Wrap(kms.EConflict, err, fmt.Sprintf("key %q already exists", k.ID))
	}
	return s.db.fail(err, "create key")
}

func insertVersion(ctx context.Context, tx pgx.Tx, v kms.KeyVersion) error {
	_, err := tx.Exec(ctx, `INSERT INTO key_versions (`+rows.VersionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, rows.VersionArgs(v, codec{})...)
	return err
}

// GetKey returns the key id.
func (s *KeyStore) GetKey(ctx context.Context, id string) (kms.Key, error) {
	k, err := scanKey(s.db.pool.QueryRow(ctx, `SELECT `+rows.KeyCols+` FROM keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return kms.Key{}, kms.Errorf(kms.ENotFound, "key %q not found", id)
	}
	if err != nil {
		return kms.Key{}, s.db.fail(err, "get key")
	}
	return k, nil
}

// ListKeys returns up to limit keys with ids after after, in byte order
// (the id column is COLLATE "C"). A limit <= 0 means no limit.
func (s *KeyStore) ListKeys(ctx context.Context, after string, limit int) ([]kms.Key, error) {
	rs, err := s.db.pool.Query(ctx, `SELECT `+rows.KeyCols+` FROM keys
		WHERE id > $1 ORDER BY id LIMIT $2`, after, sqlLimit(limit))
	if err != nil {
		return nil, s.db.fail(err, "list keys")
	}
	keys, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (kms.Key, error) { return scanKey(r) })
	if err != nil {
		return nil, s.db.fail(err, "list keys")
	}
	return keys, nil
}

// UpdateKey writes k's mutable fields if the stored revision is
// k.Revision, and inserts add, in one transaction: a duplicate version
// rolls the key update back too.
func (s *KeyStore) UpdateKey(ctx context.Context, k kms.Key, add *kms.KeyVersion) error {
	if add != nil {
		if add.KeyID != "" && add.KeyID != k.ID {
			return kms.Errorf(kms.EInvalid, "update key %q: version belongs to key %q", k.ID, add.KeyID)
		}
		v := *add
		v.KeyID = k.ID
		add = &v
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		// At READ COMMITTED a concurrent UPDATE of the row makes this one
		// wait, then re-check the WHERE clause against the committed row:
		// the loser sees the new revision and updates nothing. The row is
		// locked first to read the Names it holds.
		var oldState, oldAttrs string
		err := tx.QueryRow(ctx, `SELECT state, attributes FROM keys WHERE id = $1 AND revision = $2 FOR UPDATE`,
			k.ID, k.Revision).Scan(&oldState, &oldAttrs)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// No row: the update below changes nothing and says why.
		tag, err := tx.Exec(ctx, `UPDATE keys SET state = $3, enabled = $4, current_version = $5,
				description = $6, deletion_date = $7, updated_at = $8, attributes = $9,
				rotation_period = $10, next_rotation = $11, revision = revision + 1
			WHERE id = $1 AND revision = $2`,
			k.ID, k.Revision, string(k.State), k.Enabled, k.CurrentVersion,
			k.Description, k.DeletionDate, k.UpdatedAt, rows.AttributesArg(k),
			rows.RotationSeconds(k.RotationPeriod), k.NextRotation)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var stored int64
			err := tx.QueryRow(ctx, `SELECT revision FROM keys WHERE id = $1`, k.ID).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return kms.Errorf(kms.ENotFound, "key %q not found", k.ID)
			}
			if err != nil {
				return err
			}
			return kms.Errorf(kms.EConflict, "key %q was changed concurrently (revision %d, stored %d)", k.ID, k.Revision, stored)
		}
		if err := syncNames(ctx, tx, oldState, oldAttrs, k); err != nil {
			return err
		}
		if add == nil {
			return nil
		}
		if err := insertVersion(ctx, tx, *add); err != nil {
			if isUniqueViolation(err) {
				return kms.Wrap(kms.EConflict, err, fmt.Sprintf("key %q already has version %d", k.ID, add.Version))
			}
			return err
		}
		return nil
	})
	return s.db.fail(err, "update key")
}

// DeleteKey removes key id and its versions if its revision is
// revision.
func (s *KeyStore) DeleteKey(ctx context.Context, id string, revision int64) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var stored int64
		err := tx.QueryRow(ctx, `SELECT revision FROM keys WHERE id = $1 FOR UPDATE`, id).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return kms.Errorf(kms.ENotFound, "key %q not found", id)
		}
		if err != nil {
			return err
		}
		if stored != revision {
			return kms.Errorf(kms.EConflict, "key %q was changed concurrently (revision %d, stored %d)", id, revision, stored)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM key_names WHERE key_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM key_versions WHERE key_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM keys WHERE id = $1`, id)
		return err
	})
	return s.db.fail(err, "delete key")
}

// GetVersion returns one version of key id.
func (s *KeyStore) GetVersion(ctx context.Context, id string, version int) (kms.KeyVersion, error) {
	v, err := scanVersion(s.db.pool.QueryRow(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
		WHERE key_id = $1 AND version = $2`, id, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return kms.KeyVersion{}, kms.Errorf(kms.ENotFound, "key %q version %d not found", id, version)
	}
	if err != nil {
		return kms.KeyVersion{}, s.db.fail(err, "get key version")
	}
	return v, nil
}

// ListVersions returns all versions of key id, oldest first.
func (s *KeyStore) ListVersions(ctx context.Context, id string) ([]kms.KeyVersion, error) {
	rs, err := s.db.pool.Query(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
		WHERE key_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, s.db.fail(err, "list key versions")
	}
	vs, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (kms.KeyVersion, error) { return scanVersion(r) })
	if err != nil {
		return nil, s.db.fail(err, "list key versions")
	}
	if len(vs) == 0 {
		// Every key has a version, so this is most likely an unknown key.
		if err := s.exists(ctx, id); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// DestroyVersions empties the wrapped material of every version of key id.
// A version destroyed before keeps its first DestroyedAt.
func (s *KeyStore) DestroyVersions(ctx context.Context, id string, at time.Time) error {
	tag, err := s.db.pool.Exec(ctx, `UPDATE key_versions
		SET wrapped = '', destroyed_at = COALESCE(destroyed_at, $2), state = $3
		WHERE key_id = $1`, id, at, string(kms.StateDestroyed))
	if err != nil {
		return s.db.fail(err, "destroy key versions")
	}
	if tag.RowsAffected() == 0 {
		return s.exists(ctx, id)
	}
	return nil
}

// KeysDueForDeletion returns the ids of keys, not destroyed, whose
// deletion date is at or before t, earliest first. A limit <= 0 means no
// limit.
func (s *KeyStore) KeysDueForDeletion(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rs, err := s.db.pool.Query(ctx, `SELECT id FROM keys
		WHERE deletion_date <= $1 AND state <> $2
		ORDER BY deletion_date, id LIMIT $3`, t, string(kms.StateDestroyed), sqlLimit(limit))
	if err != nil {
		return nil, s.db.fail(err, "list keys due for deletion")
	}
	ids, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return nil, s.db.fail(err, "list keys due for deletion")
	}
	return ids, nil
}

// SetVersionState moves version of key id from the state from to the
// state to (compare-and-set); StateDestroyed also erases the material.
func (s *KeyStore) SetVersionState(ctx context.Context, id string, version int, from, to kms.State, at time.Time) error {
	if err := rows.CheckVersionState(from, to); err != nil {
		return err
	}
	// One statement: the row's state is compared and changed atomically.
	// old is the statement's snapshot; a concurrent change that commits
	// first makes upd empty (the row is re-checked after its lock).
	var stored string
	var changed bool
	err := s.db.pool.QueryRow(ctx, `WITH old AS (
			SELECT state FROM key_versions WHERE key_id = $1 AND version = $2
		), upd AS (
			UPDATE key_versions SET state = $4,
				wrapped = CASE WHEN $4 = 'destroyed' THEN ''::bytea ELSE wrapped END,
				destroyed_at = CASE WHEN $4 = 'destroyed' THEN $5 ELSE destroyed_at END
			WHERE key_id = $1 AND version = $2 AND state = $3
			RETURNING 1
		)
		SELECT old.state, EXISTS (SELECT 1 FROM upd) FROM old`,
		id, version, string(from), string(to), at).Scan(&stored, &changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return kms.Errorf(kms.ENotFound, "key %q version %d not found", id, version)
	}
	if err != nil {
		return s.db.fail(err, "set key version state")
	}
	if !changed {
		return rows.VersionStateConflict(id, version, from, kms.State(stored))
	}
	return nil
}

// KeysDueForRotation returns the ids of keys due for automatic rotation
// at t, earliest first. A limit <= 0 means no limit.
func (s *KeyStore) KeysDueForRotation(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rs, err := s.db.pool.Query(ctx, `SELECT id FROM keys
		WHERE next_rotation <= $1 AND state = $2 AND enabled AND deletion_date IS NULL AND purpose <> $3
		ORDER BY next_rotation, id LIMIT $4`, t, string(kms.StateActive), string(kms.PurposeMaterial), sqlLimit(limit))
	if err != nil {
		return nil, s.db.fail(err, "list keys due for rotation")
	}
	ids, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return nil, s.db.fail(err, "list keys due for rotation")
	}
	return ids, nil
}

// exists returns nil if key id exists, ENotFound if not.
func (s *KeyStore) exists(ctx context.Context, id string) error {
	var ok bool
	err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE id = $1)`, id).Scan(&ok)
	if err != nil {
		return s.db.fail(err, "get key")
	}
	if !ok {
		return kms.Errorf(kms.ENotFound, "key %q not found", id)
	}
	return nil
}

// sqlLimit turns a limit <= 0 into NULL, which LIMIT reads as "no limit".
func sqlLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

func scanKey(r pgx.Row) (kms.Key, error)            { return rows.ScanKey(r, codec{}) }
func scanVersion(r pgx.Row) (kms.KeyVersion, error) { return rows.ScanVersion(r, codec{}) }
