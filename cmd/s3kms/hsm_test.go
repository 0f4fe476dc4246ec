package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/hsm/pkcs11/softhsmtest"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/pki"
)

// runAsCLIEnv makes the test binary run as s3kms (for scripts that call
// s3kms, such as deploy/softhsm/create-token.sh).
const runAsCLIEnv = "S3KMS_TEST_RUN_AS_CLI"

// SoftHSM tokens of this test binary, made in TestMain: SoftHSM reads
// SOFTHSM2_CONF and lists its tokens when the process first initializes
// the module.
var (
	hsmTokens  map[string]softhsmtest.Token // by label
	hsmPINFile string                       // the tokens' PIN, mode 0600, with a newline
)

func TestMain(m *testing.M) {
	if os.Getenv(runAsCLIEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "s3kms-softhsm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tok, err := softhsmtest.Setup(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // says: apt-get install softhsm2
		return 1
	}
	hsmTokens = map[string]softhsmtest.Token{tok.Label: tok}
	for _, label := range []string{"s3kms-serve", "s3kms-dev", "s3kms-seed", "s3kms-badpin", "s3kms-nomaster"} {
		t, err := tok.InitToken(label)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		hsmTokens[label] = t
	}
	hsmPINFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(hsmPINFile, []byte(softhsmtest.PIN+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return pgtest.Run(m)
}

// hsmProtectorYAML is a pkcs11 protector section for token label.
func hsmProtectorYAML(label, extra string) string {
	return fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: %s, pin_file: %s%s}\n",
		hsmTokens[softhsmtest.Label].Module, label, hsmPINFile, extra)
}

