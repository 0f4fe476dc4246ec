package sqlite

import (
	"context"
	"errors"

	"database/sql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/internal/rows"
)

// S3Store implements s3node.MetadataStore on SQLite (migration
// 0003_s3_metadata). Every error it returns is a *s3node.Error; see
// s3Err.
//
// Every write runs in one BEGIN IMMEDIATE transaction on the single write
// connection, so writers are serialised: the last PutObject to commit is
// current, and version ids (rowids) follow commit order. Reads use the
// read-only pool and see the last committed state (WAL).
type S3Store struct {
	db *DB
}

var _ s3node.MetadataStore = (*S3Store)(nil)

// S3Store returns the S3 metadata store backed by db.
func (db *DB) S3Store() *S3Store { return &S3Store{db: db} }

// s3Err is the one place that turns a database/sql or SQLite error into
// a *s3node.Error. A *s3node.Error passes through; nil stays nil.
//
//   - unique or primary key constraint: EConflict.
//   - foreign key constraint: ENotFound/NoSuchBucket (a missing bucket).
//   - whatever mapErr calls unavailable (SQLITE_BUSY past the busy
//     timeout, I/O errors, full disk, closed database, timeouts):
//     EUnavailable. Anything else: EInternal.
func s3Err(err error, op string) error {
	if err == nil {
		return nil
	}
	var se *s3node.Error
	if errors.As(err, &se) {
		return err
	}
	var le *sqlite.Error
	if errors.As(err, &le) {
		switch le.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return &s3node.Error{Code: s3node.EConflict, Message: op + ": conflict", Err: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &s3node.Error{Code: s3node.ENotFound, Reason: s3node.NoSuchBucket, Message: op + ": bucket not found", Err: err}
		}
	}
	if kms.ErrorCode(mapErr(err, op)) == kms.EUnavailable {
		return s3node.Wrap(s3node.EUnavailable, err, op+": database unavailable")
	}
	return s3node.Wrap(s3node.EInternal, err, op+": database error")
}

func (s *S3Store) fail(err error, op string) error { return s3Err(err, op) }

func (s *S3Store) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	return s3Err(s.db.writeTx(ctx, fn), op)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// bucketRef resolves a bucket name to its id and versioning state.
// lock is a locking clause; SQLite has none ("").
func bucketRef(ctx context.Context, q querier, name string, lock string) (id string, v s3node.VersioningState, err error) {
	var vs string
	err = q.QueryRowContext(ctx, `SELECT id, versioning FROM s3_buckets WHERE name = ?1 `+lock, name).Scan(&id, &vs)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", rows.NoSuchBucket(name)
	}
	return id, s3node.VersioningState(vs), err
}

// CreateBucket stores b.
func (s *S3Store) CreateBucket(ctx context.Context, b s3node.Bucket) error {
	if err := rows.CheckBucket(b); err != nil {
		return err
	}
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO s3_buckets (`+rows.BucketCols+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
		rows.BucketArgs(b, codec{})...)
	if isUniqueViolation(err) {
		return s3node.Errorf(s3node.EConflict, s3node.BucketAlreadyExists, "bucket %q already exists", b.Name)
	}
	return s.fail(err, "create bucket")
}

// GetBucket returns the bucket name.
func (s *S3Store) GetBucket(ctx context.Context, name string) (s3node.Bucket, error) {
	if err := rows.CheckNames(name); err != nil {
		return s3node.Bucket{}, err
	}
	b, err := rows.ScanBucket(s.db.read.QueryRowContext(ctx, `SELECT `+rows.BucketCols+` FROM s3_buckets WHERE name = ?1`, name), codec{})
	if errors.Is(err, sql.ErrNoRows) {
		return s3node.Bucket{}, rows.NoSuchBucket(name)
	}
	return b, s.fail(err, "get bucket")
}

// ListBuckets returns owner's buckets ("" for all) by name.
func (s *S3Store) ListBuckets(ctx context.Context, owner string) ([]s3node.Bucket, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.BucketCols+` FROM s3_buckets
		WHERE ?1 = '' OR owner = ?1 ORDER BY name`, owner)
	if err != nil {
		return nil, s.fail(err, "list buckets")
	}
	out, err := collect(rs, func(r scanner) (s3node.Bucket, error) { return rows.ScanBucket(r, codec{}) })
	return out, s.fail(err, "list buckets")
}

// DeleteBucket removes an empty bucket.
func (s *S3Store) DeleteBucket(ctx context.Context, name string) error {
	if err := rows.CheckNames(name); err != nil {
		return err
	}
	return s.tx(ctx, "delete bucket", func(tx *sql.Tx) error {
		id, _, err := bucketRef(ctx, tx, name, "")
		if err != nil {
			return err
		}
		var used bool
		err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket_id = ?1)
			OR EXISTS (SELECT 1 FROM s3_uploads WHERE bucket_id = ?1)`, id).Scan(&used)
		if err != nil {
			return err
		}
		if used {
			return rows.BucketNotEmpty(name)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM s3_buckets WHERE id = ?1`, id)
		return err
	})
}

// SetVersioning changes the bucket's versioning state.
func (s *S3Store) SetVersioning(ctx context.Context, name string, state s3node.VersioningState) error {
	if err := rows.CheckVersioning(name, state); err != nil {
		return err
	}
	return s.tx(ctx, "set versioning", func(tx *sql.Tx) error {
		_, cur, err := bucketRef(ctx, tx, name, "")
		if err != nil {
			return err
		}
		if err := rows.CheckVersioningChange(cur, state); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE s3_buckets SET versioning = ?2 WHERE name = ?1`, name, string(state))
		return err
	})
}

