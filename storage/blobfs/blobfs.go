// Package blobfs is the local-directory implementation of
// s3node.DataStore.
//
// Layout under the root directory:
//
//	<root>/<2 hex>/<blob id>   committed blobs, fanned out by the id's first byte
//	<root>/tmp/<random>        blobs being written
//
// A blob id is 128 random bits in lower-case hex (s3node.NewID). A write
// goes to a temp file; Commit fsyncs it, renames it to its id and fsyncs
// the fan-out directory, so a committed blob survives a crash and a blob
// is never seen half written. Blobs are never modified afterwards.
//
// A crash before the metadata commit leaves an unreferenced blob, and a
// crash before Commit a temp file; Sweep removes both once they are older
// than a grace period.
//
// Several S3 nodes may share the directory (a shared POSIX file system,
// docs/cluster.md). A writer holds an exclusive flock(2) lock on its temp
// file from Create until the file is renamed (or removed), and Sweep never
// removes a temp file whose lock it cannot take: a node's sweep spares
// another node's upload in flight, however long that upload pauses, as
// long as the file system shares locks between hosts (NFSv4, NFSv3 with
// lockd, CephFS; not NFS mounted with nolock or local_lock). Where it
// cannot lock at all, Sweep falls back on the age alone.
package blobfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/s3kms/s3kms/s3node"
)

// Store is a DataStore on a local directory. It is safe for concurrent
// use, also by several processes sharing the directory.
type Store struct {
	root string
}

var _ s3node.DataStore = (*Store)(nil)

const tmpDir = "tmp"

// New opens the store at dir, creating it and its sub-directories (mode
// 0700) if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, s3node.Errorf(s3node.EInvalid, s3node.InvalidArgument, "blobfs: a directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, s3node.Wrap(s3node.EInvalid, err, "blobfs: bad directory")
	}
	s := &Store{root: abs}
	dirs := []string{tmpDir}
	for i := range 256 {
		dirs = append(dirs, fmt.Sprintf("%02x", i))
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, ioErr(err, "create data directory")
	}
	created := false
	for _, d := range dirs {
		err := os.Mkdir(filepath.Join(abs, d), 0o700)
		if err == nil {
			created = true
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, ioErr(err, "create data directory")
		}
	}
	if created {
		// The new directory entries must be durable before a blob in
		// them is acknowledged.
		if err := syncDir(abs); err != nil {
			return nil, ioErr(err, "sync data directory")
		}
	}
	return s, nil
}

// Dir returns the root directory.
func (s *Store) Dir() string { return s.root }

// TempDir is the directory of blobs being written (on the same file
// system as the blobs; readiness probes write there).
func (s *Store) TempDir() string { return filepath.Join(s.root, tmpDir) }

// Create starts a new blob in the temp directory.
func (s *Store) Create(ctx context.Context) (s3node.BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, s3node.Wrap(s3node.EUnavailable, err, "create blob")
	}
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "blob-*")
	if err != nil {
		return nil, ioErr(err, "create blob")
	}
	// Marks the write as in flight for every sweeper (until the rename in
	// Commit, or Abort). A file system without locks leaves the grace
	// period alone to protect it; a fresh file is within it.
	_, _ = tryLock(f)
	return &writer{s: s, f: f}, nil
}

// Open opens a committed blob.
func (s *Store) Open(ctx context.Context, id string) (s3node.Blob, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s3node.Errorf(s3node.ENotFound, s3node.NoSuchBlob, "blob %s not found", id)
	}
	if err != nil {
		return nil, ioErr(err, "open blob")
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ioErr(err, "open blob")
	}
	return &blob{File: f, size: fi.Size()}, nil
}

// Delete removes a blob; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr(err, "delete blob")
	}
	return nil
}

// List calls fn for every committed blob.
func (s *Store) List(ctx context.Context, fn func(s3node.BlobInfo) error) error {
	for i := range 256 {
		dir := filepath.Join(s.root, fmt.Sprintf("%02x", i))
		entries, err := os.ReadDir(dir)
		if err != nil {
			return ioErr(err, "list blobs")
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return s3node.Wrap(s3node.EUnavailable, err, "list blobs")
			}
			if !validID(e.Name()) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return ioErr(err, "list blobs")
			}
			if err := fn(s3node.BlobInfo{ID: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// path returns the file of blob id, or EInvalid for a malformed id: ids
// come from the database, but they must never reach the file system
// unchecked.
func (s *Store) path(id string) (string, error) {
	if !validID(id) {
		return "", s3node.Errorf(s3node.EInvalid, s3node.InvalidArgument, "malformed blob id")
	}
	return filepath.Join(s.root, id[:2], id), nil
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// writer is a blob being written.
type writer struct {
	s    *Store
	f    *os.File
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, s3node.Errorf(s3node.EInternal, "", "write to a finished blob")
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, ioErr(err, "write blob")
	}
	return n, nil
}

// Commit fsyncs the temp file, renames it to a new id, closes it (which
// releases its lock) and fsyncs the fan-out directory. On error the temp
// file is removed.
func (w *writer) Commit(ctx context.Context) (string, error) {
	if w.done {
		return "", s3node.Errorf(s3node.EInternal, "", "commit of a finished blob")
	}
	w.done = true
	tmp := w.f.Name()
	fail := func(err error, op string) (string, error) {
		w.f.Close()
		os.Remove(tmp)
		return "", ioErr(err, op)
	}
	if err := ctx.Err(); err != nil {
		return fail(err, "commit blob")
	}
	// The sweeper's grace period counts from the commit, however long
	// the upload took.
	now := time.Now()
	if err := os.Chtimes(tmp, now, now); err != nil {
		return fail(err, "commit blob")
	}
	if err := w.f.Sync(); err != nil {
		return fail(err, "sync blob")
	}
	id := s3node.NewID()
	dst, _ := w.s.path(id)
	if err := os.Rename(tmp, dst); err != nil {
		return fail(err, "commit blob")
	}
	// Closing releases the temp file's lock, only now that it is renamed.
	if err := w.f.Close(); err != nil {
		os.Remove(dst)
		return "", ioErr(err, "close blob")
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		// The blob may or may not survive a crash: do not acknowledge it.
		os.Remove(dst)
		return "", ioErr(err, "sync blob directory")
	}
	return id, nil
}

// Abort removes the temp file.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	// Removed before the close releases the lock.
	err := os.Remove(w.f.Name())
	w.f.Close()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr(err, "abort blob")
	}
	return nil
}

type blob struct {
	*os.File
	size int64
}

func (b *blob) Size() int64 { return b.size }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ioErr maps a file-system error: a cancelled context or any I/O failure
// is EUnavailable (retry later, or on another node); a full file system
// or exhausted quota is EUnavailable with reason StorageFull.
func ioErr(err error, op string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &s3node.Error{Code: s3node.EUnavailable, Reason: s3node.StorageFull, Message: op + ": no space left in the data directory", Err: err}
	}
	return s3node.Wrap(s3node.EUnavailable, err, op)
}
