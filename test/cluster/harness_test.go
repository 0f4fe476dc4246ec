package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/pki"
)

// proc is a running s3kms process whose output goes to a log file.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

// startProc starts bin with args; its output goes to logPath (appended,
// so a restarted process keeps one log). The process is stopped when the
// test ends, or killed when the test binary dies (Linux).
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
	p := &proc{name: name, args: args, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
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

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s had already exited; log:\n%s", p.name, p.logTail())
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// signal sends sig to the running process (SIGSTOP, SIGCONT).
func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v: %v", p.name, sig, err)
	}
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) if it runs.
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // in case it is stopped
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on SIGTERM", p.name)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

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

// cluster is two KMS processes on one KMS database and two S3 nodes on
// one metadata database and one data directory, each node with both KMS
// endpoints.
type cluster struct {
	t        testing.TB
	bin, dir string
	dataDir  string
	s3DSN    string
	caFile   string
	adminEnv []string // S3KMS_* variables of the admin client (KMS A)
	kms      [2]*proc
	kmsAddr  [2]string
	s3       [2]*proc
	s3Addr   [2]string
	s3Conf   [2]string
	access   [2]string // the S3 user's access key id and secret
	clients  [2]*s3.Client
	http     *http.Client // trusts the cluster's CA
}

// options of a cluster.
type options struct {
	// s3 sets fields of both S3 nodes' configuration.
	s3 func(*config.S3)
	// startS3 is how many S3 nodes start now (0: both); startS3Node
	// starts the others.
	startS3 int
}

// newCluster starts the KMS processes and the S3 nodes.
func newCluster(t testing.TB, pg *pgtest.Cluster, opts options) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: s3kmsBinary(t), dir: t.TempDir()}
	set, err := pki.OpenSet(filepath.Join(c.dir, "tls"), "cluster test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"admin", "s3node"} {
		if _, err := set.Ensure(n, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := set.Ensure("server", []string{"127.0.0.1", "localhost"}, false); err != nil {
		t.Fatal(err)
	}
	c.caFile = set.CAFile()
	serverCert, serverKey := set.Files("server")
	adminCert, adminKey := set.Files("admin")
	nodeCert, nodeKey := set.Files("s3node")
	master := filepath.Join(c.dir, "master.key")
	if err := software.GenerateMasterKeyFile(master); err != nil {
		t.Fatal(err)
	}
	kmsDSN := pg.CreateDatabase(t)
	for i := range 2 {
		c.kmsAddr[i] = freeAddr(t)
		conf := filepath.Join(c.dir, fmt.Sprintf("kms%d.yaml", i))
		writeFile(t, conf, `
listen: `+c.kmsAddr[i]+`
tls: {cert: `+serverCert+`, key: `+serverKey+`, client_ca: `+c.caFile+`}
store: {driver: postgres, dsn: "`+kmsDSN+`"}
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
		c.kms[i] = startProc(t, fmt.Sprintf("kms%d", i), c.bin, filepath.Join(c.dir, fmt.Sprintf("kms%d.log", i)),
			"kms", "serve", "--config", conf)
	}
	c.adminEnv = []string{
		"S3KMS_KMS_ENDPOINT=https://" + c.kmsAddr[0], "S3KMS_CA_FILE=" + c.caFile,
		"S3KMS_CLIENT_CERT=" + adminCert, "S3KMS_CLIENT_KEY=" + adminKey,
	}
	c.waitFor("KMS A to answer", func() error { _, err := c.cli("key", "list"); return err })

	c.dataDir = filepath.Join(c.dir, "data")
	c.s3DSN = pg.CreateDatabase(t)
	for i := range 2 {
		c.s3Addr[i] = freeAddr(t)
		cfg := config.DefaultS3()
		cfg.Listen = c.s3Addr[i]
		cfg.TLS.Cert, cfg.TLS.Key = serverCert, serverKey
		cfg.Store = config.Store{Driver: "postgres", DSN: c.s3DSN}
		cfg.DataDir = c.dataDir
		cfg.KMS = config.KMSClient{
			Endpoints: []string{"https://" + c.kmsAddr[0], "https://" + c.kmsAddr[1]},
			CAFile:    c.caFile, Cert: nodeCert, Key: nodeKey,
			CallTimeout: 5 * time.Second,
		}
		cfg.Rewrap.Lease = 5 * time.Second
		if opts.s3 != nil {
			opts.s3(&cfg)
		}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.s3Conf[i] = filepath.Join(c.dir, fmt.Sprintf("s3-%d.yaml", i))
		writeFile(t, c.s3Conf[i], string(b))
	}
	if _, err := c.cli("key", "create", config.DefaultS3().UsersKey); err != nil {
		t.Fatal(err)
	}
	out, err := c.run("s3", "user", "create", "--config", c.s3Conf[0], "--name", "cluster", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var user map[string]string
	if err := json.Unmarshal([]byte(out), &user); err != nil {
		t.Fatalf("s3 user create: %v\n%s", err, out)
	}
	c.access = [2]string{user["access_key_id"], user["secret_access_key"]}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(c.caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA file: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	c.http = &http.Client{Transport: tr}
	n := opts.startS3
	if n == 0 {
		n = 2
	}
	for i := range n {
		c.startS3Node(i)
	}
	return c
}

// startS3Node starts (or restarts) S3 node i and waits until it answers.
func (c *cluster) startS3Node(i int) {
	c.t.Helper()
	c.s3[i] = startProc(c.t, fmt.Sprintf("s3-%d", i), c.bin, filepath.Join(c.dir, fmt.Sprintf("s3-%d.log", i)),
		"s3", "serve", "--config", c.s3Conf[i])
	c.clients[i] = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("https://" + c.s3Addr[i]), UsePathStyle: true,
		HTTPClient: c.http,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.access[0], SecretAccessKey: c.access[1]}, nil
		}),
		// No SDK retries: a failure must show.
		RetryMaxAttempts: 1,
	})
	c.waitFor(fmt.Sprintf("S3 node %d to answer", i), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.clients[i].ListBuckets(ctx, nil)
		return err
	})
}

// restartKMS starts KMS process i again (after kill) and waits for it.
func (c *cluster) restartKMS(i int) {
	c.t.Helper()
	old := c.kms[i]
	c.kms[i] = startProc(c.t, old.name, c.bin, old.log, old.args...)
	c.waitFor(fmt.Sprintf("KMS %d to accept connections", i), func() error {
		conn, err := net.DialTimeout("tcp", c.kmsAddr[i], time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

// waitFor calls f until it succeeds; it fails the test after a minute or
// when a process exits.
func (c *cluster) waitFor(what string, f func() error) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		for _, p := range append(c.kms[:], c.s3[:]...) {
			if p != nil && p.exited() {
				c.t.Fatalf("waiting for %s: %s exited; log:\n%s", what, p.name, p.logTail())
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs the s3kms binary with the admin client's environment and
// returns its standard output.
func (c *cluster) run(args ...string) (string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), c.adminEnv...)
	cmd.Env = append(cmd.Env, "HOME="+c.dir)
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
func (c *cluster) cli(args ...string) (string, error) {
	return c.run(append([]string{"admin"}, args...)...)
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
