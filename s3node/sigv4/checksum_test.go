package sigv4

import (
	"encoding/hex"
	"testing"
)

func TestChecksumCheckValues(t *testing.T) {
	// Check values of each algorithm on "123456789".
	want := map[string]string{
		"x-amz-checksum-crc32":     "cbf43926",
		"x-amz-checksum-crc32c":    "e3069283",
		"x-amz-checksum-crc64nvme": "ae8b14860a799888",
		"x-amz-checksum-sha1":      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		"x-amz-checksum-sha256":    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	}
	for name, w := range want {
		h, _, ok := NewChecksum(name)
		if !ok {
			t.Fatalf("%s unknown", name)
		}
		h.Write([]byte("123456789"))
		if got := hex.EncodeToString(h.Sum(nil)); got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
	if _, _, ok := NewChecksum("x-amz-checksum-md5"); ok {
		t.Error("md5 accepted")
	}
}
