package keywrap

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newAES(t testing.TB, key []byte) cipher.Block {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC5649 checks both test vectors of RFC 5649 section 6.
func TestRFC5649(t *testing.T) {
	kek := newAES(t, unhex(t, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"))
	tests := []struct{ name, key, wrapped string }{
		{"20-octet key", "c37b7e6492584340 bed1220780894115 5068f738",
			"138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
		{"7-octet key", "466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, want := unhex(t, tt.key), unhex(t, tt.wrapped)
			got, err := Wrap(kek, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Wrap = %x, %v; want %x", got, err, want)
			}
			back, err := Unwrap(kek, want)
			if err != nil || !bytes.Equal(back, key) {
				t.Fatalf("Unwrap = %x, %v; want %x", back, err, key)
			}
		})
	}
}

// TestOpenSSLVectors checks vectors made by the OpenSSL command line
// (testdata/gen_openssl_vectors.py): key lengths 1 to 64 under AES-256,
// and some under AES-128 and AES-192.
func TestOpenSSLVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/openssl_kwp.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct{ KEK, Key, Wrapped string }
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 64 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	for _, v := range f.Vectors {
		kek, key, want := newAES(t, unhex(t, v.KEK)), unhex(t, v.Key), unhex(t, v.Wrapped)
		got, err := Wrap(kek, key)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("KEK %d bytes, key %d bytes: Wrap = %x, %v; want %x", len(v.KEK)/2, len(key), got, err, want)
		}
		back, err := Unwrap(kek, want)
		if err != nil || !bytes.Equal(back, key) {
			t.Fatalf("key %d bytes: Unwrap = %x, %v", len(key), back, err)
		}
	}
}

// TestRoundTripAndTamper wraps keys of 1 to 64 bytes and checks that
// every single-bit change, truncation and extension of the result is
// rejected.
func TestRoundTripAndTamper(t *testing.T) {
	kek := newAES(t, bytes.Repeat([]byte{0x11}, 32))
	other := newAES(t, bytes.Repeat([]byte{0x22}, 32))
	for n := 1; n <= 64; n++ {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*7 + n)
		}
		w, err := Wrap(kek, key)
		if err != nil {
			t.Fatal(err)
		}
		if want := 8 * ((n+7)/8 + 1); len(w) != want {
			t.Fatalf("len(Wrap(%d bytes)) = %d, want %d", n, len(w), want)
		}
		if got, err := Unwrap(kek, w); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%d bytes: round trip = %x, %v", n, got, err)
		}
		reject := func(what string, c []byte, b cipher.Block) {
			t.Helper()
			if got, err := Unwrap(b, c); !errors.Is(err, ErrUnwrap) || got != nil {
				t.Fatalf("%d bytes, %s: Unwrap = %x, %v; want ErrUnwrap", n, what, got, err)
			}
		}
		for i := range w {
			for bit := range 8 {
				c := bytes.Clone(w)
				c[i] ^= 1 << bit
				reject("bit flipped", c, kek)
			}
		}
		for l := 0; l < len(w); l++ {
			reject("truncated", w[:l], kek)
		}
		reject("extended by a block", append(bytes.Clone(w), make([]byte, 8)...), kek)
		reject("extended by a byte", append(bytes.Clone(w), 0), kek)
		reject("other KEK", w, other)
	}
}

// wrapRaw builds a KWP-shaped ciphertext around an arbitrary AIV and
// padded plaintext, to test the integrity checks one at a time.
func wrapRaw(t *testing.T, kek cipher.Block, aiv []byte, padded []byte) []byte {
	t.Helper()
	// The same steps as Wrap, minus building the AIV and padding.
	n := len(padded) / 8
	out := append(bytes.Clone(aiv), padded...)
	if n == 1 {
		kek.Encrypt(out, out)
		return out
	}
	var buf [16]byte
	copy(buf[:8], out[:8])
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[8:], out[8*i:8*i+8])
			kek.Encrypt(buf[:], buf[:])
			xorCounter(buf[:8], uint64(n*j+i))
			copy(out[8*i:8*i+8], buf[8:])
		}
	}
	copy(out[:8], buf[:8])
	return out
}

