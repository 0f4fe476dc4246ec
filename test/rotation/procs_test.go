package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/pki"
)

// proc is a running s3kms process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

// startProc starts bin with args; its output goes to logPath (appended,
// so a restarted process keeps one log). The process is killed when the
// test ends, or when the test binary dies (Linux).
func startProc(t testing.TB, name, bin, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (no clean shutdown) and waits for the process to end.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited; log:\n%s", p.name, p.logTail())
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) if it runs.
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on SIGTERM", p.name)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the end of the process's log.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freeAddr returns a loopback address with a free port: serve has no way
// to report a port it picked itself.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stack is a KMS and an S3 node as an operator runs them, with what the
// tests need to reach them: the admin client's environment, the S3 node's
// configuration file and an S3 user.
type stack struct {
	bin      string
	dir      string
	adminEnv []string      // S3KMS_* variables of the admin client
	s3Config string        // the S3 node's configuration file (--config)
	s3       s3Endpoint    // S3 API and user
	store    config.Store  // the S3 node's metadata store
	kms, s3p *proc         // separate processes; s3p is nil for dev
	dev      *proc         // `s3kms dev` (kms and s3p are nil)
	restart  func() *proc  // starts the S3 node again (dev: everything)
	t        testing.TB    // the test that owns the processes
	ready    time.Duration // how long to wait for a (re)start
}

