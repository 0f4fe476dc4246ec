package sealed

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"testing"
)

func TestUseLabels(t *testing.T) {
	tests := []struct {
		use   Use
		label string
		name  string
		ok    bool
	}{
		{UseSSES3, "s3kms/v1/sse-s3", "sse-s3", true},
		{UseSSEKMS, "s3kms/v1/sse-kms", "sse-kms", true},
		{UseSSEC, "s3kms/v1/sse-c", "sse-c", true},
		{UseEncrypt, "s3kms/v1/encrypt", "encrypt", true},
		{0, "", "use(0)", false},
		{5, "", "use(5)", false},
		{255, "", "use(255)", false},
	}
	for _, tt := range tests {
		label, ok := tt.use.Label()
		if label != tt.label || ok != tt.ok {
			t.Errorf("Use(%d).Label() = %q, %v; want %q, %v", tt.use, label, ok, tt.label, tt.ok)
		}
		if got := tt.use.String(); got != tt.name {
			t.Errorf("Use(%d).String() = %q, want %q", tt.use, got, tt.name)
		}
		if bytes.IndexByte([]byte(label), 0) >= 0 {
			t.Errorf("label %q contains a zero byte", label)
		}
	}
}

func TestKDFInputLayout(t *testing.T) {
	salt := bytes.Repeat([]byte{0xaa}, SaltSize)
	ctx := []byte{0, 0, 0, 0}
	got := KDFInput("s3kms/v1/sse-s3", salt, ctx)
	want := unhex(t, "00000001"+"73336b6d732f76312f7373652d7333"+"00"+
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"+"00000000"+"00000100")
	if !bytes.Equal(got, want) {
		t.Fatalf("KDFInput = %x\nwant       %x", got, want)
	}
}

// sp800108Counter is a straightforward, independent implementation of
// NIST SP 800-108r1 section 4.1 (KDF in counter mode) with an HMAC PRF
// and a 32-bit counter before the fixed input:
//
//	n = ceil(L / h); for i = 1..n: K(i) = PRF(K_IN, [i]_32 ‖ FixedInput)
//	K_OUT = leftmost L bits of K(1) ‖ … ‖ K(n)
//
// It knows nothing of this package's layout.
func sp800108Counter(newHash func() hash.Hash, kin, fixedInput []byte, lBits int) []byte {
	var out []byte
	for i := uint32(1); len(out)*8 < lBits; i++ {
		mac := hmac.New(newHash, kin)
		var ctr [4]byte
		binary.BigEndian.PutUint32(ctr[:], i)
		mac.Write(ctr[:])
		mac.Write(fixedInput)
		out = mac.Sum(out)
	}
	return out[:lBits/8]
}

// sp800108FixedInput builds the fixed input recommended in SP 800-108r1
// section 4: Label ‖ 0x00 ‖ Context ‖ [L]_32.
func sp800108FixedInput(label string, context []byte, lBits uint32) []byte {
	var b bytes.Buffer
	b.WriteString(label)
	b.WriteByte(0)
	b.Write(context)
	binary.Write(&b, binary.BigEndian, lBits)
	return b.Bytes()
}

// TestSP800108CAVP checks the reference implementation against NIST CAVP
// vectors from KDFCTR_gen.txt (CAVS 14.4), section [PRF=HMAC_SHA256]
// [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS]. The vectors treat the fixed
// input as opaque bytes.
func TestSP800108CAVP(t *testing.T) {
	tests := []struct {
		name      string
		lBits     int
		ki, fixed string
		ko        string
	}{
		{"COUNT=0 L=128", 128,
			"dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0",
			"01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac",
			"10621342bfb0fd40046c0e29f2cfdbf0"},
		{"COUNT=10 L=256", 256,
			"e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6",
			"7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a6293580115fae3495fd845dadbd02bd6455cf48d0f62b33e62364a3a80",
			"770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779"},
		{"COUNT=30 L=320", 320,
			"c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac",
			"1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacace6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b",
			"1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sp800108Counter(sha256.New, unhex(t, tt.ki), unhex(t, tt.fixed), tt.lBits)
			if want := unhex(t, tt.ko); !bytes.Equal(got, want) {
				t.Fatalf("KO = %x, want %x", got, want)
			}
		})
	}
	// The L=256 vector through this package's PRF: one block, counter 1.
	ki := unhex(t, tests[1].ki)
	kek, err := HMACPRF(ki)(append([]byte{0, 0, 0, 1}, unhex(t, tests[1].fixed)...))
	if err != nil || !bytes.Equal(kek[:], unhex(t, tests[1].ko)) {
		t.Fatalf("HMACPRF on CAVP COUNT=10 = %x, %v", kek, err)
	}
}

// TestSP800108KDFInput checks that HMAC over KDFInput is SP 800-108
// counter mode with L = 256 and Context = salt ‖ encodedContext, for every
// label and a few contexts.
func TestSP800108KDFInput(t *testing.T) {
	root := bytes.Repeat([]byte{0x42}, 32)
	salt := make([]byte, SaltSize)
	for i := range salt {
		salt[i] = byte(i)
	}
	ctxs := []map[string]string{nil, {"bucket": "b", "key": "k"}, {"x": string(make([]byte, 1000))}}
	for _, u := range []Use{UseSSES3, UseSSEKMS, UseSSEC, UseEncrypt} {
		label, _ := u.Label()
		for _, c := range ctxs {
			enc, err := EncodeContext(c)
			if err != nil {
				t.Fatal(err)
			}
			context := append(append([]byte{}, salt...), enc...)
			want := sp800108Counter(sha256.New, root, sp800108FixedInput(label, context, 256), 256)
			got, err := HMACPRF(root)(KDFInput(label, salt, enc))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Fatalf("%s: KEK = %x, SP 800-108 reference = %x", label, got, want)
			}
		}
	}
}

func TestHMACPRF(t *testing.T) {
	// RFC 4231 test case 6: 131-byte key, HMAC-SHA-256.
	key := bytes.Repeat([]byte{0xaa}, 131)
	got, err := HMACPRF(key)([]byte("Test Using Larger Than Block-Size Key - Hash Key First"))
	want := unhex(t, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
	if err != nil || !bytes.Equal(got[:], want) {
		t.Fatalf("HMACPRF = %x, %v; want %x", got, err, want)
	}
	if _, err := HMACPRF(make([]byte, 31))(nil); !errors.Is(err, errShortKey) {
		t.Fatalf("31-byte key: error = %v, want errShortKey", err)
	}
	if _, err := HMACPRF(make([]byte, 32))(nil); err != nil {
		t.Fatalf("32-byte key: %v", err)
	}
}
