package s3api

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// TestStorageFullError: a full data directory is 503 ServiceUnavailable
// with a message saying so (not "reduce your request rate"), and the
// cause (paths, errno) stays in the log.
func TestStorageFullError(t *testing.T) {
	full := &s3node.Error{Code: s3node.EUnavailable, Reason: s3node.StorageFull, Message: "write blob: no space",
		Err: fmt.Errorf("write /srv/data/tmp/blob-1: %w", syscall.ENOSPC)}
	for _, tc := range []struct {
		name    string
		err     error
		code    s3err.Code
		message string
	}{
		{"full", full, s3err.ServiceUnavailable, msgStorageFull},
		{"wrapped", fmt.Errorf("put: %w", full), s3err.ServiceUnavailable, msgStorageFull},
		{"other outage", s3node.Wrap(s3node.EUnavailable, errors.New("db down"), "x"), s3err.ServiceUnavailable, s3err.New(s3err.ServiceUnavailable).Message},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := toS3Error(tc.err)
			if e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("toS3Error = %s %q, want %s %q", e.Code, e.Message, tc.code, tc.message)
			}
			if e.Status() != 503 {
				t.Errorf("status %d, want 503", e.Status())
			}
			if strings.Contains(e.Message, "/srv") {
				t.Errorf("message leaks the path: %q", e.Message)
			}
		})
	}
}
