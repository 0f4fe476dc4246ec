// Package hsmtest is the conformance suite every kms.Protector passes:
// hsm/software now, hsm/pkcs11 against SoftHSM.
//
//	func TestConformance(t *testing.T) {
//		p := newProtector(t)
//		hsmtest.ExerciseProtector(t, p)
//	}
//
// Known answers tie the protectors together: testdata/vectors.json holds
// root keys wrapped (RFC 5649) under a fixed master key, PRF inputs and
// the expected HMAC-SHA256 outputs. A protector built on that master (the
// software one directly; the pkcs11 one after importing the master into
// the token) must reproduce them, which proves that roots and KEKs carry
// over between protectors:
//
//	ka, _ := hsmtest.LoadKnownAnswers()
//	p := newProtectorWithMaster(t, ka.Master)
//	hsmtest.ExerciseKnownAnswers(t, p)
package hsmtest

import (
	"bytes"
	"context"
	"crypto/aes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/hsm/internal/keywrap"
	"github.com/s3kms/s3kms/kms"
)

// WrappedRootSize is the size of a wrapped root version: RFC 5649 KWP of
// 32 bytes is an 8-byte integrity block plus 32 bytes. Protectors must
// agree on it to interoperate.
const WrappedRootSize = 40

//go:embed testdata/vectors.json
var vectorsJSON []byte

// KnownAnswers are the protector known-answer vectors.
type KnownAnswers struct {
	// Master is the master key every vector's root is wrapped under.
	Master []byte
	// SoftwareMasterKeyID is hsm/software's MasterKeyID for Master.
	SoftwareMasterKeyID string
	Vectors             []Vector
}

// Vector is one known answer: OpenRoot(Wrapped).PRF(Input) == PRF.
type Vector struct {
	Name    string
	Root    []byte // the root in clear, for reference: no protector reveals it
	Wrapped []byte
	Input   []byte
	PRF     [32]byte
}

