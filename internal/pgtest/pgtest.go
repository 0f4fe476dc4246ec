// Package pgtest gives tests a real PostgreSQL server of their own.
//
// By default it starts a private cluster from the PostgreSQL server
// binaries installed on the machine (Debian: /usr/lib/postgresql/<v>/bin,
// highest version wins): initdb into a temporary directory, then a
// postmaster listening on a unix socket in that directory and on
// 127.0.0.1 at a free port. Durability is traded for speed (fsync=off):
// the data is thrown away anyway. The system cluster is never touched.
//
// If S3KMS_TEST_POSTGRES is set to a DSN, Shared uses that server instead
// (it must allow CREATE DATABASE). Missing binaries are a test failure,
// never a silent skip: a green run must mean the PostgreSQL code was run.
//
// Usage, one cluster per test binary:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.Shared(t).CreateDatabase(t) // fresh database
//		...
//	}
//
// Tests that stop and restart the server take a cluster of their own with
// New(t). Main stops every cluster when the tests end, pass or fail; on
// Linux the postmaster also gets SIGQUIT if the test process dies.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that points the tests at an
// existing server instead of a private cluster.
const EnvDSN = "S3KMS_TEST_POSTGRES"

// errNoBinaries is the message required when no server can be started.
const errNoBinaries = "PostgreSQL server binaries not found: install them with `apt-get install postgresql` (or set S3KMS_TEST_POSTGRES to a DSN)"

// ErrExternal is returned by Stop and Start on a cluster that points at a
// server given by S3KMS_TEST_POSTGRES: that server is not ours to stop.
var ErrExternal = errors.New("pgtest: cannot stop or start an external server")

// Cluster is a PostgreSQL server used by tests.
type Cluster struct {
	external string // DSN from S3KMS_TEST_POSTGRES; "" for a private cluster

	// Private clusters only.
	bin     string              // directory holding initdb and postgres
	dir     string              // temp dir: data/, the unix socket, postgres.log
	port    int                 // TCP port on 127.0.0.1, kept across restarts
	cred    *syscall.Credential // run the server as this user (when we are root)
	mu      sync.Mutex          // guards proc, done
	proc    *os.Process         // running postmaster, nil when stopped
	done    chan struct{}       // closed when proc has exited
	dbSeq   atomic.Int64
	closing sync.Once
}

var (
	mainActive atomic.Bool // Main is running the tests
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error

	liveMu sync.Mutex
	live   []*Cluster // private clusters not closed yet, for Main's cleanup
)

// Main runs the tests of a package that uses Shared or New and then stops
// and removes every cluster they started, whatever the outcome. Call it
// from TestMain; it does not return.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to clean up after the tests:
// it returns the exit code instead of exiting.
func Run(m *testing.M) int {
	mainActive.Store(true)
	// An interrupted run (Ctrl-C, kill) still removes its clusters.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		closeAll()
		fmt.Fprintf(os.Stderr, "pgtest: %v: clusters stopped\n", s)
		os.Exit(2)
	}()
	code := m.Run()
	signal.Stop(sig)
	closeAll()
	return code
}

func closeAll() {
	liveMu.Lock()
	cs := slices.Clone(live)
	liveMu.Unlock()
	for _, c := range cs {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
}

// Shared returns the cluster shared by all tests of this test binary,
// starting it on first use. It uses S3KMS_TEST_POSTGRES when set. The test
// package must call Main from TestMain, which stops the cluster at the end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if !mainActive.Load() {
		t.Fatal("pgtest.Shared needs `func TestMain(m *testing.M) { pgtest.Main(m) }` in the test package, so the cluster is stopped at the end")
	}
	sharedOnce.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			shared = &Cluster{external: dsn}
			return
		}
		shared, sharedErr = NewCluster()
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// New starts a private cluster for t alone, closed when t ends. Use it for
// tests that Stop and Start the server. It needs the server binaries; only
// when S3KMS_TEST_POSTGRES is set and they are missing does it skip t
// (saying so), because an external server cannot be stopped by a test.
func New(t testing.TB) *Cluster {
	t.Helper()
	if _, err := findBinaries(); err != nil && os.Getenv(EnvDSN) != "" {
		t.Skipf("needs a private cluster, and S3KMS_TEST_POSTGRES cannot be stopped: %v", err)
	}
	c, err := NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// NewCluster initialises and starts a private cluster. The caller must
// Close it; prefer New or Shared in tests.
func NewCluster() (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	// Record who owns the directory, for sweepStale in later runs.
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir}
	if err := c.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	liveMu.Lock()
	live = append(live, c)
	liveMu.Unlock()
	if err := c.Start(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

const (
	dirPrefix = "s3kms-pgtest-"
	ownerFile = "owner.pid"
)

// sweepStale removes the directories of clusters whose test process is
// gone. A test binary that panics or is killed cannot run its cleanup; its
// server dies with it (parent-death signal) but its directory stays.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		// Signal 0 checks that the process exists.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// binGlob finds the server binaries of Debian's postgresql packages.
var binGlob = "/usr/lib/postgresql/*/bin/postgres"

// findBinaries returns the bin directory of the newest installed server.
func findBinaries() (string, error) {
	matches, _ := filepath.Glob(binGlob)
	best, bestVer := "", -1.0
	for _, m := range matches {
		// /usr/lib/postgresql/<ver>/bin/postgres; <ver> is "15" or "9.6".
		ver, err := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(m))), 64)
		if err == nil && ver > bestVer && isExecutable(filepath.Join(filepath.Dir(m), "initdb")) {
			best, bestVer = filepath.Dir(m), ver
		}
	}
	if best != "" {
		return best, nil
	}
	// Other distributions put the server binaries on PATH.
	if p, err := exec.LookPath("postgres"); err == nil && isExecutable(filepath.Join(filepath.Dir(p), "initdb")) {
		return filepath.Dir(p), nil
	}
	return "", errors.New(errNoBinaries)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// init runs initdb. The server refuses to run as root, so when we are root
