package deploy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// maxExposure is the highest overall exposure level (0 to 10, lower is
// better) `systemd-analyze security --offline=yes` may give a unit.
const maxExposure = 2.0

var units = []string{"s3kms-kms.service", "s3kms-s3.service"}

// unit is a parsed systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t testing.TB, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, `\`):
			t.Fatalf("%s:%d: line continuations are not used in our units", path, i+1)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one returns the single value of key in section.
func (u unit) one(t testing.TB, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %d values, want 1", section, key, len(v))
	}
	return v[0]
}

// execStartUnits writes copies of the units whose binary is bin, since
// systemd-analyze verify checks that ExecStart names an executable.
func execStartUnits(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range units {
		data, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("/usr/local/bin/s3kms"), []byte(bin))
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "s3kms-kms.service.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	dropin, err := os.ReadFile("systemd/pkcs11.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s3kms-kms.service.d", "pkcs11.conf"), dropin, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const installSystemd = "apt-get install systemd (for systemd-analyze; no running systemd is needed)"

// TestSystemdUnits runs `systemd-analyze verify` on the units (with the
// pkcs11 drop-in) and checks the hardening they must keep and their
// exposure score.
func TestSystemdUnits(t *testing.T) {
	sa := needTool(t, "systemd-analyze", installSystemd)
	dir := execStartUnits(t, "/bin/true")
	var paths []string
	for _, name := range units {
		paths = append(paths, filepath.Join(dir, name))
	}
	cmd := exec.Command(sa, append([]string{"verify"}, paths...)...)
	// The drop-in directory next to the units is found on the unit path.
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, name := range units {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(sa, "security", "--offline=yes", filepath.Join(dir, name)).CombinedOutput()
			m := re.FindSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("systemd-analyze security: %v\n%s", err, out)
			}
			score, _ := strconv.ParseFloat(string(m[1]), 64)
			t.Logf("%s: exposure %.1f (threshold %.1f)", name, score, maxExposure)
			if score > maxExposure {
				t.Errorf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
			}
			u := parseUnit(t, filepath.Join("systemd", name))
			want := map[string]string{
				"Type": "exec", "User": "s3kms", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
				"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
				"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
				"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
				"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
				"LimitCORE": "0", "KillSignal": "SIGTERM", "ExecReload": "/bin/kill -HUP $MAINPID",
				"ConfigurationDirectory": "s3kms",
			}
			for k, v := range want {
				if got := u["Service"][k]; len(got) != 1 || got[0] != v {
					t.Errorf("[Service] %s = %q, want %q", k, got, v)
				}
			}
			if got := u["Service"]["SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
				t.Errorf("SystemCallFilter = %q, want @system-service first", got)
			}
			stop, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
			if err != nil || stop <= shutdownTimeout {
				t.Errorf("TimeoutStopSec %v (%v) must exceed the services' shutdown_timeout %v", stop, err, shutdownTimeout)
			}
		})
	}
}

// shutdownTimeout is the services' default shutdown_timeout: stop
// timeouts (TimeoutStopSec, terminationGracePeriodSeconds) must exceed it.
const shutdownTimeout = 30 * time.Second

// sandbox is a temporary root where /etc/s3kms and /var/lib/s3kms of the
// units and example configurations live, with free ports for the
// examples' listeners.
type sandbox struct {
	root  string
	ports map[string]string // example port → free port
}

