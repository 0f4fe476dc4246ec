package blobfs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/s3kms/s3kms/s3node"
)

// TestIOErrStorageFull: ENOSPC and EDQUOT become EUnavailable with reason
// StorageFull; other I/O failures plain EUnavailable.
func TestIOErrStorageFull(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		reason s3node.Reason
	}{
		{"ENOSPC", &fs.PathError{Op: "write", Path: "/d/tmp/blob-1", Err: syscall.ENOSPC}, s3node.StorageFull},
		{"EDQUOT", fmt.Errorf("sync: %w", syscall.EDQUOT), s3node.StorageFull},
		{"EIO", &fs.PathError{Op: "write", Path: "/d/tmp/blob-1", Err: syscall.EIO}, ""},
		{"other", errors.New("boom"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ioErr(tc.err, "write blob")
			if s3node.ErrorCode(err) != s3node.EUnavailable || s3node.ErrorReason(err) != tc.reason {
				t.Fatalf("ioErr = %v (code %s, reason %q), want unavailable, %q", err, s3node.ErrorCode(err), s3node.ErrorReason(err), tc.reason)
			}
			if !errors.Is(err, tc.err) {
				t.Error("the cause is lost")
			}
		})
	}
}
