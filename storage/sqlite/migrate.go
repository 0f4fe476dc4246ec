package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/migrations"
)

// Migrate applies the embedded SQLite migrations that are not applied
// yet, in name order. Several processes may call it at once on the same
// file: each file is applied exactly once.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, migrations.SQLite)
}

// migrate applies each file of fsys in its own write transaction, which
// also records its name in schema_migrations. The transaction starts with
// BEGIN IMMEDIATE, i.e. holds the database's write lock before it reads
// what is applied: that lock is what serialises concurrent migrators.
func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	files, err := migrations.Files(fsys)
	if err != nil {
		return kms.Wrap(kms.EInternal, err, "read migrations")
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name       TEXT NOT NULL PRIMARY KEY,
			applied_at TEXT NOT NULL) STRICT`)
		return err
	})
	if err != nil {
		return mapErr(err, "create schema_migrations")
	}
	for _, f := range files {
		err := db.writeTx(ctx, func(tx *sql.Tx) error {
			var applied bool
			err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = ?)`, f.Name).Scan(&applied)
			if err != nil || applied {
				return err
			}
			// The driver runs every statement of a multi-statement string.
			if _, err := tx.ExecContext(ctx, f.SQL); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
				f.Name, formatTime(now()))
			return err
		})
		if err != nil {
			return mapErr(fmt.Errorf("%s: %w", f.Name, err), fmt.Sprintf("apply migration %s", f.Name))
		}
	}
	return nil
}
