package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// KeyStore implements kms.KeyStore on SQLite.
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
	err = s.db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (`+rows.KeyCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows.KeyArgs(k, codec{})...)
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
	return mapErr(err, "create key")
}

func insertVersion(ctx context.Context, tx *sql.Tx, v kms.KeyVersion) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO key_versions (`+rows.VersionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, rows.VersionArgs(v, codec{})...)
	return err
}

// GetKey returns the key id.
func (s *KeyStore) GetKey(ctx context.Context, id string) (kms.Key, error) {
	k, err := scanKey(s.db.read.QueryRowContext(ctx, `SELECT `+rows.KeyCols+` FROM keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return kms.Key{}, kms.Errorf(kms.ENotFound, "key %q not found", id)
	}
	if err != nil {
		return kms.Key{}, mapErr(err, "get key")
	}
	return k, nil
}

// ListKeys returns up to limit keys with ids after after, in byte order
// (SQLite's BINARY collation). A limit <= 0 means no limit.
func (s *KeyStore) ListKeys(ctx context.Context, after string, limit int) ([]kms.Key, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.KeyCols+` FROM keys
		WHERE id > ? ORDER BY id LIMIT ?`, after, sqlLimit(limit))
	if err != nil {
		return nil, mapErr(err, "list keys")
	}
	keys, err := collect(rs, scanKey)
	if err != nil {
		return nil, mapErr(err, "list keys")
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
	err := s.db.writeTx(ctx, func(tx *sql.Tx) error {
		// The transaction holds the write lock (BEGIN IMMEDIATE), so no
		// other writer can change the row between this check and the
		// update: concurrent callers with the same revision are
		// serialised and all but the first update nothing.
		var oldState, oldAttrs string
		err := tx.QueryRowContext(ctx, `SELECT state, attributes FROM keys WHERE id = ? AND revision = ?`,
			k.ID, k.Revision).Scan(&oldState, &oldAttrs)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// No row: the update below changes nothing and says why.
		res, err := tx.ExecContext(ctx, `UPDATE keys SET state = ?, enabled = ?, current_version = ?,
				description = ?, deletion_date = ?, updated_at = ?, attributes = ?,
				rotation_period = ?, next_rotation = ?, revision = revision + 1
			WHERE id = ? AND revision = ?`,
			string(k.State), k.Enabled, k.CurrentVersion, k.Description,
			formatTimePtr(k.DeletionDate), formatTime(k.UpdatedAt), rows.AttributesArg(k),
			rows.RotationSeconds(k.RotationPeriod), formatTimePtr(k.NextRotation), k.ID, k.Revision)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			var stored int64
			err := tx.QueryRowContext(ctx, `SELECT revision FROM keys WHERE id = ?`, k.ID).Scan(&stored)
			if errors.Is(err, sql.ErrNoRows) {
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
	return mapErr(err, "update key")
}

// DeleteKey removes key id and its versions if its revision is
// revision.
func (s *KeyStore) DeleteKey(ctx context.Context, id string, revision int64) error {
	err := s.db.writeTx(ctx, func(tx *sql.Tx) error {
		var stored int64
		err := tx.QueryRowContext(ctx, `SELECT revision FROM keys WHERE id = ?`, id).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return kms.Errorf(kms.ENotFound, "key %q not found", id)
		}
		if err != nil {
			return err
		}
		if stored != revision {
			return kms.Errorf(kms.EConflict, "key %q was changed concurrently (revision %d, stored %d)", id, revision, stored)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_names WHERE key_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_versions WHERE key_id = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM keys WHERE id = ?`, id)
		return err
	})
	return mapErr(err, "delete key")
}