// the directory is handed to the postgres system user and the server
// binaries run under its uid.
func (c *Cluster) init() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root needs the `postgres` system user to run the server: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		if err := os.Chown(c.dir, int(uid), int(gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	// -A trust: the server holds throwaway data and listens only on
	// loopback and in a private socket directory. --no-sync keeps initdb
	// fast; the C locale makes the default text order byte order (tests
	// that need a linguistic order ask CreateDatabase for one).
	cmd := exec.Command(filepath.Join(c.bin, "initdb"),
		"-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = c.dir // postgres may not be allowed into our working directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	return nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: no free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server of a stopped private cluster on the same data
// directory and port, and waits until it accepts connections. It is a
// no-op if the server runs.
func (c *Cluster) Start() error {
	if c.external != "" {
		return ErrExternal
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor

	args := []string{
		"-D", c.dataDir(),
		"-p", strconv.Itoa(c.port),
		"-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		// Speed over durability: test data is disposable.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB",
		"-c", "autovacuum=off",
		// Parallel tests each hold a pool.
		"-c", "max_connections=200",
	}
	type result struct {
		proc *os.Process
		err  error
	}
	started := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		// The parent-death signal is tied to the thread that forked the
		// child, not the process: keep this goroutine on its thread for as
		// long as the server runs, so the Go scheduler cannot retire the
		// thread and kill the server early. Never unlocked on purpose.
		runtime.LockOSThread()
		cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
		cmd.Dir = c.dir
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = sysProcAttr(c.cred)
		if err := cmd.Start(); err != nil {
			started <- result{err: err}
			close(done)
			return
		}
		started <- result{proc: cmd.Process}
		_ = cmd.Wait()
		close(done)
	}()
	r := <-started
	if r.err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", r.err)
	}
	c.proc, c.done = r.proc, done
	if err := c.waitReady(done); err != nil {
		c.stopLocked()
		return err
	}
	return nil
}

// waitReady polls until the server accepts a connection, fails early if the
// postmaster exits, and includes the server log in errors.
func (c *Cluster) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited during start-up\n%s", c.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: postgres not ready after 60s: %v\n%s", last, c.logTail())
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logPath())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Stop shuts the server down (fast shutdown: clients are disconnected) and
// waits for it to exit. The data directory is kept for Start. It is a
// no-op if the server is stopped.
func (c *Cluster) Stop() error {
	if c.external != "" {
		return ErrExternal
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *Cluster) stopLocked() error {
	if c.proc == nil {
		return nil
	}
	defer func() { c.proc, c.done = nil, nil }()
	// SIGINT is a fast shutdown, SIGQUIT immediate, SIGKILL the last resort
	// (it would leave the backends running, hence the escalation).
	for _, s := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		if err := c.proc.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pgtest: signal postgres: %w", err)
		}
		select {
		case <-c.done:
			return nil
		case <-time.After(30 * time.Second):
		}
	}
	return errors.New("pgtest: postgres did not exit")
}

// Close stops a private cluster and removes its directory. It is a no-op
// for an external server.
func (c *Cluster) Close() error {
	if c.external != "" {
		return nil
	}
	var err error
	c.closing.Do(func() {
		err = c.Stop()
		if rmErr := os.RemoveAll(c.dir); err == nil && rmErr != nil {
			err = fmt.Errorf("pgtest: %w", rmErr)
		}
		liveMu.Lock()
		live = slices.DeleteFunc(live, func(x *Cluster) bool { return x == c })
		liveMu.Unlock()
	})
	return err
}

// DSN returns a connection string for database dbname, over the unix
// socket for a private cluster.
func (c *Cluster) DSN(dbname string) string {
	if c.external != "" {
		return withDatabase(c.external, dbname)
	}
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable",
		quote(c.dir), c.port, quote(dbname))
}

// TCPDSN is DSN over TCP on 127.0.0.1, for tests that want the network
// path (connection refused, resets) rather than the unix socket.
func (c *Cluster) TCPDSN(dbname string) string {
	if c.external != "" {
		return withDatabase(c.external, dbname)
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable",
		c.port, quote(dbname))
}

// withDatabase returns dsn with its database replaced by dbname, for both
// URL and keyword/value connection strings.
func withDatabase(dsn, dbname string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + dbname
			u.RawPath = ""
			q := u.Query()
			q.Del("dbname")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	// A later keyword overrides an earlier one.
	return dsn + " dbname=" + quote(dbname)
}

// quote quotes a keyword/value connection string value.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// CreateDatabase creates an empty database named after t and returns its
// DSN. The database is dropped when t ends. options, if any, are appended
// to the CREATE DATABASE statement, e.g. "TEMPLATE template0 LOCALE_PROVIDER
// icu ICU_LOCALE 'en-US'" to test under a linguistic collation.
func (c *Cluster) CreateDatabase(t testing.TB, options ...string) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), c.dbSeq.Add(1), notIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 63 { // NAMEDATALEN-1
		name = name[:63]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.admin(ctx, strings.Join(append([]string{`CREATE DATABASE "` + name + `"`}, options...), " ")); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a pool a test forgot to close must not keep the database.
		// Errors are ignored: the server may be stopped by the test, and a
		// private cluster is removed as a whole anyway.
		_ = c.admin(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	})
	return c.DSN(name)
}

// admin runs one statement on the maintenance database.
func (c *Cluster) admin(ctx context.Context, sql string) error {
	dsn := c.external
	if dsn == "" {
		dsn = c.DSN("postgres")
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
