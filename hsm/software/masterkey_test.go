package software_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/hsm/software"
)

// testKey has bytes outside printable ASCII, as a random key almost
// always does.
var testKey = func() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(0x80 + i*3)
	}
	return k
}()

func writeFile(t *testing.T, content []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // independent of umask
		t.Fatal(err)
	}
	return path
}

func TestLoadMasterKeyFile(t *testing.T) {
	hexKey := hex.EncodeToString(testKey)
	b64Key := base64.StdEncoding.EncodeToString(testKey)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr string // substring; empty for success
	}{
		{"raw 32 bytes", testKey, 0o600, ""},
		{"hex", []byte(hexKey), 0o600, ""},
		{"hex with newline", []byte(hexKey + "\n"), 0o600, ""},
		{"hex with CRLF", []byte(hexKey + "\r\n"), 0o600, ""},
		{"upper-case hex", []byte(strings.ToUpper(hexKey) + "\n"), 0o600, ""},
		{"base64 with newline", []byte(b64Key + "\n"), 0o600, ""},
		{"read-only owner", []byte(hexKey), 0o400, ""},
		{"group readable", []byte(hexKey), 0o640, "chmod 600"},
		{"world readable", []byte(hexKey), 0o644, "chmod 600"},
		{"group writable", []byte(hexKey), 0o620, "chmod 600"},
		{"pass phrase of 32 characters", []byte("correct horse battery staple 123"), 0o600, "pass phrase"},
		{"short hex", []byte(hexKey[:62]), 0o600, "not a 256-bit key"},
		{"hex with a bad digit", []byte("zz" + hexKey[2:]), 0o600, "not a 256-bit key"},
		{"base64 of 31 bytes", []byte(base64.StdEncoding.EncodeToString(testKey[:31])), 0o600, "not a 256-bit key"},
		{"raw key with newline", append(bytes.Clone(testKey), '\n'), 0o600, "not a 256-bit key"},
		{"empty", nil, 0o600, "not a 256-bit key"},
		{"too large", bytes.Repeat([]byte("a"), 4096), 0o600, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content, tt.mode)
			key, err := software.LoadMasterKey(path, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadMasterKey error = %v, want it to mention %q", err, tt.wantErr)
				}
				if key != nil {
					t.Fatal("key returned with an error")
				}
				if strings.Contains(err.Error(), hexKey[:16]) || strings.Contains(err.Error(), b64Key[:16]) {
					t.Fatalf("error quotes key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadMasterKey: %v", err)
			}
			if !bytes.Equal(key, testKey) {
				t.Fatalf("LoadMasterKey = %x, want %x", key, testKey)
			}
		})
	}
}

func TestLoadMasterKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := software.LoadMasterKey(filepath.Join(dir, "missing"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error = %v, want ErrNotExist", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := software.LoadMasterKey(dir, ""); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("directory: error = %v", err)
	}
	// A symbolic link is followed; the target's mode counts.
	target := writeFile(t, []byte(hex.EncodeToString(testKey)), 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if key, err := software.LoadMasterKey(link, ""); err != nil || !bytes.Equal(key, testKey) {
		t.Errorf("symlink: %x, %v", key, err)
	}
}

func TestLoadMasterKeyEnv(t *testing.T) {
	const env = "S3KMS_TEST_MASTER_KEY"
	hexKey := hex.EncodeToString(testKey)
	tests := []struct {
		name    string
		value   string
		set     bool
		file    string
		wantErr string
	}{
		{name: "hex", value: hexKey, set: true},
		{name: "hex with spaces", value: " " + hexKey + "\n", set: true},
		{name: "base64", value: base64.StdEncoding.EncodeToString(testKey), set: true},
		{name: "raw bytes refused", value: string(testKey), set: true, wantErr: "not a 256-bit key"},
		{name: "garbage", value: hexKey[:63], set: true, wantErr: "not a 256-bit key"},
		{name: "unset", wantErr: "not set"},
		{name: "empty", value: "", set: true, wantErr: "not set"},
		{name: "both file and env", value: hexKey, set: true, file: "x", wantErr: "use one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set {
				t.Setenv(env, tt.value)
			} else {
				t.Setenv(env, "")
				os.Unsetenv(env)
			}
			file := tt.file
			if file != "" {
				file = writeFile(t, []byte(hexKey), 0o600)
			}
			key, err := software.LoadMasterKey(file, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
				}
				if tt.value != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.value)) {
					t.Fatalf("error quotes the variable's value: %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(key, testKey) {
				t.Fatalf("LoadMasterKey = %x, %v", key, err)
			}
		})
	}
	if _, err := software.LoadMasterKey("", ""); err == nil {
		t.Error("LoadMasterKey with no source succeeded")
	}
}

func TestGenerateMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := software.GenerateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(path)
	if len(content) != 65 || content[64] != '\n' {
		t.Errorf("file is %d bytes, want 64 hex digits and a newline", len(content))
	}
	key, err := software.LoadMasterKey(path, "")
	if err != nil || len(key) != 32 {
		t.Fatalf("LoadMasterKey of a generated file = %x, %v", key, err)
	}
	if _, err := software.New(key); err != nil {
		t.Fatal(err)
	}
	// Never overwrites.
	if err := software.GenerateMasterKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second GenerateMasterKeyFile error = %v, want ErrExist", err)
	}
	again, _ := os.ReadFile(path)
	if !bytes.Equal(again, content) {
		t.Fatal("existing key file changed")
	}
	// Two generated keys differ.
	other := filepath.Join(t.TempDir(), "other.key")
	if err := software.GenerateMasterKeyFile(other); err != nil {
		t.Fatal(err)
	}
	if k2, _ := software.LoadMasterKey(other, ""); bytes.Equal(k2, key) {
		t.Fatal("two generated master keys are equal")
	}
	// A directory that does not exist fails without creating anything.
	if err := software.GenerateMasterKeyFile(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Fatal("GenerateMasterKeyFile in a missing directory succeeded")
	}
}
