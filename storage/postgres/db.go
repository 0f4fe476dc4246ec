// Package postgres is the PostgreSQL implementation of the KMS stores:
// kms.KeyStore (KeyStore) and kms.AuditLog (AuditLog), over a pgx
// connection pool.
//
// Open connects; Migrate brings the schema up to date from the embedded
// migrations (safe to run from several processes at once). Every error
// returned is a *kms.Error: unique violations are kms.EConflict, an
// unreachable or restarting server is kms.EUnavailable (retry later),
// anything else kms.EInternal; see mapErr. Messages never contain the DSN.
//
// Commits are durable: each connection runs with synchronous_commit=on
// unless the DSN sets it explicitly, whatever the server's default.
package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/s3kms/s3kms/kms"
)

// DB is a pool of connections to one PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database at dsn (a libpq keyword/value string or a
// postgres:// URL) and checks that it answers. It returns kms.EInvalid for
// a malformed dsn and kms.EUnavailable if the server cannot be reached.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The cause is dropped on purpose: pgx quotes the connection
		// string, and its password masking is only best effort.
		return nil, kms.Errorf(kms.EInvalid, "invalid PostgreSQL connection string")
	}
	params := cfg.ConnConfig.RuntimeParams
	// A commit acknowledged to a KMS client must survive a crash: a lost
	// key version would make data unreadable. Do not inherit a server-wide
	// synchronous_commit=off; an explicit setting in the DSN still wins.
	if _, ok := params["synchronous_commit"]; !ok {
		params["synchronous_commit"] = "on"
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "s3kms"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapErr(err, "connect to PostgreSQL")
	}
	db := &DB{pool: pool}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes all connections. It waits for connections in use to be
// returned.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database answers. Returns kms.EUnavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	return db.fail(db.pool.Ping(ctx), "ping PostgreSQL")
}

// KeyStore returns the key store backed by db.
func (db *DB) KeyStore() *KeyStore { return &KeyStore{db: db} }

// AuditLog returns the audit log backed by db.
func (db *DB) AuditLog() *AuditLog { return &AuditLog{db: db} }

// fail maps err with mapErr and, when the server looks gone, drops every
// idle pooled connection. A restart kills all of them, and pgxpool only
// pings a connection before reuse when it has been idle for over a
// second: after a quick restart each recently used connection would fail
// one more request. With the reset, the first failure empties the pool and
// later requests dial afresh.
func (db *DB) fail(err error, op string) error {
	err = mapErr(err, op)
	if kms.ErrorCode(err) == kms.EUnavailable && !isContextErr(err) {
		db.pool.Reset()
	}
	return err
}
