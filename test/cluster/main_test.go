// Package cluster holds the end-to-end tests of several S3 nodes and
// several KMS processes on one PostgreSQL (issue 8): real processes of the
// s3kms binary (built once per test run), two `s3kms kms serve` on one KMS
// database and two `s3kms s3 serve` on one metadata database and one data
// directory, each S3 node configured with both KMS endpoints
// (kms.endpoints), driven through aws-sdk-go-v2 and plain HTTP.
//
// Run:
//
//	go test -count=1 -v ./test/cluster                          # default, well under a minute
//	S3KMS_CLUSTER_SOAK=2m go test -count=1 -v ./test/cluster -run Soak   # make clustersoak
//
// S3KMS_CLUSTER_BIN=/path/to/s3kms runs them against that binary instead
// of building ./cmd/s3kms; S3KMS_TEST_POSTGRES points them at an existing
// PostgreSQL (see internal/pgtest). docs/cluster.md describes the
// deployment these tests model.
package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// EnvBinary names the environment variable that points the tests at an
// s3kms binary instead of building ./cmd/s3kms.
const EnvBinary = "S3KMS_CLUSTER_BIN"

// EnvSoak names the environment variable that turns TestSoak on: how long
// it runs (a Go duration).
const EnvSoak = "S3KMS_CLUSTER_SOAK"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// s3kmsBinary builds ./cmd/s3kms once for the test binary (or takes
// $S3KMS_CLUSTER_BIN) and returns its path.
func s3kmsBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s3kms-cluster-bin-")
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

// soakDuration returns how long TestSoak runs, 0 when it is off.
func soakDuration(t testing.TB) time.Duration {
	v := os.Getenv(EnvSoak)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive duration", EnvSoak, v)
	}
	return d
}

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
