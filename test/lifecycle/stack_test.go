package lifecycle

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pki"
)

// proc is a running s3kms process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	code int           // exit code, once done
}

// startProc starts bin with args; the process is killed when the test
// ends, or when the test binary dies (Linux).
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
		p.code = cmd.ProcessState.ExitCode()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
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

// signal sends sig to the process.
func (p *proc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

// wait waits up to limit for the process to exit and returns its code.
func (p *proc) wait(t testing.TB, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %v; log:\n%s", p.name, limit, p.logText())
		return -1
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
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

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stack is a KMS and an S3 node, separate processes on SQLite.
type stack struct {
	bin, dir          string
	set               *pki.Set
	kmsAddr, s3Addr   string
	kmsConf, s3Conf   string
	adminEnv          []string
	kms, s3           *proc
	access, secret    string
	region            string
	roots             *x509.CertPool
	kmsCert, kmsKey   string
	s3Cert, s3Key     string
	adminCert, admKey string
	s3cfg             map[string]any // the S3 node's configuration
}

// options set more fields of the configurations (YAML, top level).
type options struct {
	kms, s3 map[string]any
}

// newStack starts `s3kms kms serve` and `s3kms s3 serve` and creates an S3
// user.
func newStack(t testing.TB, o options) *stack {
	t.Helper()
	st := &stack{bin: s3kmsBinary(t), dir: t.TempDir(), region: "us-east-1"}
	set, err := pki.OpenSet(filepath.Join(st.dir, "tls"), "lifecycle test CA")
	if err != nil {
		t.Fatal(err)
	}
	st.set = set
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
	ca, err := os.ReadFile(set.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	st.roots = x509.NewCertPool()
	st.roots.AppendCertsFromPEM(ca)
	st.kmsAddr, st.s3Addr = freeAddr(t), freeAddr(t)
	st.kmsCert, st.kmsKey = set.Files("kms")
	st.s3Cert, st.s3Key = set.Files("s3")
	st.adminCert, st.admKey = set.Files("admin")
	nodeCert, nodeKey := set.Files("s3node")
	master := filepath.Join(st.dir, "master.key")
	if err := software.GenerateMasterKeyFile(master); err != nil {
		t.Fatal(err)
	}
	kms := map[string]any{
		"listen":    st.kmsAddr,
		"tls":       map[string]any{"cert": st.kmsCert, "key": st.kmsKey, "client_ca": set.CAFile()},
		"store":     map[string]any{"driver": "sqlite", "path": filepath.Join(st.dir, "kms.db")},
		"protector": map[string]any{"kind": "software", "master_key_file": master},
		"log":       map[string]any{"level": "info"},
		"policies": []any{
			map[string]any{"name": "admin", "identity_certs": []string{st.adminCert},
				"allow": []any{map[string]any{"ops": []string{"*"}, "keys": []string{"*"}}}},
			map[string]any{"name": "s3node", "identity_certs": []string{nodeCert}, "allow": []any{
				map[string]any{"ops": []string{"create", "generate", "decrypt", "rewrap", "read", "delete"}, "keys": []string{"bucket/*"}},
				map[string]any{"ops": []string{"generate", "decrypt", "rewrap", "read"}, "keys": []string{"*"}},
				map[string]any{"ops": []string{"encrypt", "decrypt"}, "keys": []string{"s3node/*"}},
			}},
		},
	}
	merge(kms, o.kms)
	st.kmsConf = filepath.Join(st.dir, "kms.yaml")
	writeYAML(t, st.kmsConf, kms)
	s3 := map[string]any{
		"listen":   st.s3Addr,
		"tls":      map[string]any{"cert": st.s3Cert, "key": st.s3Key},
		"store":    map[string]any{"driver": "sqlite", "path": filepath.Join(st.dir, "s3.db")},
		"data_dir": filepath.Join(st.dir, "data"),
		"kms":      map[string]any{"endpoint": "https://" + st.kmsAddr, "ca_file": set.CAFile(), "cert": nodeCert, "key": nodeKey},
		"log":      map[string]any{"level": "info"},
	}
	merge(s3, o.s3)
	st.s3cfg = s3
	st.s3Conf = filepath.Join(st.dir, "s3.yaml")
	writeYAML(t, st.s3Conf, s3)
	st.adminEnv = []string{
		"S3KMS_KMS_ENDPOINT=https://" + st.kmsAddr, "S3KMS_CA_FILE=" + set.CAFile(),
		"S3KMS_CLIENT_CERT=" + st.adminCert, "S3KMS_CLIENT_KEY=" + st.admKey,
	}
	st.kms = startProc(t, "kms serve", st.bin, filepath.Join(st.dir, "kms.log"), "kms", "serve", "--config", st.kmsConf)
	st.waitFor(t, "the KMS to answer", func() error { _, err := st.cli("admin", "key", "list"); return err })
	if out, err := st.cli("admin", "key", "create", "s3node/users"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := st.cli("s3", "user", "create", "--config", st.s3Conf, "--name", "lifecycle", "--json")
	if err != nil {
		t.Fatalf("s3 user create: %v: %s", err, out)
	}
	var user map[string]string
	if err := json.Unmarshal([]byte(out), &user); err != nil {
		t.Fatalf("s3 user create: %v\n%s", err, out)
	}
	st.access, st.secret = user["access_key_id"], user["secret_access_key"]
	st.startS3(t, nil)
	return st
}

// startS3 starts the S3 node (again) with more configuration set, and
// waits for it to answer.
func (st *stack) startS3(t testing.TB, set map[string]any) {
	t.Helper()
	merge(st.s3cfg, set)
	writeYAML(t, st.s3Conf, st.s3cfg)
	if _, err := config.LoadS3(st.s3Conf); err != nil {
		t.Fatal(err)
	}
	st.s3 = startProc(t, "s3 serve", st.bin, filepath.Join(st.dir, "s3.log"), "s3", "serve", "--config", st.s3Conf)
	st.waitFor(t, "the S3 node to answer", func() error {
		resp, err := st.s3Do(context.Background(), st.httpClient(false), "GET", "/", nil, 0)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// kmipAddr is the KMS's KMIP address from its configuration.
func (st *stack) kmipAddr(t testing.TB) string {
	t.Helper()
	cfg, err := config.LoadKMS(st.kmsConf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KMIP.Listen == "" {
		t.Fatal("KMIP is off")
	}
	return cfg.KMIP.Listen
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if m, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				merge(d, m)
				continue
			}
		}
		dst[k] = v
	}
}

func writeYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

// cli runs the s3kms binary with the admin environment.
func (st *stack) cli(args ...string) (string, error) {
	cmd := exec.Command(st.bin, args...)
	cmd.Env = append(os.Environ(), st.adminEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (st *stack) waitFor(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v\nkms log:\n%s", what, err, st.kms.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpClient returns a client of the S3 node with a connection pool of
// its own, speaking HTTP/2 or HTTP/1.1.
func (st *stack) httpClient(http2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.roots}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr}
}

// s3Do sends a SigV4-signed request (unsigned payload) to the S3 node.
func (st *stack) s3Do(ctx context.Context, hc *http.Client, method, path string, body interface{ Read([]byte) (int, error) }, n int64) (*http.Response, error) {
	return st.s3DoHeaders(ctx, hc, method, path, body, n, nil)
}

// s3DoHeaders is s3Do with more (signed) headers.
func (st *stack) s3DoHeaders(ctx context.Context, hc *http.Client, method, path string, body interface{ Read([]byte) (int, error) }, n int64, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+st.s3Addr+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Body = readCloser{body}
		req.ContentLength = n
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: st.access, SecretAccessKey: st.secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", st.region, time.Now()); err != nil {
		return nil, err
	}
	return hc.Do(req)
}

type readCloser struct {
	r interface{ Read([]byte) (int, error) }
}

func (r readCloser) Read(p []byte) (int, error) { return r.r.Read(p) }
func (readCloser) Close() error                 { return nil }

// refused reports whether a new TCP connection to addr is refused.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return strings.Contains(err.Error(), "refused")
	}
	c.Close()
	return false
}
