// Package sqlite is the embedded SQLite implementation of the KMS stores,
// kms.KeyStore (KeyStore) and kms.AuditLog (AuditLog), used by `s3kms dev`
// and single-node installs. It uses modernc.org/sqlite (pure Go, no cgo)
// through database/sql.
//
// The database runs in WAL mode with synchronous=FULL (a commit is on disk
// when it returns), foreign keys on, and a busy timeout. Writes go through
// a pool of one connection whose transactions start with BEGIN IMMEDIATE:
// writers of this process queue in the pool instead of failing with
// SQLITE_BUSY, and a writer in another process is waited for up to the busy
// timeout. Reads use a separate read-only pool and, thanks to WAL, never
// wait for the writer. Concurrent UpdateKey calls are therefore
// serialised, and all but the first see a changed revision: kms.EConflict.
//
// Times are stored as fixed-width UTC text with nanoseconds (see
// formatTime) and come back exactly. Every error returned is a *kms.Error;
// see mapErr.
package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/s3kms/s3kms/kms"
)

// busyTimeoutMS is how long a statement waits for another process's lock
// before failing with SQLITE_BUSY (reported as kms.EUnavailable).
const busyTimeoutMS = 10000

// DB is an open SQLite database file.
type DB struct {
	write *sql.DB // one connection: all writes, serialised
	read  *sql.DB // read-only connections
}

// Open opens the database file at path, creating it if needed. It returns
// kms.EInvalid for an empty path and kms.EUnavailable if the file cannot
// be opened.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" {
		// Two pools on ":memory:" would be two different databases.
		return nil, kms.Errorf(kms.EInvalid, "sqlite: a database file path is required")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, kms.Wrap(kms.EInvalid, err, "sqlite: bad database path")
	}
	write, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, mapErr(err, "open database")
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	// The write connection switches the file to WAL mode; open it before
	// any reader so that readers find the file in WAL mode.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, mapErr(err, "open database")
	}
	read, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		write.Close()
		return nil, mapErr(err, "open database")
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db := &DB{write: write, read: read}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn builds the modernc.org/sqlite connection string. The path goes in a
// file: URI so that any character in it is escaped rather than parsed as
// the start of the parameters.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMS)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		// Defence in depth: a read connection can never write.
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// BEGIN IMMEDIATE takes the write lock at the start of the
		// transaction. With the default BEGIN DEFERRED, a transaction that
		// reads and then writes can fail with SQLITE_BUSY at its first
		// write without waiting for the busy timeout.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Close closes the database.
func (db *DB) Close() error {
	rerr := db.read.Close()
	werr := db.write.Close()
	if werr != nil {
		return mapErr(werr, "close database")
	}
	return mapErr(rerr, "close database")
}

// Ping checks that the database can be read and written.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return mapErr(err, "ping database")
	}
	return mapErr(db.read.PingContext(ctx), "ping database")
}

// KeyStore returns the key store backed by db.
func (db *DB) KeyStore() *KeyStore { return &KeyStore{db: db} }

// AuditLog returns the audit log backed by db.
func (db *DB) AuditLog() *AuditLog { return &AuditLog{db: db} }

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE), committing if
// fn returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
