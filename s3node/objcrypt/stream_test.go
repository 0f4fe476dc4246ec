package objcrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"
	"testing/iotest"
)

// testKey returns a fixed key derived from seed.
func testKey(t testing.TB, seed byte) *ObjectKey {
	t.Helper()
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = seed + byte(i) + 1
	}
	k, err := ObjectKeyFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// plaintext returns n deterministic pseudo-random bytes.
func plaintext(n int64) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// encrypt writes plain through NewWriter in irregular chunks (1 byte up
// to 200000 bytes) so that the writer's buffering is exercised.
func encrypt(t testing.TB, k *ObjectKey, part int, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, k, part)
	if err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(uint64(len(plain)), 7))
	chunks := []int{1, 7, 100, 65535, 65536, 65537, 200000}
	for p := plain; len(p) > 0; {
		n := min(chunks[rng.IntN(len(chunks))], len(p))
		m, err := w.Write(p[:n])
		if err != nil || m != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readRange reads [off, off+length) of stored and returns what was read
// and the error of NewReader or Read.
func readRange(k *ObjectKey, part int, stored []byte, storedSize, off, length int64) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(stored), storedSize, k, part, off, length)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

var sizes = []int64{0, 1, 65535, 65536, 65537, 3*65536 + 17, 5<<20 + 1}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	for _, size := range sizes {
		for _, part := range []int{0, 1, 10000} {
			t.Run(fmt.Sprintf("size=%d/part=%d", size, part), func(t *testing.T) {
				t.Parallel()
				plain := plaintext(size)
				stored := encrypt(t, k, part, plain)
				if got, want := int64(len(stored)), EncryptedSize(size); got != want {
					t.Fatalf("stored %d bytes, EncryptedSize says %d", got, want)
				}
				got, err := readRange(k, part, stored, int64(len(stored)), 0, size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatal("round trip changed the data")
				}
				if size > 0 && size < 70000 {
					r, _ := NewReader(bytes.NewReader(stored), int64(len(stored)), k, part, 0, size)
					if err := iotest.TestReader(r, plain); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

func TestEmptyStream(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	stored := encrypt(t, k, 0, nil)
	if len(stored) != 0 || EncryptedSize(0) != 0 {
		t.Fatalf("empty stream stored as %d bytes", len(stored))
	}
	r, err := NewReader(failingReaderAt{}, 0, k, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v; want 0, EOF", n, err)
	}
}

// failingReaderAt fails every read: the empty and zero-length cases must
// not read at all.
type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("unexpected read") }

func TestEncryptedSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ plain, stored int64 }{
		{0, 0}, {1, 33}, {65535, 65567}, {65536, 65568}, {65537, 65568 + 33},
		{3*65536 + 17, 3*65568 + 49}, {5 << 30, 80 * 1024 * 65568},
	} {
		if got := EncryptedSize(c.plain); got != c.stored {
			t.Errorf("EncryptedSize(%d) = %d, want %d", c.plain, got, c.stored)
		}
		if got, ok := decryptedSize(c.stored); !ok || got != c.plain {
			t.Errorf("decryptedSize(%d) = %d, %v; want %d", c.stored, got, ok, c.plain)
		}
	}
	for _, bad := range []int64{-1, 1, 32, 65568 + 32, maxStored + 1} {
		if _, ok := decryptedSize(bad); ok {
			t.Errorf("decryptedSize(%d) accepted", bad)
		}
	}
}

// rangesFor returns every interesting range of a plaintext of size
// bytes: starts and ends at each package boundary ±1, plus random ones.
func rangesFor(size int64) [][2]int64 {
	var points []int64
	for b := int64(0); b <= size+payloadSize; b += payloadSize {
		points = append(points, b-1, b, b+1)
	}
	points = append(points, size-1, size, size+1)
	var rs [][2]int64
	for _, off := range points {
		if off < 0 || off > size {
			continue
		}
		for _, length := range []int64{0, 1, 2, payloadSize - 1, payloadSize, payloadSize + 1} {
			if off+length <= size {
				rs = append(rs, [2]int64{off, length})
			}
		}
		// Ranges ending at a boundary ±1 within the next two packages,
		// and to the end of the stream (from the start and from the last
		// three packages: the middle adds nothing but time).
		for _, end := range points {
			if end >= off && end <= size && end-off <= 2*payloadSize+1 {
				rs = append(rs, [2]int64{off, end - off})
			}
		}
		if off == 0 || size-off <= 3*payloadSize {
			rs = append(rs, [2]int64{off, size - off})
		}
	}
	rng := mrand.New(mrand.NewPCG(uint64(size), 1))
	for range 50 {
		if size == 0 {
			break
		}
		off := rng.Int64N(size + 1)
		rs = append(rs, [2]int64{off, rng.Int64N(size - off + 1)})
	}
	return rs
}

func TestRangeReads(t *testing.T) {
	t.Parallel()
	k := testKey(t, 3)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			plain := plaintext(size)
			stored := encrypt(t, k, 7, plain)
			rs := rangesFor(size)
			for _, r := range rs {
				off, length := r[0], r[1]
				got, err := readRange(k, 7, stored, int64(len(stored)), off, length)
				if err != nil {
					t.Fatalf("[%d, +%d): %v", off, length, err)
				}
				if !bytes.Equal(got, plain[off:off+length]) {
					t.Fatalf("[%d, +%d): wrong data", off, length)
				}
			}
		})
	}
}

