package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/migrations"
	"github.com/s3kms/s3kms/storage/internal/rows"
	"github.com/s3kms/s3kms/storage/storagetest"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func migrated(t *testing.T) *DB {
	t.Helper()
	db := open(t, filepath.Join(t.TempDir(), "kms.db"))
	if err := db.Migrate(context.Background()); err != nil {
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
		_, err := db.write.ExecContext(ctx, sql)
		return err
	}
	storagetest.ExerciseAuditAppendOnly(t, db.AuditLog(), exec,
		`UPDATE audit SET result = 'tampered'`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE id > 0`,
		`INSERT OR REPLACE INTO audit (id, time, identity, operation, key_id, key_version, result, context, request_id)
			SELECT id, time, identity, operation, key_id, key_version, 'tampered', context, request_id FROM audit`,
		`REPLACE INTO audit (id, time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES (1, '', '', '', '', 0, 'tampered', NULL, '')`,
		`INSERT INTO audit (id, time, identity, operation, key_id, key_version, result, context, request_id)
			VALUES (1, '', '', '', '', 0, 'x', NULL, '') ON CONFLICT (id) DO UPDATE SET result = 'tampered'`,
	)
}

// SQLite keeps nanoseconds, finer than the suite checks.
func TestTimeNanosecondRoundTrip(t *testing.T) {
	db := migrated(t)
	ks, ctx := db.KeyStore(), context.Background()
	zone := time.FixedZone("east", 5*3600+45*60)
	ts := time.Date(2031, 1, 2, 3, 4, 5, 123456789, zone)
	del := ts.Add(time.Nanosecond)
	k := kms.Key{ID: "k", Purpose: kms.PurposeNamed, State: kms.StateActive, CurrentVersion: 1,
		CreatedAt: ts, UpdatedAt: ts.Add(-time.Nanosecond), DeletionDate: &del}
	v := kms.KeyVersion{Version: 1, Wrapped: []byte{1}, CreatedAt: ts.Add(999 * time.Nanosecond)}
	if err := ks.CreateKey(ctx, k, v); err != nil {
		t.Fatal(err)
	}
	got, err := ks.GetKey(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	gotV, err := ks.GetVersion(ctx, "k", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ got, want time.Time }{
		{got.CreatedAt, k.CreatedAt}, {got.UpdatedAt, k.UpdatedAt}, {*got.DeletionDate, del}, {gotV.CreatedAt, v.CreatedAt},
	} {
		if !p.got.Equal(p.want.UTC()) || p.got.Location() != time.UTC {
			t.Errorf("got %s, want %s", p.got.Format(time.RFC3339Nano), p.want.UTC().Format(time.RFC3339Nano))
		}
	}
	// One nanosecond matters to the deletion sweeper too.
	if ids, err := ks.KeysDueForDeletion(ctx, ts, 0); err != nil || len(ids) != 0 {
		t.Fatalf("due at ts: %v, %v; want none", ids, err)
	}
	if ids, err := ks.KeysDueForDeletion(ctx, del, 0); err != nil || len(ids) != 1 {
		t.Fatalf("due at ts+1ns: %v, %v; want [k]", ids, err)
	}
}

func TestPragmas(t *testing.T) {
	db := migrated(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"read", "foreign_keys", "1"},
		{"read", "query_only", "1"},
		{"read", "busy_timeout", "10000"},
	} {
		pool := db.write
		if tt.name == "read" {
			pool = db.read
		}
		var got string
		if err := pool.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s connection: %s = %s, want %s", tt.name, tt.pragma, got, tt.want)
		}
	}
	if _, err := db.read.ExecContext(ctx, `INSERT INTO audit (time, identity, operation, key_id, key_version, result, request_id)
		VALUES ('', '', '', '', 0, '', '')`); err == nil {
		t.Error("the read pool can write")
	}
}

// Two handles on one file behave like two processes: BEGIN IMMEDIATE and
// the busy timeout turn lock contention into waiting, so the losers of a
// revision race see EConflict, never SQLITE_BUSY.
func TestConcurrentWritersAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kms.db")
	a := open(t, path)
	if err := a.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := open(t, path)
	ctx := context.Background()
	k := kms.Key{ID: "k", Purpose: kms.PurposeNamed, State: kms.StateActive, CurrentVersion: 1}
	if err := a.KeyStore().CreateKey(ctx, k, kms.KeyVersion{Version: 1, Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			kk := k
			kk.CurrentVersion = 2
			errs[i] = db.KeyStore().UpdateKey(ctx, kk, &kms.KeyVersion{Version: 2, Wrapped: []byte{byte(i)}})
			// Audit appends interleave with the updates.
			if err := db.AuditLog().AppendAudit(ctx, kms.AuditEvent{Identity: "w", Operation: "update", Result: "ok"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch kms.ErrorCode(err) {
		case "":
			wins++
		case kms.EConflict:
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want 1", wins)
	}
	events, err := b.AuditLog().ListAudit(ctx, kms.AuditFilter{})
	if err != nil || len(events) != writers {
		t.Fatalf("audit: %d events, %v; want %d", len(events), err, writers)
	}
}

func appliedNames(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.read.Query(`SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := collect(rows, func(r scanner) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMigrateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kms.db")
	const procs = 4
	dbs := make([]*DB, procs)
	for i := range dbs {
		dbs[i] = open(t, path)
	}
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { errs[i] = db.Migrate(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	files, err := migrations.Files(migrations.SQLite)
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
}

func TestMigrateStepwise(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "kms.db"))
	ctx := context.Background()
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)}}
	if err := db.migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{
		"0001_a.sql":   v1["0001_a.sql"],
		"0002_b.sql":   {Data: []byte(`CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);`)},
		"0003_bad.sql": {Data: []byte(`CREATE TABLE c (x INTEGER); SELECT no_such_column FROM b;`)},
	}
	err := db.migrate(ctx, v2)
	if err == nil || !strings.Contains(err.Error(), "0003_bad.sql") {
		t.Fatalf("err = %v, want failure naming 0003_bad.sql", err)
	}
	if got, want := appliedNames(t, db), []string{"0001_a.sql", "0002_b.sql"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'c'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table c of the failed migration: count %d, %v", n, err)
	}
}