func newSandbox(t *testing.T) *sandbox {
	s := &sandbox{root: t.TempDir(), ports: map[string]string{}}
	for _, p := range []string{"7373", "5696", "9000", "7374"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, s.ports[p], _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	return s
}

var portRE = regexp.MustCompile(`:(7373|5696|9000|7374)\b`)

// rewrite moves a path or configuration text into the sandbox: absolute
// s3kms paths under its root, listeners on loopback and free ports, the
// example KMS host name to localhost.
func (s *sandbox) rewrite(text string) string {
	pairs := []string{"/etc/s3kms", s.root + "/etc/s3kms", "/var/lib/s3kms", s.root + "/var/lib/s3kms",
		"/etc/softhsm", s.root + "/etc/softhsm", "/var/lib/softhsm", s.root + "/var/lib/softhsm",
		"0.0.0.0:", "127.0.0.1:", "kms.example.com", "localhost"}
	text = strings.NewReplacer(pairs...).Replace(text)
	return portRE.ReplaceAllStringFunc(text, func(m string) string { return ":" + s.ports[m[1:]] })
}

// readEnvFile parses an EnvironmentFile (KEY=VALUE lines, # comments).
func readEnvFile(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}

// TestSystemdExecStart runs each unit's ExecStart line as written (the
// binary replaced by a fresh build, /etc/s3kms and /var/lib/s3kms moved
// into a temporary root) on the example configuration it names and the
// environment file it names (deploy/systemd/*.env.example, with a real
// database and master key), with TLS material made by `s3kms certs` as
// deploy/README.md says. The KMS must become ready, the S3 node must
// serve S3 over HTTPS through it, and both must stop on KillSignal within
// TimeoutStopSec. (systemd itself cannot run here: no PID 1 systemd.)
func TestSystemdExecStart(t *testing.T) {
	bin := s3kmsBinary(t)
	pg := pgtest.Shared(t)
	sb := newSandbox(t)
	etc := filepath.Join(sb.root, "etc", "s3kms")
	tlsDir := filepath.Join(etc, "tls")
	makeTLS(t, bin, tlsDir)
	// Environment files: every variable the example names, real values.
	real := map[string]string{
		"S3KMS_KMS_DSN":    pg.CreateDatabase(t),
		"S3KMS_S3_DSN":     pg.CreateDatabase(t),
		"S3KMS_MASTER_KEY": hex.EncodeToString(randomBytes(t, 32)),
	}
	svc := map[string]*service{}
	for _, name := range units {
		svc[name] = unitService(t, sb, bin, name, nil, "", real)
	}
	hc := caClient(t, tlsDir)

	kms := svc["s3kms-kms.service"]
	kms.start(t)
	waitHTTP(t, kms, hc, "https://localhost:"+sb.ports["7373"]+"/readyz", http.StatusOK)
	s3 := svc["s3kms-s3.service"]
	s3.start(t)
	// An anonymous request: the node answers S3's AccessDenied, so it runs,
	// reached its database and serves HTTPS with the example's certificate.
	waitHTTP(t, s3, hc, "https://localhost:"+sb.ports["9000"]+"/", http.StatusForbidden)
	s3.terminate(t)
	kms.terminate(t)
}

// makeTLS makes the TLS material of the example configurations with
// `s3kms certs`, as deploy/README.md says (paths in the sandbox).
func makeTLS(t *testing.T, bin, tlsDir string) {
	t.Helper()
	s3kms := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("s3kms %v: %v\n%s", args, err, out)
		}
	}
	s3kms("certs", "ca", "--out", tlsDir)
	s3kms("certs", "server", "--ca", tlsDir, "--name", "kms", "--dns", "localhost", "--ip", "127.0.0.1", "--out", tlsDir)
	s3kms("certs", "server", "--ca", tlsDir, "--name", "s3", "--dns", "localhost", "--out", tlsDir)
	for _, c := range []string{"admin", "s3node", "kmip-client"} {
		s3kms("certs", "client", "--ca", tlsDir, "--name", c, "--out", tlsDir)
	}
}

