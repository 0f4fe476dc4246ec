package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/pki"
)

// TestMasterRotationCLI follows docs/master-key-rotation.md with `kms
// serve`: keys under master A; restart with B current and A previous;
// `admin master rotate` in small batches; `admin master status`; restart
// with B alone; data keys made before still decrypt.
func TestMasterRotationCLI(t *testing.T) {
	dir := t.TempDir()
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
	masterA, masterB := filepath.Join(dir, "master-a.key"), filepath.Join(dir, "master-b.key")
	for _, f := range []string{masterA, masterB} {
		if err := software.GenerateMasterKeyFile(f); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"S3KMS_KMS_ENDPOINT": "https://" + addr, "S3KMS_CA_FILE": set.CAFile(),
		"S3KMS_CLIENT_CERT": adminCert, "S3KMS_CLIENT_KEY": adminKey,
	}
	conf := filepath.Join(dir, "kms.yaml")
	// serve starts `kms serve` with the protector section given and
	// returns a function that stops it.
	serve := func(protector string) func() {
		t.Helper()
		err := os.WriteFile(conf, []byte(`
listen: `+addr+`
tls: {cert: `+kmsCert+`, key: `+kmsKey+`, client_ca: `+set.CAFile()+`}
store: {driver: sqlite, path: `+filepath.Join(dir, "kms.db")+`}
protector: `+protector+`
policies:
  - name: admin
    identity_certs: [`+adminCert+`]
    allow: [{ops: ["*"], keys: ["*"]}]
log: {level: error}
`), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		var errOut bytes.Buffer
		if code := run(context.Background(), []string{"migrate", "--config", conf}, nil, io.Discard, &errOut); code != 0 {
			t.Fatalf("migrate: exit %d: %s", code, errOut.String())
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- run(ctx, []string{"kms", "serve", "--config", conf}, nil, io.Discard, io.Discard) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, _, code := admin(t, env, "master", "status")
			if code == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("kms serve never answered")
			}
			time.Sleep(100 * time.Millisecond)
		}
		return func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		}
	}

	stop := serve("{kind: software, master_key_file: " + masterA + "}")
	type made struct{ id, ciphertext, plaintext string }
	var data []made
	for _, id := range []string{"k1", "k2", "k3"} {
		if _, errOut, code := admin(t, env, "key", "create", id); code != 0 {
			t.Fatal(errOut)
		}
		if _, errOut, code := admin(t, env, "key", "rotate", id); code != 0 {
			t.Fatal(errOut)
		}
		var dk wire.GenerateDataKeyResponse
		adminJSON(t, env, &dk, "datakey", "generate", id, "--context", "obj="+id)
		data = append(data, made{id, encode(dk.Ciphertext), encode(dk.Plaintext)})
	}
	stop()

	stop = serve("{kind: software, master_key_file: " + masterB + ", previous_master_key_files: [" + masterA + "]}")
	var st wire.MasterStatus
	adminJSON(t, env, &st, "master", "status")
	if len(st.Versions) != 2 || st.Versions[st.Current] != 0 {
		t.Fatalf("status before rotation = %+v", st)
	}
	out, errOut, code := admin(t, env, "master", "rotate", "--batch", "4")
	if code != 0 {
		t.Fatalf("rotate: %s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "re-wrapped 4 versions") || !strings.Contains(lines[0], "2 remaining") ||
		!strings.Contains(lines[1], "(6 in all), 0 remaining") || !strings.HasPrefix(lines[2], "done:") {
		t.Fatalf("rotate output:\n%s", out)
	}
	var r wire.RotateMasterResponse
	adminJSON(t, env, &r, "master", "rotate")
	if r.Done != 0 || r.Remaining != 0 || r.Current != st.Current {
		t.Fatalf("second rotate = %+v", r)
	}
	out, _, _ = admin(t, env, "master", "status")
	if !strings.Contains(out, st.Current) || !strings.Contains(out, "current") {
		t.Fatalf("status text:\n%s", out)
	}
	st = wire.MasterStatus{} // Unmarshal would merge into the old map
	adminJSON(t, env, &st, "master", "status")
	if len(st.Versions) != 1 || st.Versions[st.Current] != 6 {
		t.Fatalf("status after rotation = %+v", st)
	}
	stop()

	// The old master is no longer needed.
	stop = serve("{kind: software, master_key_file: " + masterB + "}")
	defer stop()
	for _, d := range data {
		var dk wire.DecryptResponse
		adminJSON(t, env, &dk, "datakey", "decrypt", d.id, "--context", "obj="+d.id, "--ciphertext", d.ciphertext)
		if encode(dk.Plaintext) != d.plaintext {
			t.Fatalf("data key under %s decrypts to another key", d.id)
		}
	}
}
