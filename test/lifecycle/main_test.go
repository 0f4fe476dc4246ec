// Package lifecycle holds the end-to-end tests of graceful shutdown and
// TLS certificate reload (issue 8) on real processes: `s3kms kms serve`
// and `s3kms s3 serve` of the s3kms binary, built once per test run, on
// SQLite, with certificates from internal/pki.
//
//	go test -count=1 -v ./test/lifecycle
//
// S3KMS_LIFECYCLE_BIN=/path/to/s3kms runs them against that binary instead
// of building ./cmd/s3kms.
package lifecycle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// EnvBinary names the environment variable that points the tests at an
// s3kms binary instead of building ./cmd/s3kms.
const EnvBinary = "S3KMS_LIFECYCLE_BIN"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// s3kmsBinary builds ./cmd/s3kms once for the test binary (or takes
// $S3KMS_LIFECYCLE_BIN) and returns its path.
func s3kmsBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s3kms-lifecycle-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "s3kms")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/s3kms").CombinedOutput()
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
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
