package blobfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/s3node"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	id, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	id := put(t, s, []byte("hello, blob"))
	if _, err := os.Stat(filepath.Join(s.Dir(), id[:2], id)); err != nil {
		t.Fatalf("blob not at its fan-out path: %v", err)
	}
	if n := count(t, filepath.Join(s.Dir(), "tmp")); n != 0 {
		t.Fatalf("%d temp files left after commit", n)
	}
	b, err := s.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Size() != 11 {
		t.Fatalf("size %d", b.Size())
	}
	buf := make([]byte, 4)
	if _, err := b.ReadAt(buf, 7); err != nil || string(buf) != "blob" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if _, err := b.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(b)
	if string(rest) != "blob" {
		t.Fatalf("read after seek %q", rest)
	}
	var listed []string
	if err := s.List(ctx, func(i s3node.BlobInfo) error { listed = append(listed, i.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != id {
		t.Fatalf("List = %v", listed)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Open(ctx, id); s3node.ErrorReason(err) != s3node.NoSuchBlob {
		t.Fatalf("open deleted: %v", err)
	}
}

func TestMalformedIDs(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	for _, id := range []string{"", "../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcde/", "0123"} {
		if _, err := s.Open(ctx, id); s3node.ErrorCode(err) != s3node.EInvalid {
			t.Errorf("Open(%q): %v", id, err)
		}
		if err := s.Delete(ctx, id); s3node.ErrorCode(err) != s3node.EInvalid {
			t.Errorf("Delete(%q): %v", id, err)
		}
	}
}

func TestAbort(t *testing.T) {
	s := newStore(t)
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("discard me"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	if n := count(t, filepath.Join(s.Dir(), "tmp")); n != 0 {
		t.Fatalf("%d temp files after abort", n)
	}
}

// A crash before Commit leaves only a temp file; a crash after Commit but
// before the metadata commit leaves an unreferenced blob. The sweeper
// removes both once past the grace period, and nothing younger.
func TestCrashLeftoversAreSwept(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	// Crash mid-write: the writer is simply dropped.
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half an upload"))
	tmpFile := w.(*writer).f.Name()
	w.(*writer).f.Close()
	orphan := put(t, s, []byte("committed, metadata never written"))
	referenced := put(t, s, []byte("a live object"))
	young := put(t, s, []byte("upload in flight"))

	var listed int
	s.List(ctx, func(s3node.BlobInfo) error { listed++; return nil })
	if listed != 3 {
		t.Fatalf("List sees %d blobs, want 3 (temp files are not blobs)", listed)
	}
	isRef := func(_ context.Context, id string) (bool, error) { return id == referenced, nil }
	grace := time.Hour
	st, err := s.Sweep(ctx, isRef, grace)
	if err != nil {
		t.Fatal(err)
	}
	if st != (SweepStats{}) {
		t.Fatalf("swept %+v within the grace period", st)
	}
	for _, p := range []string{tmpFile, filepath.Join(s.Dir(), orphan[:2], orphan), filepath.Join(s.Dir(), referenced[:2], referenced)} {
		age(t, p, 2*grace)
	}
	st, err = s.Sweep(ctx, isRef, grace)
	if err != nil {
		t.Fatal(err)
	}
	if st.Temps != 1 || st.Blobs != 1 {
		t.Fatalf("swept %+v, want 1 temp file and 1 blob", st)
	}
	for id, want := range map[string]bool{orphan: false, referenced: true, young: true} {
		_, err := s.Open(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("blob %s present = %v, want %v (%v)", id, got, want, err)
		}
	}
	if _, err := os.Stat(tmpFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file survived: %v", err)
	}
}

func TestSweepStopsWhenIndexFails(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	id := put(t, s, []byte("x"))
	age(t, filepath.Join(s.Dir(), id[:2], id), 2*time.Hour)
	down := s3node.Errorf(s3node.EUnavailable, "", "database down")
	_, err := s.Sweep(ctx, func(context.Context, string) (bool, error) { return false, down }, time.Hour)
	if !errors.Is(err, down) {
		t.Fatalf("Sweep error %v", err)
	}
	if _, err := s.Open(ctx, id); err != nil {
		t.Fatalf("blob deleted although the index failed: %v", err)
	}
	if _, err := s.Sweep(ctx, nil, 0); s3node.ErrorCode(err) != s3node.EInvalid {
		t.Fatalf("zero grace: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	const n = 16
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w, err := s.Create(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			chunk := bytes.Repeat([]byte{byte(i)}, 4096)
			for range 64 {
				if _, err := w.Write(chunk); err != nil {
					t.Error(err)
					return
				}
			}
			ids[i], err = w.Commit(ctx)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		b, err := s.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		if !bytes.Equal(data, bytes.Repeat([]byte{byte(i)}, 64*4096)) {
			t.Fatalf("blob %d holds another writer's bytes", i)
		}
	}
}

// gen yields n pseudo-random bytes without holding them.
type gen struct {
	n     int64
	state uint64
}

func (g *gen) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n)]
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.n -= int64(len(p))
	return len(p), nil
}

// A 64 MiB object streams through: the heap does not grow by anything
// near the object size, writing or reading.
func TestLargeStreamingWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	const size = 64 << 20
	s, ctx := newStore(t), context.Background()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var peak uint64
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	src := io.TeeReader(&gen{n: size, state: 1}, want)
	buf := make([]byte, 256<<10)
	for written := 0; ; written += len(buf) {
		n, err := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
		if err == io.EOF {
			break
		}
		if written%(8<<20) == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
	}
	id, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := sha256.New()
	if n, err := io.CopyBuffer(got, b, buf); err != nil || n != size {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("blob content differs")
	}
	after := heap()
	growth := int64(max(peak, after)) - int64(before)
	t.Logf("heap before %d, peak %d, after %d", before, peak, after)
	if growth > size/4 {
		t.Fatalf("heap grew by %d bytes for a %d-byte blob", growth, size)
	}
}

func ExampleStore() {
	dir, _ := os.MkdirTemp("", "blobfs")
	defer os.RemoveAll(dir)
	s, _ := New(dir)
	ctx := context.Background()
	w, _ := s.Create(ctx)
	io.WriteString(w, "object data")
	id, _ := w.Commit(ctx) // durable and immutable from here
	b, _ := s.Open(ctx, id)
	defer b.Close()
	data, _ := io.ReadAll(b)
	fmt.Println(string(data), b.Size())
	// Output: object data 11
}