// TestReadSmallBuffers reads a range with reads of 1 and 3 bytes, which
// must work as well as large reads (sio keeps the decrypted package).
func TestReadSmallBuffers(t *testing.T) {
	t.Parallel()
	k := testKey(t, 4)
	plain := plaintext(2*65536 + 100)
	stored := encrypt(t, k, 0, plain)
	for _, n := range []int{1, 3, 65536} {
		r, err := NewReader(bytes.NewReader(stored), int64(len(stored)), k, 0, 65530, 65536+50)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, n)
		for {
			m, err := r.Read(buf)
			got = append(got, buf[:m]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, plain[65530:65530+65536+50]) {
			t.Fatalf("reads of %d bytes: wrong data", n)
		}
	}
}

func TestReaderArguments(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	stored := encrypt(t, k, 0, plaintext(100))
	size := int64(len(stored))
	src := bytes.NewReader(stored)
	for _, c := range []struct {
		name        string
		src         io.ReaderAt
		stored      int64
		key         *ObjectKey
		part        int
		off, length int64
		auth        bool
	}{
		{"nil source", nil, size, k, 0, 0, 1, false},
		{"nil key", src, size, nil, 0, 0, 1, false},
		{"wiped key", src, size, new(ObjectKey), 0, 0, 1, false},
		{"part -1", src, size, k, -1, 0, 1, false},
		{"part 10001", src, size, k, 10001, 0, 1, false},
		{"negative offset", src, size, k, 0, -1, 1, false},
		{"negative length", src, size, k, 0, 0, -1, false},
		{"past the end", src, size, k, 0, 100, 1, false},
		{"offset past the end", src, size, k, 0, 101, 0, false},
		{"overflow", src, size, k, 0, 1, 1<<63 - 1, false},
		{"negative stored size", src, -1, k, 0, 0, 0, true},
		{"impossible stored size", src, 32, k, 0, 0, 0, true},
	} {
		_, err := NewReader(c.src, c.stored, c.key, c.part, c.off, c.length)
		if err == nil {
			t.Errorf("%s: no error", c.name)
		} else if errors.Is(err, ErrAuth) != c.auth {
			t.Errorf("%s: error %v; want ErrAuth: %v", c.name, err, c.auth)
		}
	}
}

// TestTampering checks that every kind of damage fails with ErrAuth and
// that nothing but authentic plaintext is ever returned.
func TestTampering(t *testing.T) {
	t.Parallel()
	k := testKey(t, 5)
	const size = 3*65536 + 17
	plain := plaintext(size)
	stored := encrypt(t, k, 2, plain)
	n := int64(len(stored))
	flip := func(i int64) []byte {
		b := bytes.Clone(stored)
		b[i] ^= 0x01
		return b
	}
	swap := func(i, j int64) []byte {
		b := bytes.Clone(stored)
		copy(b[i*packageSize:], stored[j*packageSize:(j+1)*packageSize])
		copy(b[j*packageSize:], stored[i*packageSize:(i+1)*packageSize])
		return b
	}
	lastPkg := int64(3 * packageSize)
	cases := []struct {
		name        string
		stored      []byte
		storedSize  int64
		key         *ObjectKey
		part        int
		off, length int64
	}{
		{"wrong key", stored, n, testKey(t, 6), 2, 0, size},
		{"wrong part", stored, n, k, 3, 0, size},
		{"wrong part 0", stored, n, k, 0, 70000, 10},
		{"flipped version", flip(0), n, k, 2, 0, size},
		{"flipped cipher suite", flip(1), n, k, 2, 0, size},
		{"flipped length", flip(lastPkg + 2), n, k, 2, 0, size},
		{"flipped final flag", flip(lastPkg + 4), n, k, 2, 0, size},
		{"flipped nonce", flip(packageSize + 10), n, k, 2, 0, size},
		{"flipped payload", flip(16), n, k, 2, 0, size},
		{"flipped payload in range", flip(2*packageSize + 100), n, k, 2, 2*65536 + 50, 10},
		{"flipped tag", flip(packageSize - 1), n, k, 2, 0, size},
		{"flipped last byte", flip(n - 1), n, k, 2, size - 1, 1},
		{"swapped packages", swap(0, 1), n, k, 2, 0, size},
		{"swapped packages, range", swap(1, 2), n, k, 2, 65536 + 5, 5},
		{"truncated by one byte", stored[:n-1], n - 1, k, 2, 0, size - 1},
		{"truncated by one byte, range at end", stored[:n-1], n - 1, k, 2, size - 2, 1},
		{"last package dropped", stored[:lastPkg], lastPkg, k, 2, 0, 3 * 65536},
		{"last package dropped, range at end", stored[:lastPkg], lastPkg, k, 2, 3*65536 - 1, 1},
		{"last package dropped, range in it", stored[:lastPkg], lastPkg, k, 2, 2 * 65536, 1},
		{"source shorter than stored size", stored[:n-20], n, k, 2, 0, size},
		{"source empty", nil, n, k, 2, 65536, 10},
		{"package appended", append(bytes.Clone(stored[:lastPkg]), stored...), lastPkg + n, k, 2, 0, 3*65536 + size},
		{"last package repeated", append(bytes.Clone(stored), stored[lastPkg:]...), n + (n - lastPkg), k, 2, size, 17},
		{"first package only", stored[:packageSize], packageSize, k, 2, 0, 65536},
	}
	for _, c := range cases {
		got, err := readRange(c.key, c.part, c.stored, c.storedSize, c.off, c.length)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("%s: error %v, want ErrAuth", c.name, err)
			continue
		}
		if c.off <= size && !bytes.HasPrefix(plain[c.off:], got) {
			t.Errorf("%s: returned %d bytes that are not the plaintext", c.name, len(got))
		}
		// io.ReadFull drops errors that come with enough bytes: the last
		// bytes of a range must be withheld when the stream is cut.
		r, err := NewReader(bytes.NewReader(c.stored), c.storedSize, c.key, c.part, c.off, c.length)
		if err == nil {
			_, err = io.ReadFull(r, make([]byte, c.length))
		}
		if !errors.Is(err, ErrAuth) {
			t.Errorf("%s: io.ReadFull error %v, want ErrAuth", c.name, err)
		}
	}
}

