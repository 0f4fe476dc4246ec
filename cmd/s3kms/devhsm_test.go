package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/hsm/pkcs11/softhsmtest"
)

// hsmDevFlags are the flags of `s3kms dev` on the SoftHSM token label.
func hsmDevFlags(label string) []string {
	return []string{"--hsm-module", hsmTokens[label].Module, "--hsm-token", label, "--hsm-pin-file", hsmPINFile}
}

// TestSeedGuideAcceptanceHSM runs the seed guide (see
// TestSeedGuideAcceptance, which it runs in parallel with) against
// `s3kms dev` on the pkcs11 protector: SSE-S3 with bucket root keys under
// the SoftHSM master key.
func TestSeedGuideAcceptanceHSM(t *testing.T) {
	t.Parallel()
	runSeedGuide(t, hsmDevFlags("s3kms-seed")...)
}

// TestDevOnHSM runs `s3kms dev` on a SoftHSM token: SSE-S3 round trips
// with aws-cli v2, the bucket's root key held by the pkcs11 protector; a
// restart on the same directory reads the objects back; the directory
// refuses to start on the software protector.
func TestDevOnHSM(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Fatal("Debian's aws-cli v2 is required: apt-get install awscli")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "obj.txt")
	if err := os.WriteFile(src, []byte(strings.Repeat("kept in an HSM\n", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	aws := func(t *testing.T, script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", `set -e
source "$1/dev.env"
aws() { /usr/bin/aws --output json --endpoint-url "$S3KMS_S3_ENDPOINT" "$@"; }
`+script, "bash", dir)
		cmd.Env = append(os.Environ(), "HOME="+dir, "AWS_PAGER=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws-cli: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Run("first start", func(t *testing.T) {
		env := startDev(t, dir, hsmDevFlags("s3kms-dev")...)
		out := aws(t, `b=hsm-sse
aws s3api create-bucket --bucket $b >/dev/null
aws s3api put-bucket-encryption --bucket $b --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
aws s3api get-bucket-encryption --bucket $b | grep -q '"SSEAlgorithm": "AES256"'
aws s3api put-object --bucket $b --key explicit --body "$1/obj.txt" --server-side-encryption AES256 | grep -q '"ServerSideEncryption": "AES256"'
aws s3api put-object --bucket $b --key default --body "$1/obj.txt" >/dev/null
aws s3api head-object --bucket $b --key default | grep -q '"ServerSideEncryption": "AES256"'
for k in explicit default; do
  aws s3api get-object --bucket $b --key $k "$1/back-$k" | grep -q '"ServerSideEncryption": "AES256"'
  cmp "$1/obj.txt" "$1/back-$k"
done
echo HSM-SSE-OK`)
		if !strings.Contains(out, "HSM-SSE-OK") {
			t.Fatalf("aws-cli SSE-S3 round trip:\n%s", out)
		}
		var list wire.ListKeysResponse
		adminJSON(t, env, &list, "key", "list")
		var bucketKey string
		for _, k := range list.Keys {
			if strings.HasPrefix(k.ID, "bucket/") {
				bucketKey = k.ID
			}
		}
		if bucketKey == "" {
			t.Fatalf("no bucket root key in %+v", list.Keys)
		}
		for _, id := range []string{bucketKey, "s3node/users"} {
			var k wire.Key
			adminJSON(t, env, &k, "key", "show", id)
			if len(k.Versions) == 0 || k.Versions[0].Protector != "pkcs11" || k.Versions[0].MasterKeyID != "s3kms-master" {
				t.Errorf("key show %s: versions %+v, want protector pkcs11, master s3kms-master", id, k.Versions)
			}
		}
		if out, _, _ := admin(t, env, "key", "show", bucketKey); !strings.Contains(out, "pkcs11") {
			t.Errorf("key show (text) does not name the protector:\n%s", out)
		}
		// The KMS's readiness checks its HSM session.
		wantReady(t, env, `"checks":{"key_store":"ok","protector":"ok"}`)
	})
	t.Run("restart", func(t *testing.T) {
		startDev(t, dir, hsmDevFlags("s3kms-dev")...)
		out := aws(t, `aws s3api get-object --bucket hsm-sse --key default "$1/again" >/dev/null
cmp "$1/obj.txt" "$1/again"
echo HSM-RESTART-OK`)
		if !strings.Contains(out, "HSM-RESTART-OK") {
			t.Fatalf("after restart:\n%s", out)
		}
	})
	t.Run("protector is kept", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{nil, "was created with the HSM token"},
			{append(hsmDevFlags("s3kms-dev"), "--hsm-master-key-id", "other"), "another HSM token or master key"},
			{[]string{"--hsm-token", softhsmtest.Label}, "go together"},
		} {
			_, errOut, code := runCLI(t, append([]string{"dev", "--data-dir", dir, "--kms-addr", "127.0.0.1:0", "--kmip-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0", "--s3-admin-addr", "127.0.0.1:0"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("dev %v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
			}
		}
	})
}
