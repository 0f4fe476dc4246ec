package postgres

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/migrations"
)

// migrationLock is the pg_advisory_xact_lock key that serialises
// migrations. Advisory locks are per database, so it only needs to be
// unique among this application's locks. ("s3kmsmig" in ASCII.)
const migrationLock int64 = 0x73336b6d736d6967

// Migrate applies the embedded PostgreSQL migrations that are not applied
// yet, in name order. Several processes may call it at once: each file is
// applied exactly once.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, migrations.Postgres)
}

// migrate applies each file of fsys in its own transaction, which also
// records its name in schema_migrations, so a file is either applied and
// recorded or not at all. Every transaction first takes the advisory lock
// and only then reads what is applied: a second process blocks until the
// first commits, then sees the file recorded and skips it.
func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	files, err := migrations.Files(fsys)
	if err != nil {
		return kms.Wrap(kms.EInternal, err, "read migrations")
	}
	// Also under the lock: concurrent CREATE TABLE IF NOT EXISTS can fail
	// in PostgreSQL with a unique violation on the catalog.
	err = db.lockedTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name       text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`)
		return err
	})
	if err != nil {
		return db.fail(err, "create schema_migrations")
	}
	for _, f := range files {
		err := db.lockedTx(ctx, func(tx pgx.Tx) error {
			var applied bool
			err := tx.QueryRow(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, f.Name).Scan(&applied)
			if err != nil || applied {
				return err
			}
			// Without arguments pgx sends the file with the simple query
			// protocol, which accepts several statements.
			if _, err := tx.Exec(ctx, f.SQL); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, f.Name)
			return err
		})
		if err != nil {
			return db.fail(err, fmt.Sprintf("apply migration %s", f.Name))
		}
	}
	return nil
}

// lockedTx runs fn in a transaction holding the migration lock; the lock
// is released by the commit or rollback, even if the connection dies.
func (db *DB) lockedTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		return fn(tx)
	})
}
