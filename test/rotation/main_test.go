// Package rotation holds the end-to-end tests of key rotation (issue 7)
// and the tool that measures its figures. Everything runs against real
// processes of the s3kms binary, built once per test run:
//
//   - `s3kms kms serve` and `s3kms s3 serve` as two processes, both on
//     PostgreSQL (a private cluster from internal/pgtest, or the server of
//     S3KMS_TEST_POSTGRES), and the all-in-one `s3kms dev` on SQLite;
//   - a data set of SSE-S3 objects (single-part, multipart, several
//     versions in a versioned bucket) plus SSE-C and SSE-KMS objects,
//     whose hashes are recorded and read back through aws-sdk-go-v2;
//   - the operator's commands of the rotation contract: `s3kms admin key
//     rotate`, `admin job list|show`, `admin key show`, `admin key
//     version deactivate|destroy`.
//
// Run (the rotation tests skip, saying why, while `s3kms admin key rotate`
// has no --bucket flag; every other contract command they use then fails
// the test naming the missing command):
//
//	go test -count=1 -v -timeout 30m ./test/rotation                       # N=3000 (CI)
//	make rotation-e2e                                                        # N=10000
//	S3KMS_ROTATION_N=2000 go test -count=1 -v ./test/rotation -run 'E2E'   # smaller
//	make rewrapbench                                                         # figures (100,000 objects)
//
// S3KMS_ROTATION_BIN=/path/to/s3kms runs them against that binary instead
// of building ./cmd/s3kms; S3KMS_TEST_POSTGRES points them at an existing
// PostgreSQL (see internal/pgtest).
//
// The end-to-end tests and TestHarness run in parallel (each has its own
// processes, temporary directory, databases and ports): most of their
// time is spent waiting (a killed node's job lease, reads back), so on a
// 2-core CI machine parallel runs save about a minute and a half.
//
// A node killed during a job holds the job's lease until it expires: the
// restarted node resumes the job after that. The serve stack sets
// rewrap.lease to 5 s; `s3kms dev` keeps the default minute, which is
// most of the dev test's run time.
package rotation

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// defaultObjects is N of the end-to-end tests in `go test ./...` (CI):
// enough for a rewrap job of several pages at the node's default rate, so
// that the node is killed during it; `make rotation-e2e` runs 10000.
const defaultObjects = 3000

var (
	objectsFlag = flag.Int("rotation.n", envInt("S3KMS_ROTATION_N", defaultObjects), "SSE-S3 object versions of the end-to-end tests on PostgreSQL (env S3KMS_ROTATION_N); the `s3kms dev` run uses a fifth")
	benchN      = flag.Int("rewrapbench", 0, "objects of TestRewrapFigures (0: skip; `make rewrapbench` uses 100000)")
	benchGET    = flag.Duration("rewrapbench.get", 0, "length of the GET phase without the job in TestRewrapFigures (0: 20s)")
	benchConc   = flag.Int("rewrapbench.conc", 4, "GET workers of TestRewrapFigures")
	benchRate   = flag.Float64("rewrapbench.rate", 0, "the S3 node's rewrap.rate (rows/s) in TestRewrapFigures (0: the node's default)")
)

// envInt returns the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// EnvBinary names the environment variable that points the tests at an
// s3kms binary instead of building ./cmd/s3kms (e.g. a release build, or
// one built from another branch).
const EnvBinary = "S3KMS_ROTATION_BIN"

// s3kmsBinary builds ./cmd/s3kms once for the test binary (or takes
// $S3KMS_ROTATION_BIN) and returns its path.
func s3kmsBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s3kms-rotation-bin-")
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
	code := pgtest.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
