//go:build !linux

package faults

import (
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// freezePostgres needs /proc to find the server's processes.
func freezePostgres(t *testing.T, _ *pgtest.Cluster) func() {
	t.Skip("freezing PostgreSQL (SIGSTOP of its processes) is implemented on Linux only")
	return nil
}