func TestIntegrityChecks(t *testing.T) {
	kek := newAES(t, bytes.Repeat([]byte{0x33}, 16))
	aiv := func(prefix string, mli uint32) []byte {
		b := unhex(t, prefix)
		return append(b, byte(mli>>24), byte(mli>>16), byte(mli>>8), byte(mli))
	}
	tests := []struct {
		name   string
		aiv    []byte
		padded []byte
		ok     bool
	}{
		{"valid 5 of 8", aiv("a65959a6", 5), []byte{1, 2, 3, 4, 5, 0, 0, 0}, true},
		{"valid 8 of 8", aiv("a65959a6", 8), []byte{1, 2, 3, 4, 5, 6, 7, 8}, true},
		{"valid 9 of 16", aiv("a65959a6", 9), append(bytes.Repeat([]byte{9}, 9), 0, 0, 0, 0, 0, 0, 0), true},
		{"RFC 3394 IV", unhex(t, "a6a6a6a6a6a6a6a6"), bytes.Repeat([]byte{1}, 16), false},
		{"wrong constant", aiv("a65959a7", 5), []byte{1, 2, 3, 4, 5, 0, 0, 0}, false},
		{"MLI 0", aiv("a65959a6", 0), make([]byte, 8), false},
		{"MLI too large", aiv("a65959a6", 9), bytes.Repeat([]byte{1}, 8), false},
		{"MLI too small for blocks", aiv("a65959a6", 8), append(bytes.Repeat([]byte{1}, 8), make([]byte, 8)...), false},
		{"MLI 2^32-1", aiv("a65959a6", 1<<32-1), make([]byte, 16), false},
		{"nonzero padding, last byte", aiv("a65959a6", 5), []byte{1, 2, 3, 4, 5, 0, 0, 1}, false},
		{"nonzero padding, first byte", aiv("a65959a6", 5), []byte{1, 2, 3, 4, 5, 1, 0, 0}, false},
		{"nonzero padding, 7 bytes", aiv("a65959a6", 9), append(bytes.Repeat([]byte{9}, 9), 0, 0, 0, 0, 0, 0, 0x80), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := wrapRaw(t, kek, tt.aiv, tt.padded)
			got, err := Unwrap(kek, c)
			if tt.ok {
				if err != nil {
					t.Fatalf("Unwrap: %v", err)
				}
				mli := int(tt.aiv[7]) // small in the valid cases
				if !bytes.Equal(got, tt.padded[:mli]) {
					t.Fatalf("Unwrap = %x", got)
				}
				return
			}
			if !errors.Is(err, ErrUnwrap) || got != nil {
				t.Fatalf("Unwrap = %x, %v; want ErrUnwrap", got, err)
			}
		})
	}
}

func TestArguments(t *testing.T) {
	kek := newAES(t, make([]byte, 32))
	if _, err := Wrap(kek, nil); err == nil {
		t.Error("Wrap of an empty key succeeded")
	}
	if _, err := Wrap(kek, make([]byte, MaxKeySize+1)); err == nil {
		t.Error("Wrap of an oversized key succeeded")
	}
	if w, err := Wrap(kek, make([]byte, MaxKeySize)); err != nil || len(w) != MaxKeySize+8 {
		t.Errorf("Wrap of MaxKeySize: %d bytes, %v", len(w), err)
	}
	if _, err := Unwrap(kek, make([]byte, MaxKeySize+24)); !errors.Is(err, ErrUnwrap) {
		t.Error("Unwrap of an oversized input did not fail with ErrUnwrap")
	}
	tdes, err := des.NewTripleDESCipher(make([]byte, 24))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Wrap(tdes, []byte{1}); err == nil {
		t.Error("Wrap with a 64-bit block cipher succeeded")
	}
	if _, err := Unwrap(tdes, make([]byte, 16)); err == nil {
		t.Error("Unwrap with a 64-bit block cipher succeeded")
	}
}

func TestCtCompare(t *testing.T) {
	for _, x := range []int64{-9, -1, 0, 1, 7, 8, 1 << 32} {
		for _, y := range []int64{-9, -1, 0, 1, 7, 8, 1 << 32} {
			if got, want := ctLess(x, y) == 1, x < y; got != want {
				t.Errorf("ctLess(%d, %d) = %v", x, y, got)
			}
			if got, want := ctLessOrEq(x, y) == 1, x <= y; got != want {
				t.Errorf("ctLessOrEq(%d, %d) = %v", x, y, got)
			}
		}
	}
}

// FuzzUnwrap checks that Unwrap never panics, fails only with ErrUnwrap,
// and that whatever it accepts re-wraps to the same bytes (KWP is a
// deterministic bijection between keys and valid wrappings).
func FuzzUnwrap(f *testing.F) {
	kek := newAES(f, bytes.Repeat([]byte{0x44}, 32))
	for _, n := range []int{1, 7, 8, 9, 32, 40} {
		w, err := Wrap(kek, bytes.Repeat([]byte{byte(n)}, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, c []byte) {
		key, err := Unwrap(kek, c)
		if err != nil {
			if !errors.Is(err, ErrUnwrap) || key != nil {
				t.Fatalf("Unwrap = %x, %v", key, err)
			}
			return
		}
		w, err := Wrap(kek, key)
		if err != nil || !bytes.Equal(w, c) {
			t.Fatalf("Wrap(Unwrap(c)) = %x, %v; want %x", w, err, c)
		}
	})
}

func BenchmarkUnwrap32(b *testing.B) {
	kek := newAES(b, make([]byte, 32))
	w, _ := Wrap(kek, make([]byte, 32))
	for b.Loop() {
		if _, err := Unwrap(kek, w); err != nil {
			b.Fatal(err)
		}
	}
}
