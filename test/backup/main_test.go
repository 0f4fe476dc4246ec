// Package backup holds the restore drill of docs/operations.md: real
// `s3kms kms serve` and `s3kms s3 serve` processes on a private
// PostgreSQL write objects of every kind of encryption; the test backs up
// the S3 metadata database, the data directory and the KMS database in the
// guide's order with the guide's commands (pg_dump, cp -a), restores them
// into a new PostgreSQL cluster and a new directory, checks the restore
// with scripts/check-blobs.sh, starts the services there with the same
// master key and reads every object back byte for byte.
//
// The services take their database and data directory from S3KMS_*_CONFIG_*
// environment variables over their configuration files, as a container
// deployment would: the restore changes only the environment.
//
// It needs the PostgreSQL server and client programs (apt-get install
// postgresql); a missing one fails the test. Run it alone with
//
//	go test -count=1 -v ./test/backup
package backup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// s3kmsBinary builds ./cmd/s3kms once per test binary.
func s3kmsBinary(t testing.TB) string {
	t.Helper()
	buildBinary()
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// buildBinary builds ./cmd/s3kms unless done; callers run it in the
// background to overlap the build with starting PostgreSQL.
func buildBinary() {
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s3kms-backup-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "s3kms")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/s3kms").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/s3kms: %v\n%s", err, out)
		}
	})
}

// tool returns the path of a PostgreSQL client program, failing the test
// with how to install it when it is missing.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the PostgreSQL client programs (apt-get install postgresql-client)", name)
	}
	return p
}
