package sealed_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/s3kms/s3kms/kms/sealed"
)

func Example() {
	// In the KMS the PRF is an opened root version (kms.RootKey.PRF); for
	// SSE-C it is HMACPRF of the customer key.
	root := bytes.Repeat([]byte{0x42}, 32)
	prf := sealed.HMACPRF(root)

	ctx, err := sealed.EncodeContext(map[string]string{"bucket": "photos", "key": "a.jpg"})
	if err != nil {
		panic(err)
	}
	oek := make([]byte, 32)
	rand.Read(oek)

	blob, err := sealed.Seal(rand.Reader, prf, sealed.UseSSES3, "bucket/0001", 1, ctx, oek)
	if err != nil {
		panic(err)
	}
	fmt.Println("sealed size:", len(blob))

	s, err := sealed.Parse(blob) // from the object's metadata
	if err != nil {
		panic(err)
	}
	fmt.Println("key:", s.KeyID, "version:", s.KeyVersion, "use:", s.Use)
	opened, err := s.Open(prf, ctx)
	fmt.Println("opened:", err == nil && bytes.Equal(opened, oek))

	other, _ := sealed.EncodeContext(map[string]string{"bucket": "photos", "key": "b.jpg"})
	_, err = s.Open(prf, other)
	fmt.Println("other object:", err)
	// Output:
	// sealed size: 110
	// key: bucket/0001 version: 1 use: sse-s3
	// opened: true
	// other object: sealed: cannot open: wrong key or context, or tampered
}