// caClient is an HTTPS client trusting tlsDir/ca.crt.
func caClient(t *testing.T, tlsDir string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, filepath.Join(tlsDir, "ca.crt")))
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// unitService prepares the process the unit name (plus drop-ins, paths
// under deploy/systemd) would start: its ExecStart with the binary bin,
// the example configuration ExecStart names (or config, an example to
// install under that name), the environment file's example (with the
// values of real) and the Environment= lines, all moved into sb.
func unitService(t *testing.T, sb *sandbox, bin, name string, dropins []string, config string, real map[string]string) *service {
	t.Helper()
	u := parseUnit(t, filepath.Join("systemd", name))
	for _, d := range dropins {
		for k, v := range parseUnit(t, filepath.Join("systemd", d))["Service"] {
			u["Service"][k] = append(u["Service"][k], v...)
		}
	}
	argv := strings.Fields(u.one(t, "Service", "ExecStart"))
	if argv[0] != "/usr/local/bin/s3kms" || len(argv) != 5 || argv[3] != "--config" {
		t.Fatalf("%s: ExecStart %q is not `/usr/local/bin/s3kms SVC serve --config FILE`", name, argv)
	}
	if config == "" {
		config = filepath.Join("examples", strings.TrimPrefix(argv[4], "/etc/s3kms/"))
	}
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatalf("%s: ExecStart names %s, which is not an example config: %v", name, argv[4], err)
	}
	writeFile(t, sb.rewrite(argv[4]), sb.rewrite(string(data)))
	envFile := u.one(t, "Service", "EnvironmentFile")
	envExample := filepath.Join("systemd", strings.TrimPrefix(envFile, "/etc/s3kms/")+".example")
	if strings.Contains(config, "pkcs11") {
		envExample = strings.Replace(envExample, "kms.env", "kms-pkcs11.env", 1)
	}
	env := readEnvFile(t, envExample)
	vars := []string{"PATH=/usr/bin:/bin"}
	for k := range env {
		v, ok := real[k]
		if !ok {
			t.Fatalf("%s: the test has no value for %s", envExample, k)
		}
		vars = append(vars, k+"="+v)
	}
	for _, e := range u["Service"]["Environment"] {
		vars = append(vars, sb.rewrite(e))
	}
	for _, ref := range envRefRE.FindAllStringSubmatch(stripComments(string(data)), -1) {
		if v := ref[1] + ref[2]; env[v] == "" {
			t.Errorf("%s uses %s, which %s does not set", config, v, envExample)
		}
	}
	stop, _ := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
	args := append([]string{bin}, argv[1:]...)
	for i := range args[1:] {
		args[i+1] = sb.rewrite(args[i+1])
	}
	sig := u.one(t, "Service", "KillSignal")
	if signals[sig] == 0 {
		t.Fatalf("%s: KillSignal %s is not one the services handle", name, sig)
	}
	return &service{name: name, args: args, env: vars, stop: stop,
		signal: signals[sig], signalName: sig, log: filepath.Join(sb.root, name+".log")}
}

// envRefRE finds the environment variables a configuration reads.
var envRefRE = regexp.MustCompile(`\$\{(\w+)\}|(?:master_key_env|pin_env): (\w+)`)

// stripComments drops YAML comments (a '#' at the start of a line or after
// a space; the example configurations quote no '#').
func stripComments(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "#"); j == 0 || j > 0 && l[j-1] == ' ' {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

var signals = map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}

// service is one unit's ExecStart, run by the test.
type service struct {
	name   string
	args   []string
	env    []string
	stop   time.Duration
	signal syscall.Signal
	// signalName is the unit's KillSignal.
	signalName string
	log        string
	cmd        *exec.Cmd
	done       chan error
}

func (s *service) start(t *testing.T) {
	t.Helper()
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// terminate sends KillSignal and waits at most TimeoutStopSec for a clean
// exit, as systemd would before SIGKILL.
func (s *service) terminate(t *testing.T) {
	t.Helper()
	begin := time.Now()
	_ = s.cmd.Process.Signal(s.signal)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("%s: exit on %s: %v\n%s", s.name, s.signalName, err, s.logTail())
		}
		t.Logf("%s stopped on %s after %v", s.name, s.signalName, time.Since(begin).Round(time.Millisecond))
	case <-time.After(s.stop):
		t.Errorf("%s did not stop within TimeoutStopSec %v", s.name, s.stop)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *service) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitHTTP polls url until it answers status, failing when the service
// exits or 30 s pass.
func waitHTTP(t *testing.T, s *service, hc *http.Client, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("%s exited: %v\n%s", s.name, err, s.logTail())
		default:
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s never answered %d (last: %s)\n%s", s.name, url, status, last, s.logTail())
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t testing.TB) string { return hex.EncodeToString(randomBytes(t, 8)) }

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(fmt.Errorf("random: %w", err))
	}
	return b
}
