package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/s3kms/s3kms/kms"
)

// mapErr is the one place that turns a database/sql or SQLite error into
// a *kms.Error. op names the operation for the caller-safe message. A
// *kms.Error passes through unchanged; nil stays nil.
//
//   - unique or primary key constraint: EConflict.
//   - foreign key constraint: ENotFound (the referenced key is missing).
//   - SQLITE_BUSY / SQLITE_LOCKED (another process held the lock past the
//     busy timeout), I/O errors, a full disk, an unopenable file, a
//     closed database, timeouts and cancelled contexts: EUnavailable.
//   - anything else: EInternal.
func mapErr(err error, op string) error {
	if err == nil {
		return nil
	}
	var ke *kms.Error
	if errors.As(err, &ke) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kms.Wrap(kms.EUnavailable, err, op+": database did not answer in time")
	}
	if errors.Is(err, sql.ErrConnDone) {
		return kms.Wrap(kms.EUnavailable, err, op+": database unavailable")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		switch code {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return kms.Wrap(kms.EConflict, err, op+": conflict")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return kms.Wrap(kms.ENotFound, err, op+": not found")
		}
		// Extended codes carry the primary code in their low byte.
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_INTERRUPT:
			return kms.Wrap(kms.EUnavailable, err, op+": database unavailable (SQLite code "+strconv.Itoa(code)+")")
		}
		return kms.Wrap(kms.EInternal, err, op+": database error")
	}
	return kms.Wrap(kms.EInternal, err, op+": database error")
}

// isUniqueViolation reports a unique or primary key violation, for call
// sites that want a more precise conflict message than mapErr's.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) &&
		(se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}

// isTriggerAbort reports a RAISE(ABORT) from a trigger.
func isTriggerAbort(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER
}
