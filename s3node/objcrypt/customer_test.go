package objcrypt

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/kms/sealed"
)

func customerKey(seed byte) []byte { return bytes.Repeat([]byte{seed}, KeySize) }

func TestCustomerSealOpen(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	ck := customerKey(0xc1)
	ctx := map[string]string{"bucket": "b", "key": "photos/cat.jpg"}
	blob, err := SealCustomer(rand.Reader, ck, ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCustomer(ck, blob, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), k.Bytes()) {
		t.Fatal("OpenCustomer returned another key")
	}
	s, err := sealed.Parse(blob)
	if err != nil || s.Use != sealed.UseSSEC || s.KeyID != CustomerKeyID || s.KeyVersion != 0 {
		t.Fatalf("blob header %+v, %v", s, err)
	}
	if strings.Contains(hex.EncodeToString(blob), hex.EncodeToString(k.Bytes())) {
		t.Fatal("sealed blob holds the key in clear")
	}
}

func TestOpenCustomerErrors(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	ck := customerKey(0xc1)
	ctx := map[string]string{"bucket": "b", "key": "k"}
	blob, err := SealCustomer(rand.Reader, ck, ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	reseal := func(use sealed.Use, id string, version uint32, payload []byte) []byte {
		enc, _ := sealed.EncodeContext(ctx)
		b, err := sealed.Seal(rand.Reader, sealed.HMACPRF(ck), use, id, version, enc, payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flipped := bytes.Clone(blob)
	flipped[len(flipped)-1] ^= 1
	for _, c := range []struct {
		name  string
		key   []byte
		blob  []byte
		ctx   map[string]string
		wrong bool // want ErrWrongKey; otherwise another error
	}{
		{"wrong key", customerKey(0xc2), blob, ctx, true},
		{"wrong context", ck, blob, map[string]string{"bucket": "b", "key": "k2"}, true},
		{"no context", ck, blob, nil, true},
		{"tampered", ck, flipped, ctx, true},
		{"short customer key", ck[:31], blob, ctx, false},
		{"malformed blob", ck, blob[:20], ctx, false},
		{"empty blob", ck, nil, ctx, false},
		{"SSE-KMS blob", ck, reseal(sealed.UseSSEKMS, CustomerKeyID, 0, k.Bytes()), ctx, false},
		{"other key id", ck, reseal(sealed.UseSSEC, "bucket/x", 0, k.Bytes()), ctx, false},
		{"other key version", ck, reseal(sealed.UseSSEC, CustomerKeyID, 1, k.Bytes()), ctx, false},
		{"payload not a key", ck, reseal(sealed.UseSSEC, CustomerKeyID, 0, []byte("short")), ctx, false},
		{"invalid context", ck, blob, map[string]string{"": "x"}, false},
	} {
		got, err := OpenCustomer(c.key, c.blob, c.ctx)
		switch {
		case got != nil || err == nil:
			t.Errorf("%s: opened", c.name)
		case c.wrong && err != ErrWrongKey:
			t.Errorf("%s: error %v, want ErrWrongKey", c.name, err)
		case !c.wrong && errors.Is(err, ErrWrongKey):
			t.Errorf("%s: ErrWrongKey, want another error", c.name)
		case strings.Contains(err.Error(), hex.EncodeToString(ck)) || strings.Contains(err.Error(), string(ck)):
			t.Errorf("%s: error shows the customer key", c.name)
		}
	}
}

func TestSealCustomerErrors(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	ctx := map[string]string{"bucket": "b"}
	if _, err := SealCustomer(rand.Reader, customerKey(1)[:16], ctx, k); err == nil {
		t.Error("16-byte customer key accepted")
	}
	if _, err := SealCustomer(rand.Reader, customerKey(1), ctx, nil); err == nil {
		t.Error("nil object key accepted")
	}
	if _, err := SealCustomer(rand.Reader, customerKey(1), map[string]string{"": "x"}, k); err == nil {
		t.Error("invalid context accepted")
	}
	if _, err := SealCustomer(bytes.NewReader(nil), customerKey(1), ctx, k); err == nil {
		t.Error("failing random source accepted")
	}
}