// SetBucketTags replaces the bucket's tags.
func (s *S3Store) SetBucketTags(ctx context.Context, name string, tags map[string]string) error {
	return s.setBucketField(ctx, name, "tags", rows.Map(tags, codec{}))
}

// SetBucketEncryption replaces the bucket's default-encryption config.
func (s *S3Store) SetBucketEncryption(ctx context.Context, name string, config []byte) error {
	return s.setBucketField(ctx, name, "encryption", rows.NilIfEmpty(config))
}

func (s *S3Store) setBucketField(ctx context.Context, name, column string, value any) error {
	if err := rows.CheckNames(name); err != nil {
		return err
	}
	res, err := s.db.write.ExecContext(ctx, `UPDATE s3_buckets SET `+column+` = ?2 WHERE name = ?1`, name, value)
	if err != nil {
		return s.fail(err, "update bucket")
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return rows.NoSuchBucket(name)
	}
	return nil
}

// CreateUser stores u.
func (s *S3Store) CreateUser(ctx context.Context, u s3node.User) error {
	if err := rows.CheckUser(u); err != nil {
		return err
	}
	_, err := s.db.write.ExecContext(ctx, `INSERT INTO s3_users (`+rows.UserCols+`) VALUES (?1, ?2, ?3, ?4, ?5)`,
		rows.UserArgs(u, codec{})...)
	if isUniqueViolation(err) {
		return s3node.Errorf(s3node.EConflict, s3node.UserAlreadyExists, "user %q already exists", u.AccessKeyID)
	}
	return s.fail(err, "create user")
}

// GetUser returns the user with the access key id.
func (s *S3Store) GetUser(ctx context.Context, accessKeyID string) (s3node.User, error) {
	if err := rows.CheckNames(accessKeyID); err != nil {
		return s3node.User{}, err
	}
	u, err := rows.ScanUser(s.db.read.QueryRowContext(ctx, `SELECT `+rows.UserCols+` FROM s3_users WHERE access_key_id = ?1`, accessKeyID), codec{})
	if errors.Is(err, sql.ErrNoRows) {
		return s3node.User{}, rows.NoSuchUser(accessKeyID)
	}
	return u, s.fail(err, "get user")
}

// ListUsers returns all users by access key id.
func (s *S3Store) ListUsers(ctx context.Context) ([]s3node.User, error) {
	rs, err := s.db.read.QueryContext(ctx, `SELECT `+rows.UserCols+` FROM s3_users ORDER BY access_key_id`)
	if err != nil {
		return nil, s.fail(err, "list users")
	}
	out, err := collect(rs, func(r scanner) (s3node.User, error) { return rows.ScanUser(r, codec{}) })
	return out, s.fail(err, "list users")
}

// DeleteUser removes a user.
func (s *S3Store) DeleteUser(ctx context.Context, accessKeyID string) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM s3_users WHERE access_key_id = ?1`, accessKeyID)
	if err != nil {
		return s.fail(err, "delete user")
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return rows.NoSuchUser(accessKeyID)
	}
	return nil
}

// BlobReferenced reports whether a version, segment or part uses the blob.
func (s *S3Store) BlobReferenced(ctx context.Context, blobID string) (bool, error) {
	var ok bool
	err := s.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM s3_objects WHERE blob_id = ?1)
		OR EXISTS (SELECT 1 FROM s3_segments WHERE blob_id = ?1)
		OR EXISTS (SELECT 1 FROM s3_parts WHERE blob_id = ?1)`, blobID).Scan(&ok)
	return ok, s.fail(err, "check blob reference")
}
