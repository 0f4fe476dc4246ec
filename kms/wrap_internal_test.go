package kms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// keyUnwrap inverts keyWrap (RFC 3394 section 2.2.2) and checks the
// initial value; ok is false if it does not match.
func keyUnwrap(b cipher.Block, iv [8]byte, wrapped []byte) (plain []byte, ok bool) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, false
	}
	n := len(wrapped)/8 - 1
	var a [8]byte
	copy(a[:], wrapped[:8])
	plain = append([]byte{}, wrapped[8:]...)
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := plain[8*(i-1) : 8*i]
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^uint64(n*j+i))
			copy(buf[8:], r)
			b.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(r, buf[8:])
		}
	}
	return plain, subtle.ConstantTimeCompare(a[:], iv[:]) == 1
}

func mustUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyWrapKnownAnswers: the test vectors of RFC 3394 section 4 (KW)
// and RFC 5649 section 6 (KWP).
func TestKeyWrapKnownAnswers(t *testing.T) {
	tests := []struct {
		name, kek, plain, want string
		pad                    bool
	}{
		{"4.1 128-bit key, 128-bit KEK", "000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
			"1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", false},
		{"4.2 128-bit key, 192-bit KEK", "000102030405060708090a0b0c0d0e0f1011121314151617", "00112233445566778899aabbccddeeff",
			"96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d", false},
		{"4.5 192-bit key, 256-bit KEK", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"00112233445566778899aabbccddeeff0001020304050607",
			"a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1", false},
		{"4.6 256-bit key, 256-bit KEK", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
			"28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21", false},
		{"5649 20 bytes", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738",
			"138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a", true},
		{"5649 7 bytes", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369",
			"afbeb0f07dfbf5419200f2ccb50bb24f", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := aes.NewCipher(mustUnhex(t, tc.kek))
			if err != nil {
				t.Fatal(err)
			}
			plain := mustUnhex(t, tc.plain)
			var got []byte
			if tc.pad {
				got = keyWrapPad(b, plain)
			} else {
				got = keyWrap(b, kwIV, plain)
				back, ok := keyUnwrap(b, kwIV, got)
				if !ok || !bytes.Equal(back, plain) {
					t.Errorf("unwrap: %x, %v", back, ok)
				}
			}
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("wrapped %x, want %s", got, tc.want)
			}
		})
	}
}
