package software

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// FuzzParseKeyFile: master key files and environment values (parseTextKey
// through parseKeyFile). An accepted key is 32 bytes and its hex and
// base64 forms parse back to it; an error never contains the input.
func FuzzParseKeyFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := parseKeyFile(b)
		if err != nil {
			if in := bytes.TrimSpace(b); len(in) >= 4 && bytes.Contains([]byte(err.Error()), in) {
				t.Fatal("the error contains the input") // not logged: it may be a key
			}
			return
		}
		if len(key) != MasterKeySize {
			t.Fatalf("key of %d bytes", len(key))
		}
		for _, text := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key) + "\n"} {
			back, err := parseKeyFile([]byte(text))
			if err != nil || !bytes.Equal(back, key) {
				t.Fatalf("text form does not parse back: %v", err)
			}
		}
	})
}