// newServeStack starts `s3kms kms serve` and `s3kms s3 serve` as separate
// processes, each on a database of its own in cluster. s3Set sets more
// fields of the S3 node's configuration by dotted YAML path (e.g.
// "rewrap.rate"), for fields this branch's config.S3 may not have.
func newServeStack(t testing.TB, cluster *pgtest.Cluster, s3Set map[string]any) *stack {
	t.Helper()
	bin := s3kmsBinary(t)
	dir := t.TempDir()
	set, err := pki.OpenSet(filepath.Join(dir, "tls"), "rotation test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"admin", "s3node"} {
		if _, err := set.Ensure(c, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"kms", "s3"} {
		if _, err := set.Ensure(s, []string{"127.0.0.1", "localhost"}, false); err != nil {
			t.Fatal(err)
		}
	}
	kmsAddr, s3Addr := freeAddr(t), freeAddr(t)
	kmsCert, kmsKey := set.Files("kms")
	adminCert, adminKey := set.Files("admin")
	nodeCert, nodeKey := set.Files("s3node")
	master := filepath.Join(dir, "master.key")
	if err := software.GenerateMasterKeyFile(master); err != nil {
		t.Fatal(err)
	}
	kmsConf := filepath.Join(dir, "kms.yaml")
	// The s3node policy is that of `s3kms dev` ("read": the rewrap
	// sweeper asks for a key's current version).
	writeFile(t, kmsConf, `
listen: `+kmsAddr+`
tls: {cert: `+kmsCert+`, key: `+kmsKey+`, client_ca: `+set.CAFile()+`}
store: {driver: postgres, dsn: "`+cluster.CreateDatabase(t)+`"}
protector: {kind: software, master_key_file: `+master+`}
log: {level: info}
policies:
  - name: admin
    identity_certs: [`+adminCert+`]
    allow: [{ops: ["*"], keys: ["*"]}]
  - name: s3node
    identity_certs: [`+nodeCert+`]
    allow:
      - {ops: [create, generate, decrypt, rewrap, read, delete], keys: ["bucket/*"]}
      - {ops: [generate, decrypt, rewrap, read], keys: ["*"]}
      - {ops: [encrypt, decrypt], keys: ["s3node/*"]}
`)
	s3cfg := config.DefaultS3()
	s3cfg.Listen = s3Addr
	s3cfg.TLS.Cert, s3cfg.TLS.Key = set.Files("s3")
	s3cfg.Store = config.Store{Driver: "postgres", DSN: cluster.CreateDatabase(t)}
	s3cfg.DataDir = filepath.Join(dir, "data")
	s3cfg.KMS = config.KMSClient{Endpoint: "https://" + kmsAddr, CAFile: set.CAFile(), Cert: nodeCert, Key: nodeKey}
	s3cfg.Log.Level = "info"
	// A killed node's job is taken over when its lease expires: 5 s
	// rather than the default minute keeps the kill/restart test short.
	s3cfg.Rewrap.Lease = 5 * time.Second
	s3Conf := filepath.Join(dir, "s3.yaml")
	writeFile(t, s3Conf, s3YAML(t, s3cfg, s3Set))

	st := &stack{
		bin: bin, dir: dir, s3Config: s3Conf, store: s3cfg.Store, t: t, ready: time.Minute,
		adminEnv: []string{
			"S3KMS_KMS_ENDPOINT=https://" + kmsAddr, "S3KMS_CA_FILE=" + set.CAFile(),
			"S3KMS_CLIENT_CERT=" + adminCert, "S3KMS_CLIENT_KEY=" + adminKey,
		},
	}
	st.kms = startProc(t, "kms serve", bin, filepath.Join(dir, "kms.log"), "kms", "serve", "--config", kmsConf)
	st.waitFor("the KMS to answer", func() error {
		_, err := st.cli("key", "list")
		return err
	})
	if _, err := st.cli("key", "create", s3cfg.UsersKey, "--description", "seals S3 user secret keys"); err != nil {
		t.Fatal(err)
	}
	out, err := st.run("s3", "user", "create", "--config", s3Conf, "--name", "rotation", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var user map[string]string
	if err := json.Unmarshal([]byte(out), &user); err != nil {
		t.Fatalf("s3 user create: %v\n%s", err, out)
	}
	st.s3 = s3Endpoint{URL: "https://" + s3Addr, Region: s3cfg.Region, CAFile: set.CAFile(),
		AccessKey: user["access_key_id"], Secret: user["secret_access_key"]}
	st.restart = func() *proc {
		st.s3p = startProc(t, "s3 serve", bin, filepath.Join(dir, "s3.log"), "s3", "serve", "--config", s3Conf)
		st.waitS3()
		return st.s3p
	}
	st.restart()
	return st
}

// s3YAML renders cfg with the fields of set (dotted YAML paths) set.
func s3YAML(t testing.TB, cfg config.S3, set map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		parts := strings.Split(path, ".")
		node := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = v
	}
	if b, err = yaml.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newDevStack starts the all-in-one `s3kms dev` (SQLite) as a process.
// Killing it kills the KMS and the S3 node at once.
func newDevStack(t testing.TB) *stack {
	t.Helper()
	bin := s3kmsBinary(t)
	dir := t.TempDir()
	st := &stack{bin: bin, dir: dir, s3Config: filepath.Join(dir, "s3.yaml"), t: t, ready: time.Minute}
	args := []string{"dev", "--data-dir", dir, "--kms-addr", freeAddr(t), "--s3-addr", freeAddr(t), "--kmip-addr", "", "--log-level", "info"}
	// The S3 node's admin API (job slice) has a fixed default port.
	if help, _ := st.run("dev", "--help"); strings.Contains(help, "--s3-admin-addr") {
		args = append(args, "--s3-admin-addr", freeAddr(t))
	}
	st.restart = func() *proc {
		envFile := filepath.Join(dir, "dev.env")
		_ = os.Remove(envFile)
		st.dev = startProc(t, "dev", bin, filepath.Join(dir, "dev.log"), args...)
		var env map[string]string
		st.waitFor("`s3kms dev` to write dev.env", func() error {
			var err error
			env, err = readEnvFile(envFile)
			return err
		})
		st.adminEnv = nil
		for _, k := range []string{"S3KMS_KMS_ENDPOINT", "S3KMS_CA_FILE", "S3KMS_CLIENT_CERT", "S3KMS_CLIENT_KEY"} {
			st.adminEnv = append(st.adminEnv, k+"="+env[k])
		}
		st.s3 = s3Endpoint{URL: env["S3KMS_S3_ENDPOINT"], Region: env["AWS_DEFAULT_REGION"], CAFile: env["AWS_CA_BUNDLE"],
			AccessKey: env["AWS_ACCESS_KEY_ID"], Secret: env["AWS_SECRET_ACCESS_KEY"]}
		st.waitS3()
		return st.dev
	}
	st.restart()
	// Only the store is read, leniently: the binary may be newer than
	// this package's config.S3 (S3KMS_ROTATION_BIN).
	b, err := os.ReadFile(st.s3Config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Store config.Store `yaml:"store"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", st.s3Config, err)
	}
	st.store = cfg.Store
	return st
}

// readEnvFile reads the export lines of a dev.env; it fails until the
// file exists.
func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		line, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, "'")
	}
	return env, nil
}

// node is the process running the S3 node: `s3 serve` or `dev`.
func (st *stack) node() *proc {
	if st.dev != nil {
		return st.dev
	}
	return st.s3p
}

// waitS3 waits until the S3 node lists buckets.
func (st *stack) waitS3() {
	st.t.Helper()
	st.waitFor("the S3 node to answer", func() error {
		c, err := st.s3.client()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.ListBuckets(ctx, nil)
		return err
	})
}

// waitFor calls f until it succeeds; it fails the test after st.ready or
// when a process of the stack exits.
func (st *stack) waitFor(what string, f func() error) {
	st.t.Helper()
	deadline := time.Now().Add(st.ready)
	for {
		err := f()
		if err == nil {
			return
		}
		for _, p := range []*proc{st.kms, st.s3p, st.dev} {
			if p != nil && p.exited() {
				st.t.Fatalf("waiting for %s: %s exited; log:\n%s", what, p.name, p.logTail())
			}
		}
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// errCommand is a command that exited with a non-zero status.
type errCommand struct {
	args   []string
	code   int
	stderr string
}

func (e *errCommand) Error() string {
	return fmt.Sprintf("s3kms %s: exit %d: %s", strings.Join(e.args, " "), e.code, strings.TrimSpace(e.stderr))
}

// run runs the s3kms binary with args and the admin client's environment
// and returns its standard output.
func (st *stack) run(args ...string) (string, error) {
	return st.runContext(context.Background(), args...)
}

func (st *stack) runContext(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, st.bin, args...)
	cmd.Env = append(os.Environ(), st.adminEnv...)
	cmd.Env = append(cmd.Env, "HOME="+st.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), &errCommand{args: args, code: exit.ExitCode(), stderr: errOut.String()}
	}
	return out.String(), err
}

// cli runs `s3kms admin ARGS`.
func (st *stack) cli(args ...string) (string, error) {
	return st.run(append([]string{"admin"}, args...)...)
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
