package pkcs11

import (
	"context"
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
)

// benchProtectors returns the software protector and the pkcs11 one on
// SoftHSM, both with hsmtest's known master, for side-by-side figures.
func benchProtectors(b *testing.B) map[string]kms.Protector {
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		b.Fatal(err)
	}
	sw, err := software.New(ka.Master)
	if err != nil {
		b.Fatal(err)
	}
	hw, err := New(config(knownToken))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { hw.Close() })
	return map[string]kms.Protector{"software": sw, "pkcs11": hw}
}

// kdfInput is about the size of a sealed.KDFInput.
var kdfInput = make([]byte, 96)

// BenchmarkPRF is the cost of a KEK with the root cached (opened).
func BenchmarkPRF(b *testing.B) {
	for name, p := range benchProtectors(b) {
		b.Run(name, func(b *testing.B) {
			w, err := p.GenerateRoot(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			rk, err := p.OpenRoot(context.Background(), w)
			if err != nil {
				b.Fatal(err)
			}
			defer rk.Close()
			for b.Loop() {
				if _, err := rk.PRF(kdfInput); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPRFParallel is BenchmarkPRF from GOMAXPROCS goroutines.
func BenchmarkPRFParallel(b *testing.B) {
	for name, p := range benchProtectors(b) {
		b.Run(name, func(b *testing.B) {
			w, err := p.GenerateRoot(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			rk, err := p.OpenRoot(context.Background(), w)
			if err != nil {
				b.Fatal(err)
			}
			defer rk.Close()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := rk.PRF(kdfInput); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpenRoot is the cost of a cache miss: unwrap into a session
// object, and destroy it on Close.
func BenchmarkOpenRoot(b *testing.B) {
	for name, p := range benchProtectors(b) {
		b.Run(name, func(b *testing.B) {
			w, err := p.GenerateRoot(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				rk, err := p.OpenRoot(context.Background(), w)
				if err != nil {
					b.Fatal(err)
				}
				if err := rk.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGenerateRoot is the cost of a new root (key rotation, new
// bucket).
func BenchmarkGenerateRoot(b *testing.B) {
	for name, p := range benchProtectors(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := p.GenerateRoot(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
