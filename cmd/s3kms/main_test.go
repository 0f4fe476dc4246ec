package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/pki"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// startDev runs `s3kms dev` in-process on dir until the test ends and
// returns the variables of the dev.env it writes. extra are more dev flags.
func startDev(t *testing.T, dir string, extra ...string) map[string]string {
	t.Helper()
	envFile := filepath.Join(dir, "dev.env")
	_ = os.Remove(envFile)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"dev", "--data-dir", dir, "--kms-addr", "127.0.0.1:0", "--kmip-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0", "--s3-admin-addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
		done <- run(ctx, args, nil, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("dev exited with %d: %s", code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if env, err := readEnvFile(envFile); err == nil {
			return env
		}
		select {
		case code := <-done:
			t.Fatalf("dev exited with %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not write %s: %s", envFile, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, ok := strings.CutPrefix(s.Text(), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, "'")
	}
	return env, s.Err()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// admin runs `s3kms admin ARGS` in-process with env and returns stdout,
// stderr and the exit code.
func admin(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"admin"}, args...), nil, &out, &errOut)
	return out.String(), errOut.String(), code
}

func adminJSON(t *testing.T, env map[string]string, v any, args ...string) {
	t.Helper()
	out, errOut, code := admin(t, env, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("admin %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("admin %v: output is not JSON: %v\n%s", args, err, out)
	}
}

func TestDevAndAdminCLI(t *testing.T) {
	dir := t.TempDir()
	env := startDev(t, dir)
	for _, k := range []string{"S3KMS_KMS_ENDPOINT", "S3KMS_CA_FILE", "S3KMS_CLIENT_CERT", "S3KMS_CLIENT_KEY"} {
		if env[k] == "" {
			t.Fatalf("dev.env lacks %s: %v", k, env)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}

	var k wire.Key
	adminJSON(t, env, &k, "key", "create", "app-key", "--description", "test key")
	if k.ID != "app-key" || k.State != "active" || !k.Enabled || k.CurrentVersion != 1 {
		t.Fatalf("created key = %+v", k)
	}
	var list wire.ListKeysResponse
	adminJSON(t, env, &list, "key", "list")
	ids := map[string]bool{}
	for _, k := range list.Keys {
		ids[k.ID] = true
	}
	if !ids["app-key"] || !ids["s3node/users"] {
		t.Fatalf("key list = %+v", list)
	}
	out, _, code := admin(t, env, "key", "list")
	if code != 0 || !strings.Contains(out, "app-key") || !strings.Contains(out, "PURPOSE") {
		t.Fatalf("text key list:\n%s", out)
	}

	var dk wire.GenerateDataKeyResponse
	adminJSON(t, env, &dk, "datakey", "generate", "app-key", "--context", "bucket=photos,key=cat.jpg")
	if len(dk.Plaintext) != 32 || len(dk.Ciphertext) == 0 {
		t.Fatalf("datakey = %+v", dk)
	}
	ct := encode(dk.Ciphertext)
	var dec wire.DecryptResponse
	adminJSON(t, env, &dec, "datakey", "decrypt", "app-key", "--ciphertext", ct, "--context", "bucket=photos,key=cat.jpg")
	if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatal("decrypted data key differs")
	}
	_, errOut, code := admin(t, env, "datakey", "decrypt", "app-key", "--ciphertext", ct, "--context", "bucket=photos,key=dog.jpg")
	if code == 0 || !strings.Contains(errOut, "not authentic") {
		t.Fatalf("decrypt with wrong context: exit %d, %q", code, errOut)
	}

	adminJSON(t, env, &k, "key", "rotate", "app-key")
	if k.CurrentVersion != 2 {
		t.Fatalf("after rotate: %+v", k)
	}
	adminJSON(t, env, &k, "key", "show", "app-key")
	if len(k.Versions) != 2 || k.Versions[0].Protector != "software" {
		t.Fatalf("show: %+v", k)
	}
	adminJSON(t, env, &k, "key", "disable", "app-key")
	if k.Enabled {
		t.Fatal("disable did not disable")
	}
	_, errOut, code = admin(t, env, "datakey", "generate", "app-key")
	if code == 0 || !strings.Contains(errOut, "disabled") {
		t.Fatalf("generate on disabled key: exit %d, %q", code, errOut)
	}
	adminJSON(t, env, &k, "key", "enable", "app-key")
	adminJSON(t, env, &k, "key", "schedule-deletion", "app-key", "--days", "7")
	if k.DeletionDate == nil {
		t.Fatal("no deletion date")
	}
	_, errOut, code = admin(t, env, "key", "schedule-deletion", "app-key", "--days", "3")
	if code == 0 || !strings.Contains(errOut, "between 7 and 30") {
		t.Fatalf("schedule-deletion 3 days: exit %d, %q", code, errOut)
	}
	k = wire.Key{}
	adminJSON(t, env, &k, "key", "cancel-deletion", "app-key")
	if k.DeletionDate != nil || k.Enabled {
		t.Fatalf("after cancel: %+v", k)
	}
	adminJSON(t, env, &k, "key", "enable", "app-key")

	var audit wire.ListAuditResponse
	adminJSON(t, env, &audit, "audit", "list", "--key", "app-key", "--limit", "100")
	ops := map[string]int{}
	for _, e := range audit.Events {
		ops[e.Operation+":"+e.Result]++
	}
	for _, want := range []string{"key.create:ok", "datakey.generate:ok", "decrypt:ok", "decrypt:decrypt_failed", "key.rotate:ok", "datakey.generate:disabled", "key.schedule-deletion:invalid"} {
		if ops[want] == 0 {
			t.Errorf("audit lacks %s: %v", want, ops)
		}
	}
	out, _, _ = admin(t, env, "audit", "list")
	if !strings.Contains(out, "OPERATION") {
		t.Errorf("text audit list:\n%s", out)
	}

	_, errOut, code = admin(t, map[string]string{"S3KMS_KMS_ENDPOINT": ""}, "key", "list")
	if code == 0 || !strings.Contains(errOut, "S3KMS_KMS_ENDPOINT") {
		t.Errorf("missing endpoint: exit %d, %q", code, errOut)
	}
}

func encode(b []byte) string {
	out, _ := json.Marshal(b)
	return strings.Trim(string(out), `"`)
}

// TestDevKeepsKeys restarts dev on the same directory: the keys, the
// master key and the certificates survive.
func TestDevKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	var ct string
	t.Run("first", func(t *testing.T) {
		env := startDev(t, dir)
		var dk wire.GenerateDataKeyResponse
		admin(t, env, "key", "create", "kept")
		adminJSON(t, env, &dk, "datakey", "generate", "kept", "--context", "a=b")
		ct = encode(dk.Ciphertext)
	})
	t.Run("second", func(t *testing.T) {
		env := startDev(t, dir)
		var dec wire.DecryptResponse
		adminJSON(t, env, &dec, "datakey", "decrypt", "kept", "--ciphertext", ct, "--context", "a=b")
		if len(dec.Plaintext) != 32 {
			t.Fatal("no data key after restart")
		}
	})
}

// TestDevEnvWithShell checks the documented use with a real shell:
// `source DIR/dev.env; s3kms admin key list`.
func TestDevEnvWithShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is required: apt-get install bash")
	}
	bin := filepath.Join(t.TempDir(), "s3kms")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	env := startDev(t, dir)
	admin(t, env, "key", "create", "shell-key")
	script := `set -e; source "$1/dev.env"; "$2" admin key list`
	cmd := exec.Command(bash, "-c", script, "bash", dir, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "shell-key") {
		t.Fatalf("source dev.env; s3kms admin key list: %v\n%s", err, out)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("S3KMS_KMS_DSN", "postgres://kms@localhost/kms")
	cfg, err := config.LoadKMS("../../deploy/kms.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.DSN != "postgres://kms@localhost/kms" || len(cfg.Policies) != 2 {
		t.Errorf("example config = %+v", cfg)
	}
	t.Setenv("S3KMS_S3_DSN", "postgres://s3@localhost/s3")
	s3cfg, err := config.LoadS3("../../deploy/s3.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := s3cfg.Encryption.Proxies()
	if err != nil || len(proxies) != 1 || s3cfg.Store.DSN != "postgres://s3@localhost/s3" || s3cfg.Encryption.BucketKeyDeletionDays != 30 {
		t.Errorf("example S3 config = %+v (%v)", s3cfg, err)
	}
}

// TestKMSOnPostgresSurvivesRestart runs the KMS as `kms serve` wires it,
// on PostgreSQL, and stops PostgreSQL under load: requests fail cleanly
// with 503 "unavailable" while it is down and succeed again after, without
// restarting the KMS.
func TestKMSOnPostgresSurvivesRestart(t *testing.T) {
	cluster := pgtest.New(t)
	dsn := cluster.CreateDatabase(t)
	o := devOptions{dataDir: t.TempDir(), kmsAddr: "127.0.0.1:0", logLvl: "error"}
	cfg, set, err := devConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = config.Store{Driver: "postgres", DSN: dsn}
	// Two KMS processes' worth of start-up on one database: migrations
	// run under the advisory lock.
	var rts [2]*kmsRuntime
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rts[i], errs[i] = startKMS(context.Background(), cfg, newLogger(cfg.Log, io.Discard))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("KMS %d: %v", i, err)
		}
		t.Cleanup(func() { rts[i].Close() })
	}
	cert, key := set.Files("admin")
	tlsCfg, err := kmsclient.TLSConfigFromFiles(set.CAFile(), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kmsclient.New("https://"+rts[0].Addr(), tlsCfg, kmsclient.WithRetries(0), kmsclient.WithCallTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/pg", Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	// The second KMS sees the key the first created.
	client2, err := kmsclient.New("https://"+rts[1].Addr(), tlsCfg, kmsclient.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client2.GetKey(ctx, "bucket/pg"); err != nil {
		t.Fatalf("second KMS: %v", err)
	}

	var ok, unavailable, other atomic.Int64
	var firstOther atomic.Value
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := client.GenerateDataKey(ctx, "bucket/pg", map[string]string{"bucket": "pg"})
				switch kms.ErrorCode(err) {
				case "":
					ok.Add(1)
				case kms.EUnavailable:
					unavailable.Add(1)
					time.Sleep(10 * time.Millisecond)
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				load.Wait()
				t.Fatalf("timed out waiting for %s (ok %d, unavailable %d, other %d)", what, ok.Load(), unavailable.Load(), other.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("requests to succeed", func() bool { return ok.Load() > 20 })
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor("requests to fail while PostgreSQL is down", func() bool { return unavailable.Load() > 10 })
	if err := client.Ready(ctx); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("readyz while PostgreSQL is down: %v", err)
	}
	before := ok.Load()
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor("requests to succeed again", func() bool { return ok.Load() > before+20 })
	close(stop)
	load.Wait()
	if n := other.Load(); n > 0 {
		t.Errorf("%d requests failed with another error than unavailable, e.g. %v", n, firstOther.Load())
	}
	if err := client.Ready(ctx); err != nil {
		t.Errorf("readyz after restart: %v", err)
	}
	t.Logf("ok %d, unavailable %d", ok.Load(), unavailable.Load())
}

// TestKMSServeAndMigrate runs `s3kms migrate` and `s3kms kms serve` as an
// operator would, from a configuration file with a separate policy file and
// the master key in an environment variable.
func TestKMSServeAndMigrate(t *testing.T) {
	dir := t.TempDir()
	set, err := pki.OpenSet(filepath.Join(dir, "tls"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"admin"} {
		if _, err := set.Ensure(n, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := set.Ensure("kms", []string{"127.0.0.1"}, false); err != nil {
		t.Fatal(err)
	}
	kmsCert, kmsKey := set.Files("kms")
	adminCert, adminKey := set.Files("admin")
	t.Setenv("TEST_S3KMS_MASTER", strings.Repeat("ab", 32))
	// A free port: serve has no way to report one it picked itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "kms.yaml")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, `
listen: `+addr+`
tls: {cert: `+kmsCert+`, key: `+kmsKey+`, client_ca: `+set.CAFile()+`}
store: {driver: sqlite, path: `+filepath.Join(dir, "kms.db")+`}
protector: {kind: software, master_key_env: TEST_S3KMS_MASTER}
policy_file: policies.yaml
log: {level: error}
`)
	write(filepath.Join(dir, "policies.yaml"), `
policies:
  - name: admin
    identity_certs: [`+adminCert+`]
    allow: [{ops: ["*"], keys: ["*"]}]
`)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--config", conf}, nil, &out, &errOut); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"kms", "serve", "--config", conf}, nil, io.Discard, &errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d", code)
		}
	}()
	env := map[string]string{
		"S3KMS_KMS_ENDPOINT": "https://" + addr, "S3KMS_CA_FILE": set.CAFile(),
		"S3KMS_CLIENT_CERT": adminCert, "S3KMS_CLIENT_KEY": adminKey,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := admin(t, env, "key", "create", "served")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kms serve never answered: %s / %s", stderr, errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var k wire.Key
	adminJSON(t, env, &k, "key", "show", "served")
	if k.ID != "served" || k.Versions[0].Protector != "software" {
		t.Fatalf("show = %+v", k)
	}
}

// TestDevS3WithAWSCLI runs the S3 node of `s3kms dev` with the real aws
// CLIs — Debian's aws-cli v2 (/usr/bin/aws) and the aws-cli v1 of the
// default python3 — with nothing but the variables of dev.env: users whose
// secrets are sealed by the KMS, HTTPS with the dev CA.
func TestDevS3WithAWSCLI(t *testing.T) {
	clis := []struct{ name, cmd string }{
		{"v2", "/usr/bin/aws"},
		{"v1", "python3 -m awscli"},
	}
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Fatal("Debian's aws-cli v2 is required: apt-get install awscli")
	}
	if err := exec.Command("python3", "-m", "awscli", "--version").Run(); err != nil {
		t.Fatal("aws-cli v1 for python3 is required: pip install awscli (the default python3 here has it)")
	}
	dir := t.TempDir()
	env := startDev(t, dir)
	for _, k := range []string{"S3KMS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "S3KMS_ALT_ACCESS_KEY_ID", "S3KMS_ALT_SECRET_ACCESS_KEY"} {
		if env[k] == "" {
			t.Fatalf("dev.env lacks %s", k)
		}
	}
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, bytes.Repeat([]byte("hello s3kms\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 1<<20), 0o600); err != nil { // 16 MiB: multipart
		t.Fatal(err)
	}
	script := `set -e
source "$1/dev.env"
aws() { $AWSCLI --endpoint-url "$S3KMS_S3_ENDPOINT" "$@"; }
b=smoke-$2
aws s3 mb s3://$b
aws s3 cp "$1/hello.txt" s3://$b/dir/hello.txt
aws s3 cp "$1/big.bin" s3://$b/big.bin
aws s3 ls s3://$b/dir/
aws s3 cp s3://$b/dir/hello.txt "$1/back-$2.txt"
cmp "$1/hello.txt" "$1/back-$2.txt"
aws s3 cp s3://$b/big.bin "$1/big-$2.bin"
cmp "$1/big.bin" "$1/big-$2.bin"
aws s3api head-object --bucket $b --key big.bin | grep -q '"ETag": "\\"[0-9a-f]*-[0-9]*\\""'
if AWS_ACCESS_KEY_ID=$S3KMS_ALT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3KMS_ALT_SECRET_ACCESS_KEY aws s3 ls s3://$b/ 2>"$1/alt.err"; then
  echo "the other user could list the bucket"; exit 1
fi
grep -q AccessDenied "$1/alt.err"
aws s3 rm --recursive s3://$b/
aws s3 rb s3://$b
echo SMOKE-OK`
	for _, c := range clis {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", "-c", script, "bash", dir, c.name)
			cmd.Env = append(os.Environ(), "HOME="+dir, "AWSCLI="+c.cmd)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "SMOKE-OK") || !strings.Contains(string(out), "hello.txt") {
				t.Fatalf("aws CLI %s smoke test: %v\n%s", c.name, err, out)
			}
		})
	}

	// Users are managed through the node's configuration.
	conf := filepath.Join(dir, "s3.yaml")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"s3", "user", "create", "--config", conf, "--name", "carol", "--json"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("s3 user create: %d %s", code, stderr.String())
	}
	var created map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || len(created["secret_access_key"]) != 40 {
		t.Fatalf("s3 user create output: %v %s", err, stdout.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"s3", "user", "list", "--config", conf}, nil, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), created["access_key_id"]) || strings.Contains(stdout.String(), created["secret_access_key"]) {
		t.Fatalf("s3 user list: %d\n%s", code, stdout.String())
	}
	if code := run(context.Background(), []string{"admin", "user", "delete", "--config", conf, created["access_key_id"]}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("s3 user delete: %d %s", code, stderr.String())
	}
}
