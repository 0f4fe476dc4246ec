package sealed

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, fails only with ErrMalformed,
// and that the format is canonical: a parsed blob marshals back to the
// same bytes and parses to the same value.
func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f).Vectors {
		f.Add([]byte(v.Sealed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		m := s.Marshal()
		if !bytes.Equal(m, b) {
			t.Fatalf("Marshal(Parse(b)) = %x, want %x", m, b)
		}
		s2, err := Parse(m)
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("Parse(Marshal(s)) = %+v, %v; want %+v", s2, err, s)
		}
	})
}

// FuzzDecodeContext checks that DecodeContext never panics, fails only
// with ErrMalformed, and accepts only canonical encodings.
func FuzzDecodeContext(f *testing.F) {
	for _, v := range loadVectors(f).Vectors {
		f.Add([]byte(v.EncodedContext))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeContext(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeContext error %v does not wrap ErrMalformed", err)
			}
			if validContext(b) == nil {
				t.Fatal("validContext accepts what DecodeContext rejects")
			}
			return
		}
		enc, err := EncodeContext(m)
		if err != nil {
			t.Fatalf("EncodeContext(DecodeContext(b)): %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("EncodeContext(DecodeContext(b)) = %x, want %x", enc, b)
		}
	})
}

// FuzzOpen feeds arbitrary blobs and contexts to Parse and Open under the
// vectors' root keys. Nothing may panic, and nothing may open except the
// exact (blob, context) pairs of the positive vectors: any change to a
// valid blob, however made, must be caught (no malleability).
func FuzzOpen(f *testing.F) {
	vf := loadVectors(f)
	type pair struct{ blob, ctx string }
	valid := map[pair]bool{}
	var roots []PRF
	seen := map[string]bool{}
	for _, v := range vf.Vectors {
		valid[pair{string(v.Sealed), string(v.EncodedContext)}] = true
		if !seen[string(v.RootKey)] {
			seen[string(v.RootKey)] = true
			roots = append(roots, HMACPRF(v.RootKey))
		}
		f.Add([]byte(v.Sealed), []byte(v.EncodedContext))
	}
	f.Fuzz(func(t *testing.T, blob, ctx []byte) {
		s, err := Parse(blob)
		if err != nil {
			return
		}
		for _, prf := range roots {
			pt, err := s.Open(prf, ctx)
			switch {
			case err == nil:
				if !valid[pair{string(blob), string(ctx)}] {
					t.Fatalf("forged blob opened: %x with context %x", blob, ctx)
				}
			case pt != nil:
				t.Fatal("Open returned plaintext with an error")
			case !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed):
				t.Fatalf("Open error %v is neither ErrOpen nor ErrMalformed", err)
			}
		}
	})
}
