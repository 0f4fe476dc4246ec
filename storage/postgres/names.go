package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// KeyIDByName returns the id of the key, not destroyed, that holds the
// Name name (table key_names).
func (s *KeyStore) KeyIDByName(ctx context.Context, name string) (string, error) {
	var id string
	err := s.db.pool.QueryRow(ctx, `SELECT key_id FROM key_names WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", kms.Errorf(kms.ENotFound, "no key is named %q", name)
	}
	if err != nil {
		return "", s.db.fail(err, "find key by name")
	}
	return id, nil
}

// syncNames updates key_names for k replacing the stored row whose state
// and attributes were oldState and oldAttrs.
func syncNames(ctx context.Context, tx pgx.Tx, oldState, oldAttrs string, k kms.Key) error {
	release, take, err := rows.NameChanges(oldState, oldAttrs, k)
	if err != nil {
		return err
	}
	for _, n := range release {
		// The key_id guard: a Name the key lists but does not hold (see
		// the backfill of 0007_key_names) stays with its holder.
		if _, err := tx.Exec(ctx, `DELETE FROM key_names WHERE name = $1 AND key_id = $2`, n, k.ID); err != nil {
			return err
		}
	}
	return takeNames(ctx, tx, k.ID, take)
}

// takeNames records names as held by key id. A Name that another key
// holds fails with kms.NameTakenError; the caller's transaction is then
// rolled back. Of concurrent transactions inserting one Name, the later
// waits for the earlier to end (unique index), so exactly one gets it;
// names come sorted (rows.HeldNames), so that two of them cannot
// deadlock on each other's Names.
func takeNames(ctx context.Context, tx pgx.Tx, id string, names []string) error {
	for _, n := range names {
		tag, err := tx.Exec(ctx, `INSERT INTO key_names (name, key_id) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING`, n, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			continue
		}
		var holder string
		err = tx.QueryRow(ctx, `SELECT key_id FROM key_names WHERE name = $1`, n).Scan(&holder)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if holder != id {
			return kms.NameTakenError(n, nil)
		}
	}
	return nil
}
