package clientsmoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/s3test"
)

// need returns the path of tool or fails with how to install it.
func need(t *testing.T, tool, hint string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: %s", tool, hint)
	}
	return p
}

// run runs a client command with env added and fails on error, showing
// its output.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// cleanEnv is the environment without AWS or rclone settings of the
// caller, which could point a client elsewhere.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "S3KMS_")
	})
}

func TestBoto3(t *testing.T) {
	py := need(t, "python3", "install python3 and boto3 (Debian: apt-get install python3 python3-boto3)")
	if out, err := exec.Command(py, "-c", "import boto3").CombinedOutput(); err != nil {
		t.Fatalf("python3 cannot import boto3: %v\n%s\ninstall it: apt-get install python3-boto3 (or pip install boto3)", err, out)
	}
	e := s3test.Start(t)
	script, err := filepath.Abs(filepath.Join("testdata", "boto3_smoke.py"))
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, append(e.Env(), "SMOKE_BUCKET=boto3-smoke", "HOME="+t.TempDir()), py, script)
	t.Log(strings.TrimSpace(out))
}

func TestRclone(t *testing.T) {
	rclone := need(t, "rclone", "install it: apt-get install rclone")
	e := s3test.Start(t)
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"RCLONE_CONFIG=" + filepath.Join(home, "rclone.conf"), // empty: the remote comes from the env
		"RCLONE_CONFIG_S3KMS_TYPE=s3",
		"RCLONE_CONFIG_S3KMS_PROVIDER=Other",
		"RCLONE_CONFIG_S3KMS_ENV_AUTH=false",
		"RCLONE_CONFIG_S3KMS_ACCESS_KEY_ID=" + e.AccessKey,
		"RCLONE_CONFIG_S3KMS_SECRET_ACCESS_KEY=" + e.Secret,
		"RCLONE_CONFIG_S3KMS_REGION=" + e.Region,
		"RCLONE_CONFIG_S3KMS_ENDPOINT=" + e.URL,
		"RCLONE_CONFIG_S3KMS_FORCE_PATH_STYLE=true",
		"RCLONE_CA_CERT=" + e.CAFile,
		"RCLONE_RETRIES=1",
		"RCLONE_LOW_LEVEL_RETRIES=1",
	}
	src := t.TempDir()
	files := map[string][]byte{
		"a.txt":         []byte("hello from rclone\n"),
		"sub/b.bin":     make([]byte, 2<<20+5),
		"sub/deep/c.md": []byte("# c\n"),
	}
	_, _ = rand.Read(files["sub/b.bin"])
	for name, data := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	run(t, env, rclone, "mkdir", "s3kms:rclone-smoke")
	run(t, env, rclone, "copy", src, "s3kms:rclone-smoke/tree")
	// check compares sizes and MD5s (the ETags) of every file both ways.
	run(t, env, rclone, "check", src, "s3kms:rclone-smoke/tree")

	ls := run(t, env, rclone, "ls", "s3kms:rclone-smoke")
	for name, data := range files {
		if !strings.Contains(ls, " "+strconv.Itoa(len(data))+" tree/"+name+"\n") {
			t.Errorf("rclone ls lacks %d tree/%s:\n%s", len(data), name, ls)
		}
	}
	lsd := run(t, env, rclone, "lsf", "s3kms:rclone-smoke/tree")
	got := strings.Fields(lsd)
	if slices.Sort(got); !slices.Equal(got, []string{"a.txt", "sub/"}) {
		t.Errorf("rclone lsf tree: %q", got)
	}
	for name, data := range files {
		if got := run(t, env, rclone, "cat", "s3kms:rclone-smoke/tree/"+name); got != string(data) {
			t.Errorf("rclone cat %s: %d bytes differ from the %d written", name, len(got), len(data))
		}
	}
	dst := t.TempDir()
	run(t, env, rclone, "copy", "s3kms:rclone-smoke/tree", dst)
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("copied back %s: %v, equal %v", name, err, bytes.Equal(got, data))
		}
	}

	run(t, env, rclone, "delete", "s3kms:rclone-smoke/tree/sub")
	got = strings.Fields(run(t, env, rclone, "lsf", "-R", "s3kms:rclone-smoke"))
	if slices.Sort(got); !slices.Equal(got, []string{"tree/", "tree/a.txt"}) {
		t.Errorf("after delete of tree/sub: %q", got)
	}
	run(t, env, rclone, "purge", "s3kms:rclone-smoke")
	if out := run(t, env, rclone, "lsd", "s3kms:"); strings.Contains(out, "rclone-smoke") {
		t.Errorf("bucket still listed after purge:\n%s", out)
	}
}
