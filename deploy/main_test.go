package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// EnvBinary names the environment variable that points the tests at an
// s3kms binary instead of building ./cmd/s3kms.
const EnvBinary = "S3KMS_DEPLOY_BIN"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// s3kmsBinary builds ./cmd/s3kms once per test binary (or takes
// $S3KMS_DEPLOY_BIN) and returns its path.
func s3kmsBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s3kms-deploy-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "s3kms")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/s3kms").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/s3kms: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needTool fails the test when a program it drives is missing, saying
// how to install it.
func needTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %s", name, install)
	}
	return p
}
