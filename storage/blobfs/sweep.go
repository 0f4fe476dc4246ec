package blobfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/s3kms/s3kms/s3node"
)

// SweepStats counts what Sweep removed.
type SweepStats struct {
	Temps int // abandoned temp files
	Blobs int // committed blobs no metadata references
	Bytes int64
}

// Sweep removes temp files and unreferenced blobs whose modification time
// is more than olderThan ago. The grace period protects writes in flight:
// a temp file still being written, and a committed blob whose metadata
// transaction has not committed yet. It must exceed the longest time an
// upload may take between writes, and between Commit and the metadata
// commit.
//
// isReferenced is asked about each old blob, typically
// s3node.BlobIndex.BlobReferenced. If it fails, Sweep stops and returns
// the error without deleting that blob: a database outage must never look
// like "nothing is referenced".
func (s *Store) Sweep(ctx context.Context, isReferenced func(ctx context.Context, id string) (bool, error), olderThan time.Duration) (SweepStats, error) {
	var st SweepStats
	if olderThan <= 0 {
		return st, s3node.Errorf(s3node.EInvalid, s3node.InvalidArgument, "sweep: the grace period must be positive")
	}
	cutoff := time.Now().Add(-olderThan)
	tmp := filepath.Join(s.root, tmpDir)
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return st, ioErr(err, "sweep temp files")
	}
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return st, ioErr(err, "sweep temp files")
		}
		if fi.ModTime().Before(cutoff) {
			if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return st, ioErr(err, "sweep temp files")
			}
			st.Temps++
			st.Bytes += fi.Size()
		}
	}
	err = s.List(ctx, func(b s3node.BlobInfo) error {
		if !b.ModTime.Before(cutoff) {
			return nil
		}
		ref, err := isReferenced(ctx, b.ID)
		if err != nil {
			return err
		}
		if ref {
			return nil
		}
		if err := s.Delete(ctx, b.ID); err != nil {
			return err
		}
		st.Blobs++
		st.Bytes += b.Size
		return nil
	})
	return st, err
}
