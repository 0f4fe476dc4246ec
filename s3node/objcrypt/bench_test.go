package objcrypt

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int64{1 << 20, 64 << 20}

// chunk is the size of the writes and reads in the benchmarks: what an
// HTTP body copy typically uses (io.Copy's default buffer).
const chunk = 32 << 10

// writeOnly hides io.Discard's ReadFrom so that copies go through chunk.
type writeOnly struct{ io.Writer }

// BenchmarkWriter encrypts into io.Discard with writes of 32 KiB.
func BenchmarkWriter(b *testing.B) {
	k := testKey(b, 0)
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			plain := plaintext(size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				w, err := NewWriter(io.Discard, k, 1)
				if err != nil {
					b.Fatal(err)
				}
				for p := plain; len(p) > 0; p = p[min(chunk, len(p)):] {
					if _, err := w.Write(p[:min(chunk, len(p))]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReader decrypts a whole part with reads of 32 KiB.
func BenchmarkReader(b *testing.B) {
	k := testKey(b, 0)
	buf := make([]byte, chunk)
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			stored := encrypt(b, k, 1, plaintext(size))
			src := bytes.NewReader(stored)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				r, err := NewReader(src, int64(len(stored)), k, 1, 0, size)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(writeOnly{io.Discard}, r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReaderRange reads 100 bytes across a package boundary in the
// middle of a 64 MiB part: the cost of a small range is two packages.
func BenchmarkReaderRange(b *testing.B) {
	k := testKey(b, 0)
	const size = 64 << 20
	stored := encrypt(b, k, 1, plaintext(size))
	src := bytes.NewReader(stored)
	buf := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(src, int64(len(stored)), k, 1, size/2-50, 100)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemcpy is the baseline: copying the same bytes in 32 KiB
// chunks, without encryption.
func BenchmarkMemcpy(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			src, dst := plaintext(size), make([]byte, size)
			b.SetBytes(size)
			for b.Loop() {
				for off := 0; off < len(src); off += chunk {
					copy(dst[off:], src[off:min(off+chunk, len(src))])
				}
			}
		})
	}
}