// The path goes into a URI: characters with a meaning there must not
// change which file is opened.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k?ms.db")
	db := open(t, path)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %q: %v", path, err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tt := range []struct {
		path string
		want kms.Code
	}{
		{"", kms.EInvalid},
		{":memory:", kms.EInvalid},
		{filepath.Join(t.TempDir(), "missing-dir", "kms.db"), kms.EUnavailable},
	} {
		db, err := Open(context.Background(), tt.path)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded", tt.path)
		}
		if got := kms.ErrorCode(err); got != tt.want {
			t.Errorf("Open(%q): code %q, want %q (%v)", tt.path, got, tt.want, err)
		}
	}
}

func TestMapErr(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want kms.Code
	}{
		{"nil", nil, ""},
		{"kms error", kms.Errorf(kms.ENotFound, "x"), kms.ENotFound},
		{"deadline", context.DeadlineExceeded, kms.EUnavailable},
		{"canceled", context.Canceled, kms.EUnavailable},
		{"other", errors.New("boom"), kms.EInternal},
	} {
		if got := kms.ErrorCode(mapErr(tt.err, "op")); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
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
		ctx := context.Background()
		db := open(t, filepath.Join(t.TempDir(), "kms.db"))
		if err := db.migrate(ctx, migrationsBefore(t, migrations.SQLite, "_key_names.sql")); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			_, err := db.write.ExecContext(ctx, `INSERT INTO keys (`+rows.KeyColsBefore0009+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows.KeyArgs(k, codec{})[:13]...)
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
