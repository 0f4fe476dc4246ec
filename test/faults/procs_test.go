package faults

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

// startProc starts bin with args; its output is appended to logPath, so
// that a restarted process keeps one log. The process is stopped when the
// test ends, and killed if the test binary dies (Linux).
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
	t.Cleanup(func() { p.signal(t, syscall.SIGTERM) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig (SIGKILL: no clean shutdown) and waits for the process
// to end; after SIGTERM it waits at most 30 s, then kills.
func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on %v", p.name, sig)
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

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stackOptions chooses where a stack keeps its state.
type stackOptions struct {
	s3PG, kmsPG *pgtest.Cluster // the S3 node's and the KMS's server
	dataDir     string          // the S3 node's data directory ("": in the test's dir)
	sweepGrace  time.Duration   // 0: the default
	sweepEvery  time.Duration   // 0: the default
	metaTimeout time.Duration   // metadata_timeout; 0: the default
	kmsTimeout  time.Duration   // kms.call_timeout; 0: the default
}

// stack is a KMS and an S3 node as separate processes, an S3 user, and a
// KMS key for SSE-KMS (kmsKey).
type stack struct {
	t        testing.TB
	bin, dir string
	adminEnv []string
	kmsConf  string
	s3Conf   string
	s3cfg    config.S3
	kms, s3  *proc
	ep       endpoint
	kmsKey   string
}

// newStack starts `s3kms kms serve` and `s3kms s3 serve`, each on a
// database of its own.
func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	bin := s3kmsBinary(t)
	began := time.Now()
	defer func() { t.Logf("stack started in %v", time.Since(began).Round(time.Millisecond)) }()
	dir := t.TempDir()
	set, err := pki.OpenSet(filepath.Join(dir, "tls"), "faults test CA")
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
	kmsAddr := freeAddr(t)
	kmsCert, kmsKey := set.Files("kms")
	adminCert, adminKey := set.Files("admin")
	nodeCert, nodeKey := set.Files("s3node")
	master := filepath.Join(dir, "master.key")
	if err := software.GenerateMasterKeyFile(master); err != nil {
		t.Fatal(err)
	}
	st := &stack{t: t, bin: bin, dir: dir, kmsConf: filepath.Join(dir, "kms.yaml"), s3Conf: filepath.Join(dir, "s3.yaml"), kmsKey: "faults-kms",
		adminEnv: []string{
			"S3KMS_KMS_ENDPOINT=https://" + kmsAddr, "S3KMS_CA_FILE=" + set.CAFile(),
			"S3KMS_CLIENT_CERT=" + adminCert, "S3KMS_CLIENT_KEY=" + adminKey,
		}}
	writeFile(t, st.kmsConf, `
listen: `+kmsAddr+`
tls: {cert: `+kmsCert+`, key: `+kmsKey+`, client_ca: `+set.CAFile()+`}
store: {driver: postgres, dsn: "`+o.kmsPG.CreateDatabase(t)+`"}
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
	c := config.DefaultS3()
	c.Listen = freeAddr(t)
	c.TLS.Cert, c.TLS.Key = set.Files("s3")
	c.Store = config.Store{Driver: "postgres", DSN: o.s3PG.CreateDatabase(t)}
	c.DataDir = o.dataDir
	if c.DataDir == "" {
		c.DataDir = filepath.Join(dir, "data")
	}
	c.KMS = config.KMSClient{Endpoint: "https://" + kmsAddr, CAFile: set.CAFile(), Cert: nodeCert, Key: nodeKey}
	c.Log.Level = "info"
	if o.sweepGrace > 0 {
		c.SweepGrace = o.sweepGrace
	}
	if o.sweepEvery > 0 {
		c.SweepInterval = o.sweepEvery
	}
	if o.metaTimeout > 0 {
		c.MetadataTimeout = o.metaTimeout
	}
	c.KMS.CallTimeout = o.kmsTimeout
	st.writeS3Config(c)

	st.startKMS()
	if _, err := st.cli("key", "create", c.UsersKey, "--description", "seals S3 user secret keys"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.cli("key", "create", st.kmsKey); err != nil {
		t.Fatal(err)
	}
	out, err := st.run("s3", "user", "create", "--config", st.s3Conf, "--name", "faults", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var user map[string]string
	if err := json.Unmarshal([]byte(out), &user); err != nil {
		t.Fatalf("s3 user create: %v\n%s", err, out)
	}
	st.ep = endpoint{URL: "https://" + c.Listen, Region: c.Region, CAFile: set.CAFile(),
		AccessKey: user["access_key_id"], Secret: user["secret_access_key"]}
	st.startS3()
	return st
}

// writeS3Config (re)writes the S3 node's configuration file; a restarted
// node reads it again.
func (st *stack) writeS3Config(c config.S3) {
	st.t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		st.t.Fatal(err)
	}
	writeFile(st.t, st.s3Conf, string(b))
	st.s3cfg = c
}

// startKMS starts the KMS process and waits until it answers.
func (st *stack) startKMS() {
	st.t.Helper()
	st.kms = startProc(st.t, "kms serve", st.bin, filepath.Join(st.dir, "kms.log"), "kms", "serve", "--config", st.kmsConf)
	st.waitFor("the KMS to answer", time.Minute, func() error {
		_, err := st.cli("key", "list")
		return err
	})
}

// startS3 starts the S3 node and waits until it lists buckets.
func (st *stack) startS3() {
	st.t.Helper()
	st.s3 = startProc(st.t, "s3 serve", st.bin, filepath.Join(st.dir, "s3.log"), "s3", "serve", "--config", st.s3Conf)
	c := st.ep.client(st.t)
	st.waitFor("the S3 node to answer", time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.ListBuckets(ctx, nil)
		return err
	})
}

// waitFor calls f until it succeeds; it fails the test after limit or
// when a process of the stack exits.
func (st *stack) waitFor(what string, limit time.Duration, f func() error) {
	st.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		for _, p := range []*proc{st.kms, st.s3} {
			if p != nil && p.exited() {
				st.t.Fatalf("waiting for %s: %s exited; log:\n%s", what, p.name, p.logTail())
			}
		}
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs the s3kms binary with args and the admin client's environment
// and returns its standard output.
func (st *stack) run(args ...string) (string, error) {
	cmd := exec.Command(st.bin, args...)
	cmd.Env = append(os.Environ(), st.adminEnv...)
	cmd.Env = append(cmd.Env, "HOME="+st.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), fmt.Errorf("s3kms %s: exit %d: %s", strings.Join(args, " "), exit.ExitCode(), strings.TrimSpace(errOut.String()))
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