func TestReaderSourceError(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	r, err := NewReader(failingReaderAt{}, 1000, k, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if err == nil || errors.Is(err, ErrAuth) {
		t.Fatalf("error %v; want the source's error, not ErrAuth", err)
	}
	if _, err2 := r.Read(make([]byte, 1)); err2 != err {
		t.Fatalf("error not sticky: %v then %v", err, err2)
	}
}

// closeRecorder is a destination that must not be closed by the writer.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestWriterCloseKeepsDestinationOpen(t *testing.T) {
	t.Parallel()
	var dst closeRecorder
	w, err := NewWriter(&dst, testKey(t, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if dst.closed {
		t.Fatal("Close closed the destination")
	}
	if dst.Len() != 5+overhead {
		t.Fatalf("stored %d bytes", dst.Len())
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriterErrorsAreSticky(t *testing.T) {
	t.Parallel()
	dst := &failingWriter{n: 1}
	w, err := NewWriter(dst, testKey(t, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3*payloadSize+1)
	if _, err := w.Write(big); err == nil {
		t.Fatal("no error from a failing destination")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after an error succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after an error succeeded")
	}
}

func TestWriterArguments(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	if _, err := NewWriter(nil, k, 0); err == nil {
		t.Error("nil destination accepted")
	}
	for _, part := range []int{-1, 10001} {
		if _, err := NewWriter(io.Discard, k, part); err == nil {
			t.Errorf("part %d accepted", part)
		}
	}
	if _, err := NewWriter(io.Discard, nil, 0); err == nil {
		t.Error("nil key accepted")
	}
	wiped := testKey(t, 0)
	wiped.Wipe()
	if _, err := NewWriter(io.Discard, wiped, 0); err == nil {
		t.Error("wiped key accepted")
	}
}

// TestWriterDoesNotAllocate checks that Write allocates nothing, for
// small buffered writes and for writes of several packages.
func TestWriterDoesNotAllocate(t *testing.T) {
	w, err := NewWriter(io.Discard, testKey(t, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	// sio's Seal passes a stack nonce to cipher.AEAD.Seal, an interface
	// method, so that 12-byte nonce escapes: one allocation per package
	// sealed, inside sio. Nothing else may allocate.
	for _, c := range []struct {
		size     int
		packages float64 // sealed per Write, on average
	}{{1000, 1000.0 / payloadSize}, {5*payloadSize + 3, 5 + 3.0/payloadSize}} {
		p := make([]byte, c.size)
		if a := testing.AllocsPerRun(100, func() { _, _ = w.Write(p) }); a > c.packages+0.01 {
			t.Errorf("Write(%d bytes) allocates %v times, sealing %.2f packages", c.size, a, c.packages)
		}
	}
}

// TestStreamsDiffer checks that two encryptions of the same data with the
// same key and part differ (random nonce) and both decrypt.
func TestStreamsDiffer(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	plain := plaintext(1000)
	a, b := encrypt(t, k, 1, plain), encrypt(t, k, 1, plain)
	if bytes.Equal(a, b) {
		t.Fatal("two streams with the same key are identical")
	}
	// A package of one stream does not fit into the other.
	mixed := append(bytes.Clone(a[:16]), b[16:]...)
	if _, err := readRange(k, 1, mixed, int64(len(mixed)), 0, 1000); !errors.Is(err, ErrAuth) {
		t.Fatalf("mixed stream: %v", err)
	}
}