// runCLI runs s3kms in-process and returns stdout, stderr and the exit
// code; it fails the test if the command does not end within 30 s.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, nil, &out, &errOut)
	if ctx.Err() != nil {
		t.Fatalf("s3kms %v did not end: %s", args, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// TestHSMInit runs `s3kms kms hsm init` twice: the master key is created,
// then found; --master-key-id makes another.
func TestHSMInit(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "kms.yaml")
	if err := os.WriteFile(conf, []byte(hsmProtectorYAML(softhsmtest.Label, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `master key "s3kms-master" in token "s3kms-test": created`},
		{nil, `master key "s3kms-master" in token "s3kms-test": already present (unchanged)`},
		{[]string{"--master-key-id", "s3kms-master-2"}, `master key "s3kms-master-2" in token "s3kms-test": created`},
		{[]string{"--master-key-id", "s3kms-master-2"}, `already present`},
	} {
		out, errOut, code := runCLI(t, append([]string{"kms", "hsm", "init", "--config", conf}, tc.args...)...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Fatalf("hsm init %v: exit %d, out %q, err %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// kmsServeSetup writes a KMS configuration under dir with the given
// protector section and a free listen port, and returns its path and the
// admin client's environment.
func kmsServeSetup(t *testing.T, dir, protector string) (string, map[string]string) {
	t.Helper()
	set, err := pki.OpenSet(filepath.Join(dir, "tls"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Ensure("admin", nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Ensure("kms", []string{"127.0.0.1"}, false); err != nil {
		t.Fatal(err)
	}
	kmsCert, kmsKey := set.Files("kms")
	adminCert, adminKey := set.Files("admin")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "kms.yaml")
	body := `listen: ` + addr + `
tls: {cert: ` + kmsCert + `, key: ` + kmsKey + `, client_ca: ` + set.CAFile() + `}
store: {driver: sqlite, path: ` + filepath.Join(dir, "kms.db") + `}
policies: [{name: admin, identity_certs: [` + adminCert + `], allow: [{ops: ["*"], keys: ["*"]}]}]
log: {level: error}
` + protector
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, map[string]string{
		"S3KMS_KMS_ENDPOINT": "https://" + addr, "S3KMS_CA_FILE": set.CAFile(),
		"S3KMS_CLIENT_CERT": adminCert, "S3KMS_CLIENT_KEY": adminKey,
	}
}

// TestKMSServePKCS11 runs `kms serve` on the pkcs11 protector as an
// operator would (hsm init, then serve) and uses it: the key's versions
// are held by the pkcs11 protector, and data keys generate and decrypt.
func TestKMSServePKCS11(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TEST_S3KMS_HSM_PIN", softhsmtest.PIN)
	protector := fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: s3kms-serve, pin_env: TEST_S3KMS_HSM_PIN}\n", hsmTokens["s3kms-serve"].Module)
	conf, env := kmsServeSetup(t, dir, protector)
	if out, errOut, code := runCLI(t, "kms", "hsm", "init", "--config", conf); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("hsm init: exit %d: %s %s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"kms", "serve", "--config", conf}, nil, io.Discard, &errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, errOut.String())
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := admin(t, env, "key", "create", "hsm-key")
		if code == 0 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kms serve never answered: %s / %s", stderr, errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, stderr, code := admin(t, env, "key", "rotate", "hsm-key"); code != 0 {
		t.Fatalf("rotate: %s", stderr)
	}
	var k wire.Key
	adminJSON(t, env, &k, "key", "show", "hsm-key")
	if len(k.Versions) != 2 {
		t.Fatalf("show = %+v", k)
	}
	for _, v := range k.Versions {
		if v.Protector != "pkcs11" || v.MasterKeyID != "s3kms-master" {
			t.Errorf("version %d: protector %q, master key %q; want pkcs11, s3kms-master", v.Version, v.Protector, v.MasterKeyID)
		}
	}
	if out, _, _ := admin(t, env, "key", "show", "hsm-key"); !strings.Contains(out, "pkcs11") || !strings.Contains(out, "s3kms-master") {
		t.Errorf("key show (text) does not name the protector:\n%s", out)
	}
	var gen wire.GenerateDataKeyResponse
	adminJSON(t, env, &gen, "datakey", "generate", "hsm-key", "--context", "bucket=b,key=k")
	var dec wire.DecryptResponse
	adminJSON(t, env, &dec, "datakey", "decrypt", "hsm-key", "--context", "bucket=b,key=k", "--ciphertext", encode(gen.Ciphertext))
	if len(gen.Plaintext) != 32 || !bytes.Equal(dec.Plaintext, gen.Plaintext) || dec.KeyVersion != 2 {
		t.Fatalf("decrypt = %+v, generated %+v", dec, gen)
	}
	if _, stderr, code := admin(t, env, "datakey", "decrypt", "hsm-key", "--context", "bucket=b,key=other", "--ciphertext", encode(gen.Ciphertext)); code == 0 {
		t.Fatal("decrypt with another context succeeded")
	} else if strings.Contains(stderr, "panic") {
		t.Fatalf("decrypt with another context: %s", stderr)
	}
}

// TestKMSServePKCS11StartupErrors checks that `kms serve` refuses to start
// with one clear line, never a panic, for each thing an operator may get
// wrong about the HSM.
func TestKMSServePKCS11StartupErrors(t *testing.T) {
	dir := t.TempDir()
	badPIN := filepath.Join(dir, "bad.pin")
	if err := os.WriteFile(badPIN, []byte("000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openPIN := filepath.Join(dir, "open.pin")
	if err := os.WriteFile(openPIN, []byte(softhsmtest.PIN), 0o644); err != nil {
		t.Fatal(err)
	}
	module := hsmTokens[softhsmtest.Label].Module
	for _, tc := range []struct{ name, protector, want string }{
		{"wrong PIN", fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: s3kms-badpin, pin_file: %s}\n", module, badPIN),
			`token "s3kms-badpin" refused the PIN`},
		{"unknown token", hsmProtectorYAML("s3kms-absent", ""), `check protector.token_label`},
		{"missing master", hsmProtectorYAML("s3kms-nomaster", ""), "run `s3kms kms hsm init"},
		{"missing module", fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: s3kms-test, pin_file: %s}\n", filepath.Join(dir, "libnone.so"), hsmPINFile),
			"check protector.module"},
		{"PIN file readable by others", fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: s3kms-test, pin_file: %s}\n", module, openPIN),
			"run: chmod 600"},
		{"unset PIN variable", fmt.Sprintf("protector: {kind: pkcs11, module: %s, token_label: s3kms-test, pin_env: TEST_S3KMS_UNSET_PIN}\n", module),
			"TEST_S3KMS_UNSET_PIN (protector.pin_env) is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, _ := kmsServeSetup(t, t.TempDir(), tc.protector)
			_, errOut, code := runCLI(t, "kms", "serve", "--config", conf)
			if code != 1 || !strings.HasPrefix(errOut, "s3kms: ") || strings.Count(errOut, "\n") != 1 ||
				!strings.Contains(errOut, tc.want) || strings.Contains(errOut, "panic") {
				t.Fatalf("kms serve: exit %d, stderr %q; want one line with %q", code, errOut, tc.want)
			}
			t.Log(strings.TrimSpace(errOut))
		})
	}
}

// TestExamplePKCS11ConfigIsValid loads deploy/kms.pkcs11.example.yaml.
func TestExamplePKCS11ConfigIsValid(t *testing.T) {
	t.Setenv("S3KMS_KMS_DSN", "postgres://kms@localhost/kms")
	cfg, err := config.LoadKMS("../../deploy/kms.pkcs11.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Protector
	if p.Kind != "pkcs11" || p.Module == "" || p.TokenLabel == "" || p.PINFile == "" || p.MasterKeyID != "s3kms-master" || len(cfg.Policies) != 2 {
		t.Errorf("example pkcs11 config = %+v", cfg)
	}
}

// TestCreateTokenScript runs deploy/softhsm/create-token.sh twice, with
// this test binary as s3kms: the token, the PIN and the master key are
// made once and kept.
func TestCreateTokenScript(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hsm")
	script := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"../../deploy/softhsm/create-token.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "S3KMS="+exe, runAsCLIEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("create-token.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := script("--help"); !strings.Contains(out, "usage: create-token.sh") {
		t.Fatalf("--help:\n%s", out)
	}
	out := script("--dir", dir, "--label", "demo")
	if !strings.Contains(out, "token demo created") || !strings.Contains(out, `master key "s3kms-master" in token "demo": created`) {
		t.Fatalf("first run:\n%s", out)
	}
	pin, err := os.ReadFile(filepath.Join(dir, "pin"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pin")); err != nil || fi.Mode().Perm() != 0o600 || len(pin) != 32 {
		t.Fatalf("pin file: %v, %v, %d bytes", fi.Mode(), err, len(pin))
	}
	out = script("--dir", dir, "--label", "demo")
	if !strings.Contains(out, "token demo exists") || !strings.Contains(out, "already present") {
		t.Fatalf("second run:\n%s", out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "pin")); !bytes.Equal(again, pin) {
		t.Fatal("the second run changed the PIN")
	}
	if _, err := config.LoadPKCS11(filepath.Join(dir, "protector.yaml")); err != nil {
		t.Fatal(err)
	}
}
