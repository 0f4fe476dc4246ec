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
// is more than olderThan ago. A temp file still being written is locked by
// its writer and never removed (see the package doc; without locks, the
// grace period must exceed the longest pause of an upload). The grace
// period protects a committed blob whose metadata transaction has not
// committed yet: it must exceed the time between Commit and the metadata
// commit, plus the clock skew between the nodes sharing the directory.
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
		if !fi.ModTime().Before(cutoff) {
			continue
		}
		removed, err := removeIdleTemp(filepath.Join(tmp, e.Name()), cutoff)
		if err != nil {
			return st, ioErr(err, "sweep temp files")
		}
		if removed {
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

// removeIdleTemp removes the temp file at path if no writer holds its lock
// and it is still older than cutoff. A file gone meanwhile is not an
// error.
func removeIdleTemp(path string, cutoff time.Time) (bool, error) {
	// Opened for writing: an exclusive lock on NFS needs it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock, after the removal
	held, lerr := tryLock(f)
	if !held && lerr == nil {
		return false, nil // a write in flight
	}
	// Held, or no locking here (lerr): the age decides. Checked again
	// under the lock: the writer may have touched it since the listing.
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}