// GetVersion returns one version of key id.
func (s *KeyStore) GetVersion(ctx context.Context, id string, version int) (kms.KeyVersion, error) {
	v, err := scanVersion(s.db.read.QueryRowContext(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
		WHERE key_id = ? AND version = ?`, id, version))
	if errors.Is(err, sql.ErrNoRows) {
		return kms.KeyVersion{}, kms.Errorf(kms.ENotFound, "key %q version %d not found", id, version)
	}
	if err != nil {
		return kms.KeyVersion{}, mapErr(err, "get key version")
	}
	return v, nil
}

// ListVersions returns all versions of key id, oldest first.
func (s *KeyStore) ListVersions(ctx context.Context, id string) ([]kms.KeyVersion, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.VersionCols+` FROM key_versions
		WHERE key_id = ? ORDER BY version`, id)
	if err != nil {
		return nil, mapErr(err, "list key versions")
	}
	vs, err := collect(rs, scanVersion)
	if err != nil {
		return nil, mapErr(err, "list key versions")
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
	var n int64
	err := s.db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE key_versions
			SET wrapped = X'', destroyed_at = COALESCE(destroyed_at, ?), state = ?
			WHERE key_id = ?`, formatTime(at), string(kms.StateDestroyed), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return mapErr(err, "destroy key versions")
	}
	if n == 0 {
		return s.exists(ctx, id)
	}
	return nil
}

// KeysDueForDeletion returns the ids of keys, not destroyed, whose
// deletion date is at or before t, earliest first. A limit <= 0 means no
// limit.
func (s *KeyStore) KeysDueForDeletion(ctx context.Context, t time.Time, limit int) ([]string, error) {
	// Stored times are fixed-width UTC text, so text order is time order.
	rs, err := s.db.read.QueryContext(ctx, `SELECT id FROM keys
		WHERE deletion_date <= ? AND state <> ?
		ORDER BY deletion_date, id LIMIT ?`, formatTime(t), string(kms.StateDestroyed), sqlLimit(limit))
	if err != nil {
		return nil, mapErr(err, "list keys due for deletion")
	}
	ids, err := collect(rs, rows.ScanString)
	if err != nil {
		return nil, mapErr(err, "list keys due for deletion")
	}
	return ids, nil
}

// SetVersionState moves version of key id from the state from to the
// state to (compare-and-set); StateDestroyed also erases the material.
func (s *KeyStore) SetVersionState(ctx context.Context, id string, version int, from, to kms.State, at time.Time) error {
	if err := rows.CheckVersionState(from, to); err != nil {
		return err
	}
	err := s.db.writeTx(ctx, func(tx *sql.Tx) error {
		var stored string
		err := tx.QueryRowContext(ctx, `SELECT state FROM key_versions WHERE key_id = ? AND version = ?`,
			id, version).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return kms.Errorf(kms.ENotFound, "key %q version %d not found", id, version)
		}
		if err != nil {
			return err
		}
		if kms.State(stored) != from {
			return rows.VersionStateConflict(id, version, from, kms.State(stored))
		}
		if to == kms.StateDestroyed {
			_, err = tx.ExecContext(ctx, `UPDATE key_versions SET state = ?, wrapped = X'', destroyed_at = ?
				WHERE key_id = ? AND version = ?`, string(to), formatTime(at), id, version)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE key_versions SET state = ? WHERE key_id = ? AND version = ?`,
				string(to), id, version)
		}
		return err
	})
	return mapErr(err, "set key version state")
}

// KeysDueForRotation returns the ids of keys due for automatic rotation
// at t, earliest first. A limit <= 0 means no limit.
func (s *KeyStore) KeysDueForRotation(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT id FROM keys
		WHERE next_rotation <= ? AND state = ? AND enabled AND deletion_date IS NULL AND purpose <> ?
		ORDER BY next_rotation, id LIMIT ?`, formatTime(t), string(kms.StateActive),
		string(kms.PurposeMaterial), sqlLimit(limit))
	if err != nil {
		return nil, mapErr(err, "list keys due for rotation")
	}
	ids, err := collect(rs, rows.ScanString)
	if err != nil {
		return nil, mapErr(err, "list keys due for rotation")
	}
	return ids, nil
}

// exists returns nil if key id exists, ENotFound if not.
func (s *KeyStore) exists(ctx context.Context, id string) error {
	var ok bool
	err := s.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE id = ?)`, id).Scan(&ok)
	if err != nil {
		return mapErr(err, "get key")
	}
	if !ok {
		return kms.Errorf(kms.ENotFound, "key %q not found", id)
	}
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner = rows.Scanner

func scanKey(r scanner) (kms.Key, error)            { return rows.ScanKey(r, codec{}) }
func scanVersion(r scanner) (kms.KeyVersion, error) { return rows.ScanVersion(r, codec{}) }

// collect scans every row with scan and closes rows.
func collect[T any](rs *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// sqlLimit turns a limit <= 0 into -1, which SQLite reads as "no limit".
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}
