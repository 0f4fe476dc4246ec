package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// KeyIDByName returns the id of the key, not destroyed, that holds the
// Name name (table key_names).
func (s *KeyStore) KeyIDByName(ctx context.Context, name string) (string, error) {
	var id string
	err := s.db.read.QueryRowContext(ctx, `SELECT key_id FROM key_names WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", kms.Errorf(kms.ENotFound, "no key is named %q", name)
	}
	if err != nil {
		return "", mapErr(err, "find key by name")
	}
	return id, nil
}

// syncNames updates key_names for k replacing the stored row whose state
// and attributes were oldState and oldAttrs.
func syncNames(ctx context.Context, tx *sql.Tx, oldState, oldAttrs string, k kms.Key) error {
	release, take, err := rows.NameChanges(oldState, oldAttrs, k)
	if err != nil {
		return err
	}
	for _, n := range release {
		// The key_id guard: a Name the key lists but does not hold (see
		// the backfill of 0007_key_names) stays with its holder.
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_names WHERE name = ? AND key_id = ?`, n, k.ID); err != nil {
			return err
		}
	}
	return takeNames(ctx, tx, k.ID, take)
}

// takeNames records names as held by key id. A Name that another key
// holds fails with kms.NameTakenError; the caller's transaction is then
// rolled back.
func takeNames(ctx context.Context, tx *sql.Tx, id string, names []string) error {
	for _, n := range names {
		res, err := tx.ExecContext(ctx, `INSERT INTO key_names (name, key_id) VALUES (?, ?)
			ON CONFLICT (name) DO NOTHING`, n, id)
		if err != nil {
			return err
		}
		if added, err := res.RowsAffected(); err != nil || added == 1 {
			if err != nil {
				return err
			}
			continue
		}
		var holder string
		err = tx.QueryRowContext(ctx, `SELECT key_id FROM key_names WHERE name = ?`, n).Scan(&holder)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if holder != id {
			return kms.NameTakenError(n, nil)
		}
	}
	return nil
}
