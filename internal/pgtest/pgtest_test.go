package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func query(t *testing.T, dsn string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func TestSharedCreateDatabase(t *testing.T) {
	c := Shared(t)
	a, b := c.CreateDatabase(t), c.CreateDatabase(t)
	if a == b {
		t.Fatalf("two databases share DSN %q", a)
	}
	for _, dsn := range []string{a, b} {
		if err := query(t, dsn); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestartAndClose(t *testing.T) {
	c := New(t)
	dsn := c.TCPDSN("postgres")
	if err := query(t, dsn); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := query(t, dsn); err == nil {
		t.Fatal("query succeeded on a stopped server")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := query(t, dsn); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	dir := c.dir
	if len(processesUsing(dir)) == 0 {
		t.Fatal("processesUsing finds no server while it runs")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cluster directory %s left behind: %v", dir, err)
	}
	// No server process may survive Close.
	if pids := processesUsing(dir); len(pids) > 0 {
		t.Fatalf("postgres processes left behind: %v", pids)
	}
}

// processesUsing returns the pids whose command line mentions dir.
func processesUsing(dir string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u:p@h:5/old?sslmode=disable", "postgres://u:p@h:5/new?sslmode=disable"},
		{"postgresql://h/old", "postgresql://h/new"},
		{"host=h dbname=old", "host=h dbname=old dbname='new'"},
	}
	for _, tt := range tests {
		if got := withDatabase(tt.dsn, "new"); got != tt.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	bin, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(filepath.Join(bin, "initdb")) {
		t.Fatalf("no initdb in %s", bin)
	}

	// Without binaries the error tells how to get them.
	old := binGlob
	binGlob = filepath.Join(t.TempDir(), "*", "postgres")
	t.Cleanup(func() { binGlob = old })
	t.Setenv("PATH", t.TempDir())
	if _, err := findBinaries(); err == nil || err.Error() != errNoBinaries {
		t.Fatalf("err = %v, want %q", err, errNoBinaries)
	}
}
