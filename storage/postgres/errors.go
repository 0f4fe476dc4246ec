package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/s3kms/s3kms/kms"
)

// mapErr is the one place that turns a pgx or PostgreSQL error into a
// *kms.Error. op names the operation for the caller-safe message ("get
// key"). A *kms.Error passes through unchanged; nil stays nil.
//
//   - 23505 unique_violation, 40001 serialization_failure, 40P01
//     deadlock_detected: EConflict (a concurrent writer won).
//   - 23503 foreign_key_violation: ENotFound (the referenced key is gone).
//   - connection failures (dial errors, resets, EOF, closed connections),
//     class 08 connection_exception, 57P01-03 admin/crash shutdown and
//     cannot_connect_now, 53300 too_many_connections, timeouts and
//     cancelled contexts: EUnavailable, a reason to retry later.
//   - anything else: EInternal.
//
// Causes never carry the DSN: a pgconn.ConnectError (whose text names the
// user and database) is replaced by the dial error it wraps.
func mapErr(err error, op string) error {
	if err == nil {
		return nil
	}
	var ke *kms.Error
	if errors.As(err, &ke) {
		return err
	}
	if isContextErr(err) {
		return kms.Wrap(kms.EUnavailable, err, op+": database did not answer in time")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Whatever made the connection fail (refused, auth, database
		// missing), from the KMS's side the database is unavailable.
		return kms.Wrap(kms.EUnavailable, errors.Unwrap(ce), op+": database unavailable")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch code := pe.Code; {
		case code == "23505" || code == "40001" || code == "40P01":
			return kms.Wrap(kms.EConflict, err, op+": conflict")
		case code == "23503":
			return kms.Wrap(kms.ENotFound, err, op+": not found")
		case strings.HasPrefix(code, "08"),
			code == "57P01", code == "57P02", code == "57P03",
			code == "53300":
			return kms.Wrap(kms.EUnavailable, err, op+": database unavailable")
		}
		return kms.Wrap(kms.EInternal, err, op+": database error")
	}
	if isConnErr(err) {
		return kms.Wrap(kms.EUnavailable, err, op+": database unavailable")
	}
	return kms.Wrap(kms.EInternal, err, op+": database error")
}

// isUniqueViolation reports a 23505 unique_violation, for call sites that
// want a more precise conflict message than mapErr's.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err)
}

// isConnErr reports whether err means the connection is broken or could
// not be made, as opposed to the server rejecting a statement.
func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err)
}
