package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeedGuideAcceptance runs test/acceptance/seed-guide.sh — every aws-cli
// command of the SSE seed guide and the extra checks of SSE-SPEC §7.3 —
// with Debian's aws-cli v2 against `s3kms dev`, in the default ("legacy",
// SSE-SPEC D5) encryption mode, with the plain-HTTP listener on so that
// SSE-C over HTTP is checked too. It runs in parallel with
// TestSeedGuideAcceptanceHSM.
func TestSeedGuideAcceptance(t *testing.T) {
	t.Parallel()
	runSeedGuide(t)
}

// runSeedGuide runs the seed guide against `s3kms dev` with more dev
// flags.
func runSeedGuide(t *testing.T, devFlags ...string) {
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		t.Fatal("Debian's aws-cli v2 is required: apt-get install awscli")
	}
	for cmd, pkg := range map[string]string{"bash": "bash", "openssl": "openssl", "curl": "curl", "python3": "python3", "md5sum": "coreutils"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("%s is required: apt-get install %s", cmd, pkg)
		}
	}
	script, err := filepath.Abs("../../test/acceptance/seed-guide.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	startDev(t, dir, append([]string{"--s3-http-addr", "127.0.0.1:0"}, devFlags...)...)
	cmd := exec.Command("bash", script, filepath.Join(dir, "dev.env"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "TMPDIR="+dir, "AWSCLI=/usr/bin/aws",
		"ACCEPTANCE_STRICT=1", "SSE_DEFAULT_MODE=legacy")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	if !strings.Contains(string(out), " 0 failed, 0 skipped") {
		t.Fatalf("%s: unexpected summary\n%s", script, out)
	}
	t.Logf("%s", out)
}