type hexBytes []byte

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// LoadKnownAnswers returns the known-answer vectors embedded from
// testdata/vectors.json.
func LoadKnownAnswers() (*KnownAnswers, error) {
	var f struct {
		Master              hexBytes `json:"master"`
		SoftwareMasterKeyID string   `json:"software_master_key_id"`
		Vectors             []struct {
			Name    string   `json:"name"`
			Root    hexBytes `json:"root"`
			Wrapped hexBytes `json:"wrapped"`
			Input   hexBytes `json:"input"`
			PRF     hexBytes `json:"prf"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(vectorsJSON, &f); err != nil {
		return nil, fmt.Errorf("hsmtest: testdata/vectors.json: %w", err)
	}
	ka := &KnownAnswers{Master: f.Master, SoftwareMasterKeyID: f.SoftwareMasterKeyID}
	for _, v := range f.Vectors {
		if len(v.PRF) != 32 {
			return nil, fmt.Errorf("hsmtest: vector %q: PRF is %d bytes", v.Name, len(v.PRF))
		}
		ka.Vectors = append(ka.Vectors, Vector{Name: v.Name, Root: v.Root, Wrapped: v.Wrapped, Input: v.Input, PRF: [32]byte(v.PRF)})
	}
	if len(ka.Master) != 32 || len(ka.Vectors) == 0 {
		return nil, errors.New("hsmtest: testdata/vectors.json: no master key or no vectors")
	}
	return ka, nil
}

// ExerciseMaterial checks a kms.MaterialProtector: every multiple of 8
// up to kms.MaxMaterialSize round-trips and wraps deterministically into
// RFC 5649's size; other lengths are EInvalid; tampered, truncated or
// foreign wrappings are EDecrypt.
func ExerciseMaterial(t *testing.T, p kms.MaterialProtector) {
	ctx := context.Background()
	for n := 8; n <= kms.MaxMaterialSize; n += 8 {
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = byte(n*31 + i*7 + 1)
		}
		w, err := p.WrapMaterial(ctx, plain)
		if err != nil {
			t.Fatalf("WrapMaterial(%d bytes): %v", n, err)
		}
		if want := (n+7)/8*8 + 8; len(w) != want {
			t.Fatalf("WrapMaterial(%d bytes) = %d bytes, want %d", n, len(w), want)
		}
		if bytes.Contains(w, plain) {
			t.Fatalf("wrapping of %d bytes contains them in clear", n)
		}
		w2, err := p.WrapMaterial(ctx, plain)
		if err != nil || !bytes.Equal(w, w2) {
			t.Fatalf("WrapMaterial(%d bytes) not deterministic: %x, %x, %v", n, w, w2, err)
		}
		got, err := p.UnwrapMaterial(ctx, w)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("UnwrapMaterial(%d bytes) = %x, %v; want %x", n, got, err, plain)
		}
		bad := bytes.Clone(w)
		bad[len(bad)-1] ^= 1
		if _, err := p.UnwrapMaterial(ctx, bad); kms.ErrorCode(err) != kms.EDecrypt {
			t.Fatalf("UnwrapMaterial(tampered %d bytes): %v, want EDecrypt", n, err)
		}
	}
	for _, n := range []int{0, 1, 7, 12, 31, kms.MaxMaterialSize + 1, kms.MaxMaterialSize + 8, 1000} {
		if _, err := p.WrapMaterial(ctx, make([]byte, n)); kms.ErrorCode(err) != kms.EInvalid {
			t.Errorf("WrapMaterial(%d bytes): %v, want EInvalid", n, err)
		}
	}
	for _, w := range [][]byte{nil, make([]byte, 8), make([]byte, 16), make([]byte, 23), make([]byte, kms.MaxMaterialSize+16)} {
		if _, err := p.UnwrapMaterial(ctx, w); kms.ErrorCode(err) != kms.EDecrypt {
			t.Errorf("UnwrapMaterial(%d zero bytes): %v, want EDecrypt", len(w), err)
		}
	}
}

// ExerciseMaterialKnownAnswers checks that p, built on the master key
// master, wraps key material of every length exactly as RFC 5649 under
// master does for every multiple of 8 bytes (hsm/internal/keywrap, itself checked against RFC 5649's
// and OpenSSL's vectors), so material wrapped by one protector opens
// under another with the same master.
func ExerciseMaterialKnownAnswers(t *testing.T, p kms.MaterialProtector, master []byte) {
	ctx := context.Background()
	block, err := aes.NewCipher(master)
	if err != nil {
		t.Fatal(err)
	}
	for n := 8; n <= kms.MaxMaterialSize; n += 8 {
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = byte(0xa5 ^ (n + i*13))
		}
		want, err := keywrap.Wrap(block, plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.WrapMaterial(ctx, plain)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("WrapMaterial(%d bytes) = %x, %v; want %x", n, got, err, want)
		}
		back, err := p.UnwrapMaterial(ctx, want)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("UnwrapMaterial(known %d bytes) = %x, %v", n, back, err)
		}
	}
}

// ExerciseKnownAnswers checks every embedded known-answer vector against
// p, which must hold the master key KnownAnswers.Master.
func ExerciseKnownAnswers(t *testing.T, p kms.Protector) {
	t.Helper()
	ka, err := LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ka.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			ExerciseProtectorVector(t, p, v.Wrapped, v.Input, v.PRF)
		})
	}
}

// ExerciseProtectorVector checks that p opens wrapped and that the root's
// PRF of input is wantPRF.
func ExerciseProtectorVector(t *testing.T, p kms.Protector, wrapped []byte, input []byte, wantPRF [32]byte) {
	t.Helper()
	rk, err := p.OpenRoot(context.Background(), wrapped)
	if err != nil {
		t.Fatalf("OpenRoot(known wrapped root): %v", err)
	}
	defer rk.Close()
	got, err := rk.PRF(input)
	if err != nil {
		t.Fatalf("PRF: %v", err)
	}
	if got != wantPRF {
		t.Fatalf("PRF(%d-byte input) = %x, want %x", len(input), got, wantPRF)
	}
}

// ExerciseProtector runs the protector conformance suite against p,
// including ExerciseMaterial if p is a kms.MaterialProtector.
func ExerciseProtector(t *testing.T, p kms.Protector) {
	ctx := context.Background()
	if mp, ok := p.(kms.MaterialProtector); ok {
		t.Run("Material", func(t *testing.T) { ExerciseMaterial(t, mp) })
	}
	inputs := [][]byte{nil, []byte("a"), []byte("b"), bytes.Repeat([]byte{0x5c}, 5000)}

	generate := func(t *testing.T) []byte {
		t.Helper()
		w, err := p.GenerateRoot(ctx)
		if err != nil {
			t.Fatalf("GenerateRoot: %v", err)
		}
		return w
	}
	open := func(t *testing.T, w []byte) kms.RootKey {
		t.Helper()
		rk, err := p.OpenRoot(ctx, w)
		if err != nil {
			t.Fatalf("OpenRoot: %v", err)
		}
		return rk
	}
	prf := func(t *testing.T, rk kms.RootKey, in []byte) [32]byte {
		t.Helper()
		out, err := rk.PRF(in)
		if err != nil {
			t.Fatalf("PRF: %v", err)
		}
		return out
	}
	closeRoot := func(t *testing.T, rk kms.RootKey) {
		t.Helper()
		if err := rk.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	t.Run("Identity", func(t *testing.T) {
		if p.Kind() == "" {
			t.Error("Kind is empty")
		}
		id := p.MasterKeyID()
		if id == "" || id != p.MasterKeyID() {
			t.Errorf("MasterKeyID = %q, then %q: want stable and non-empty", id, p.MasterKeyID())
		}
	})

	t.Run("GenerateRootDistinct", func(t *testing.T) {
		seen := map[string]bool{}
		for range 4 {
			w := generate(t)
			if len(w) != WrappedRootSize {
				t.Fatalf("wrapped root is %d bytes, want %d (RFC 5649 of 32 bytes)", len(w), WrappedRootSize)
			}
			if seen[string(w)] {
				t.Fatal("GenerateRoot returned the same wrapped root twice")
			}
			seen[string(w)] = true
		}
	})

	t.Run("OpenRootDeterministic", func(t *testing.T) {
		w := generate(t)
		r1, r2 := open(t, w), open(t, w)
		defer closeRoot(t, r1)
		defer closeRoot(t, r2)
		outs := map[[32]byte]bool{}
		for _, in := range inputs {
			a, b, again := prf(t, r1, in), prf(t, r2, in), prf(t, r1, in)
			if a != b || a != again {
				t.Fatalf("PRF(%d-byte input) differs between calls or openings of one root", len(in))
			}
			if outs[a] {
				t.Fatal("PRF gives the same output for different inputs")
			}
			outs[a] = true
		}
	})

	t.Run("DistinctRoots", func(t *testing.T) {
		r1, r2 := open(t, generate(t)), open(t, generate(t))
		defer closeRoot(t, r1)
		defer closeRoot(t, r2)
		for _, in := range inputs {
			if prf(t, r1, in) == prf(t, r2, in) {
				t.Fatalf("two roots give the same PRF(%d-byte input)", len(in))
			}
		}
	})

	t.Run("CloseThenReopen", func(t *testing.T) {
		w := generate(t)
		rk := open(t, w)
		want := prf(t, rk, inputs[1])
		closeRoot(t, rk)
		rk = open(t, w)
		defer closeRoot(t, rk)
		if prf(t, rk, inputs[1]) != want {
			t.Fatal("PRF differs after Close and reopen")
		}
	})

	t.Run("RejectsBadWrapped", func(t *testing.T) {
		w := generate(t)
		other := generate(t)
		cases := map[string][]byte{
			"nil":                 nil,
			"empty":               {},
			"one block":           w[:8],
			"two blocks of zeros": make([]byte, 16),
			"truncated by 1":      w[:len(w)-1],
			"truncated by 8":      w[:len(w)-8],
			"extended by 8":       append(bytes.Clone(w), make([]byte, 8)...),
			"extended by 1":       append(bytes.Clone(w), 0),
			"zeros":               make([]byte, len(w)),
			"garbage":             bytes.Repeat([]byte{0xa6, 0x59, 0x59, 0xa6, 0, 0, 0, 32}, 5),
			"halves swapped":      append(bytes.Clone(other[20:]), other[:20]...),
			"large":               make([]byte, 1<<16),
		}
		for i := range w {
			c := bytes.Clone(w)
			c[i] ^= byte(1 << (i % 8))
			cases[fmt.Sprintf("bit flipped in byte %d", i)] = c
		}
		for name, c := range cases {
			rk, err := p.OpenRoot(ctx, c)
			if code := kms.ErrorCode(err); code != kms.EDecrypt {
				t.Errorf("%s: OpenRoot error = %v (code %q), want %q", name, err, code, kms.EDecrypt)
			}
			if rk != nil {
				t.Errorf("%s: OpenRoot returned a RootKey with its error", name)
				rk.Close()
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		w := generate(t)
		shared := open(t, w)
		defer closeRoot(t, shared)
		want := prf(t, shared, inputs[3])
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 25 {
					// A shared opened root ...
					if out, err := shared.PRF(inputs[3]); err != nil || out != want {
						t.Errorf("goroutine %d: shared PRF = %x, %v", g, out, err)
						return
					}
					// ... and private openings of the same wrapped root.
					if i%5 != 0 {
						continue
					}
					rk, err := p.OpenRoot(ctx, w)
					if err != nil {
						t.Errorf("goroutine %d: OpenRoot: %v", g, err)
						return
					}
					out, err := rk.PRF(inputs[3])
					if cerr := rk.Close(); err == nil {
						err = cerr
					}
					if err != nil || out != want {
						t.Errorf("goroutine %d: PRF = %x, %v", g, out, err)
						return
					}
				}
			})
		}
		// GenerateRoot concurrently with the others.
		wg.Go(func() {
			for range 8 {
				if _, err := p.GenerateRoot(ctx); err != nil {
					t.Errorf("concurrent GenerateRoot: %v", err)
					return
				}
			}
		})
		wg.Wait()
	})
}

// ExerciseMaterialPrevious checks master-key rotation for key material:
// material wrapped by old opens under rot (whose previous masters include
// old's master) and not under cur (rot's current master alone); rot wraps
// new material under its current master, which cur opens.
func ExerciseMaterialPrevious(t *testing.T, old, rot, cur kms.MaterialProtector) {
	ctx := context.Background()
	plain := bytes.Repeat([]byte("material"), 4)
	w, err := old.WrapMaterial(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rot.UnwrapMaterial(ctx, w); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("UnwrapMaterial through the previous master = %x, %v", got, err)
	}
	if _, err := cur.UnwrapMaterial(ctx, w); kms.ErrorCode(err) != kms.EDecrypt {
		t.Errorf("UnwrapMaterial without the previous master: %v, want EDecrypt", err)
	}
	w2, err := rot.WrapMaterial(ctx, plain)
	if err != nil || bytes.Equal(w2, w) {
		t.Fatalf("WrapMaterial during rotation = %x, %v: want a wrapping under the new master", w2, err)
	}
	if got, err := cur.UnwrapMaterial(ctx, w2); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("UnwrapMaterial under the new master = %x, %v", got, err)
	}
}
