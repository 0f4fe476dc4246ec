package postgres

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/migrations"
	"github.com/s3kms/s3kms/storage/internal/rows"
	"github.com/s3kms/s3kms/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// linguistic creates test databases whose default collation sorts "a"
// before "B" and ignores punctuation, so the suite proves that the schema
// asks for byte order itself. The private cluster (PostgreSQL 15+, built
// with ICU on Debian) supports it; an external server might not.
func linguistic() []string {
	if os.Getenv(pgtest.EnvDSN) != "" {
		return nil
	}
	return []string{"TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"}
}

func bg(t *testing.T) context.Context {
	// Not t.Context(): pools outlive it until the cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(bg(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// migrated returns a store on a fresh, migrated database.
func migrated(t *testing.T) *DB {
	t.Helper()
	db := open(t, pgtest.Shared(t).CreateDatabase(t, linguistic()...))
	if err := db.Migrate(bg(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestKeyStore(t *testing.T) {
	storagetest.ExerciseKeyStore(t, func(t *testing.T) storagetest.Store {
		db := migrated(t)
		return struct {
			*KeyStore
			*AuditLog
		}{db.KeyStore(), db.AuditLog()}
	})
}

func TestAuditAppendOnly(t *testing.T) {
	db := migrated(t)
	exec := func(ctx context.Context, sql string) error {
		_, err := db.pool.Exec(ctx, sql)
		return err
	}
	storagetest.ExerciseAuditAppendOnly(t, db.AuditLog(), exec,
		`UPDATE audit SET result = 'tampered'`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE id < 0`, // refused even when no row matches
		`TRUNCATE audit`,
		`INSERT INTO audit (id, time, identity, operation, key_id, key_version, result, request_id)
			SELECT id, time, identity, operation, key_id, key_version, 'x', request_id FROM audit
			ON CONFLICT (id) DO UPDATE SET result = 'tampered'`,
	)
}

func TestKeyIDByteOrderCollation(t *testing.T) {
	db := migrated(t)
	for _, table := range []string{"keys", "key_versions"} {
		var coll string
		col := map[string]string{"keys": "id", "key_versions": "key_id"}[table]
		err := db.pool.QueryRow(bg(t), `SELECT collation_name FROM information_schema.columns
			WHERE table_name = $1 AND column_name = $2`, table, col).Scan(&coll)
		if err != nil {
			t.Fatal(err)
		}
		if coll != "C" {
			t.Errorf("%s.%s has collation %q, want C", table, col, coll)
		}
	}
}

// A server-wide or per-database synchronous_commit=off must not make the
// KMS's commits non-durable.
func TestSynchronousCommit(t *testing.T) {
	c := pgtest.Shared(t)
	dsn := c.CreateDatabase(t)
	first := open(t, dsn)
	if _, err := first.pool.Exec(bg(t), `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	db := open(t, dsn)
	var got string
	if err := db.pool.QueryRow(bg(t), `SHOW synchronous_commit`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "on" {
		t.Fatalf("synchronous_commit = %q, want on", got)
	}
}

func appliedNames(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.pool.Query(bg(t), `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Several KMS processes starting at once all migrate; each file must be
// applied once and none may fail.
func TestMigrateConcurrent(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	const procs = 4
	dbs := make([]*DB, procs)
	for i := range dbs {
		dbs[i] = open(t, dsn) // one pool each, like separate processes
	}
	errs := make([]error, procs)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = db.Migrate(bg(t))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	files, err := migrations.Files(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, f.Name)
	}
	if got := appliedNames(t, dbs[0]); !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	// Running again is a no-op.
	if err := dbs[0].Migrate(bg(t)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateStepwise(t *testing.T) {
	db := open(t, pgtest.Shared(t).CreateDatabase(t))
	ctx := bg(t)
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x int);`)}}
	if err := db.migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	// 0001 must be skipped (re-running it would fail: a exists); 0002 is
	// new; 0003 fails halfway and must leave neither its table nor its
	// record behind.
	v2 := fstest.MapFS{
		"0001_a.sql":   v1["0001_a.sql"],
		"0002_b.sql":   {Data: []byte(`CREATE TABLE b (x int); INSERT INTO b VALUES (1);`)},
		"0003_bad.sql": {Data: []byte(`CREATE TABLE c (x int); SELECT no_such_column FROM b;`)},
	}
	err := db.migrate(ctx, v2)
	if err == nil || !strings.Contains(err.Error(), "0003_bad.sql") {
		t.Fatalf("err = %v, want failure naming 0003_bad.sql", err)
	}
	if got, want := appliedNames(t, db), []string{"0001_a.sql", "0002_b.sql"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('c') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("table c of the failed migration exists")
	}
}

func TestMapErr(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want kms.Code
	}{
		{"nil", nil, ""},
		{"kms error passes", kms.Errorf(kms.ENotFound, "x"), kms.ENotFound},
		{"unique violation", pg("23505"), kms.EConflict},
		{"serialization failure", pg("40001"), kms.EConflict},
		{"foreign key", pg("23503"), kms.ENotFound},
		{"connection failure", pg("08006"), kms.EUnavailable},
		{"admin shutdown", pg("57P01"), kms.EUnavailable},
		{"crash shutdown", pg("57P02"), kms.EUnavailable},
		{"starting up", pg("57P03"), kms.EUnavailable},
		{"too many connections", pg("53300"), kms.EUnavailable},
		{"syntax error", pg("42601"), kms.EInternal},
		{"deadline", context.DeadlineExceeded, kms.EUnavailable},
		{"wrapped deadline", errors.Join(errors.New("x"), context.DeadlineExceeded), kms.EUnavailable},
		{"EOF", io.ErrUnexpectedEOF, kms.EUnavailable},
		{"net", &net.OpError{Op: "read", Err: errors.New("reset")}, kms.EUnavailable},
		{"conn closed", pgconn.ErrConnClosed, kms.EUnavailable},
		{"other", errors.New("boom"), kms.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kms.ErrorCode(mapErr(tt.err, "op")); got != tt.want {
				t.Fatalf("mapErr(%v) code %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestOpenErrorsHideSecrets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	tests := []struct {
		name string
		dsn  string
		want kms.Code
	}{
		{"unreachable", "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=alice password=hunter2 dbname=d connect_timeout=5", kms.EUnavailable},
		{"unreachable URL", "postgres://alice:hunter2@127.0.0.1:" + strconv.Itoa(port) + "/d?connect_timeout=5", kms.EUnavailable},
		{"malformed URL", "postgres://alice:hunter2@127.0.0.1:notaport/d", kms.EInvalid},
		{"malformed", "host=x password='hunter2", kms.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(bg(t), tt.dsn)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if got := kms.ErrorCode(err); got != tt.want {
				t.Fatalf("code %q, want %q: %v", got, tt.want, err)
			}
			if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "alice") {
				t.Fatalf("error reveals the DSN: %s", msg)
			}
		})
	}
}

// migrationsBefore returns the migrations of fsys that come before the
// one whose name ends with suffix (found by suffix, so that a renumbering
// does not break the test).
func migrationsBefore(t *testing.T, fsys fs.FS, suffix string) fstest.MapFS {
	t.Helper()
	files, err := migrations.Files(fsys)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, f := range files {
		if strings.HasSuffix(f.Name, suffix) {
			return out
		}
		out[f.Name] = &fstest.MapFile{Data: []byte(f.SQL)}
	}
	t.Fatalf("no migration named *%s", suffix)
	return nil
}

func TestMigrateNamesBackfill(t *testing.T) {
	storagetest.ExerciseNamesBackfill(t, func(t *testing.T, keys []kms.Key) storagetest.Store {
		ctx := bg(t)
		db := open(t, pgtest.Shared(t).CreateDatabase(t, linguistic()...))
		if err := db.migrate(ctx, migrationsBefore(t, migrations.Postgres, "_key_names.sql")); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			_, err := db.pool.Exec(ctx, `INSERT INTO keys (`+rows.KeyColsBefore0009+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, rows.KeyArgs(k, codec{})[:13]...)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return struct {
			*KeyStore
			*AuditLog
		}{db.KeyStore(), db.AuditLog()}
	})
}
