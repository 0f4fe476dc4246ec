package objcrypt

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/s3kms/s3kms/kms/sealed"
)

// FuzzReader feeds arbitrary stored bytes, stored sizes, part numbers and
// ranges to NewReader under the vectors' object key. Nothing may panic;
// every Read error must wrap ErrAuth (the source is in memory); a
// successful read returns exactly the range; and when the whole stream
// decrypts with the independent decoder, the range must read and match
// it.
func FuzzReader(f *testing.F) {
	vf := loadVectors(f)
	k, err := ObjectKeyFrom(vf.ObjectKey)
	if err != nil {
		f.Fatal(err)
	}
	partKeys := map[int][]byte{}
	for _, v := range vf.Streams {
		stored := v.storedBytes(f, k)
		f.Add(stored, int64(len(stored)), uint16(v.Part), int64(0), v.PlaintextSize)
		f.Add(stored, int64(len(stored)), uint16(v.Part), v.PlaintextSize/2, v.PlaintextSize/3)
	}
	f.Fuzz(func(t *testing.T, stored []byte, storedSize int64, part uint16, off, length int64) {
		p := int(part) % (maxPart + 1)
		r, err := NewReader(bytes.NewReader(stored), storedSize, k, p, off, length)
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if err != nil {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Read error %v does not wrap ErrAuth", err)
			}
		} else if int64(len(got)) != length {
			t.Fatalf("read %d bytes, want %d", len(got), length)
		}
		if storedSize != int64(len(stored)) {
			return
		}
		pk, ok := partKeys[p]
		if !ok {
			key, _ := partKey(k, p)
			pk = key[:]
			partKeys[p] = pk
		}
		full, ferr := dareDecrypt(pk, stored)
		if ferr != nil {
			return
		}
		if err != nil {
			t.Fatalf("a valid stream fails to read [%d, +%d): %v", off, length, err)
		}
		if !bytes.Equal(got, full[off:off+length]) {
			t.Fatalf("range [%d, +%d) differs from the full decryption", off, length)
		}
	})
}

// FuzzOpenCustomer feeds arbitrary customer keys, blobs and encoded
// contexts to OpenCustomer. Nothing may panic, and nothing may open but
// the exact (key, blob, context) of a vector: no forgery.
func FuzzOpenCustomer(f *testing.F) {
	vf := loadVectors(f)
	type triple struct{ key, blob, ctx string }
	valid := map[triple]bool{}
	for _, v := range vf.Customer {
		enc, err := sealed.EncodeContext(v.Context)
		if err != nil {
			f.Fatal(err)
		}
		valid[triple{string(v.CustomerKey), string(v.Sealed), string(enc)}] = true
		f.Add([]byte(v.CustomerKey), []byte(v.Sealed), enc)
	}
	f.Fuzz(func(t *testing.T, customerKey, blob, encodedContext []byte) {
		ctx, err := sealed.DecodeContext(encodedContext)
		if err != nil {
			ctx = map[string]string{"bucket": string(encodedContext)}
			if encodedContext, err = sealed.EncodeContext(ctx); err != nil {
				return
			}
		}
		k, err := OpenCustomer(customerKey, blob, ctx)
		switch {
		case err == nil:
			if !valid[triple{string(customerKey), string(blob), string(encodedContext)}] {
				t.Fatalf("forged blob opened: key %x blob %x context %x", customerKey, blob, encodedContext)
			}
			if !bytes.Equal(k.Bytes(), vf.ObjectKey) {
				t.Fatal("opened to another key")
			}
		case k != nil:
			t.Fatal("key returned with an error")
		case errors.Is(err, ErrWrongKey):
			if s, perr := sealed.Parse(blob); perr != nil || s.Use != sealed.UseSSEC || s.KeyID != CustomerKeyID {
				t.Fatalf("ErrWrongKey for a blob that is not a well-formed SSE-C blob")
			}
		}
	})
}
