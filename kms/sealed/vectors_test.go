package sealed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the fuzz seed corpora (the format is frozen: only for new vectors)")

const vectorsFile = "testdata/vectors.json"

// hexBytes is a byte string written as lower-case hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type vectorFile struct {
	Comment  []string    `json:"comment"`
	Vectors  []vector    `json:"vectors"`
	Negative []negVector `json:"negative"`
}

type vector struct {
	Name           string            `json:"name"`
	RootKey        hexBytes          `json:"root_key"`
	Use            Use               `json:"use"`
	Label          string            `json:"label"`
	KeyID          string            `json:"key_id"`
	KeyVersion     uint32            `json:"key_version"`
	Context        map[string]string `json:"context"`
	EncodedContext hexBytes          `json:"encoded_context"`
	Rand           hexBytes          `json:"rand"`
	KDFInput       hexBytes          `json:"kdf_input"`
	KEK            hexBytes          `json:"kek"`
	Plaintext      hexBytes          `json:"plaintext"`
	Sealed         hexBytes          `json:"sealed"`
}

type negVector struct {
	Name    string            `json:"name"`
	RootKey hexBytes          `json:"root_key"`
	Context map[string]string `json:"context"`
	Sealed  hexBytes          `json:"sealed"`
	Error   string            `json:"error"` // "malformed" (Parse fails) or "open" (Open fails)
}

func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	if len(f.Vectors) == 0 || len(f.Negative) == 0 {
		t.Fatalf("%s holds no vectors", vectorsFile)
	}
	return &f
}

// TestVectors walks testdata/vectors.json: every positive vector must be
// reproduced exactly (encoding, KDF input, KEK, blob from the recorded
// random bytes) and must open; every negative vector must fail the way it
// says.
func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	f := loadVectors(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			label, ok := v.Use.Label()
			if !ok || label != v.Label {
				t.Fatalf("Use(%d).Label() = %q, %v; vector says %q", v.Use, label, ok, v.Label)
			}
			enc, err := EncodeContext(v.Context)
			if err != nil || !bytes.Equal(enc, v.EncodedContext) {
				t.Fatalf("EncodeContext = %x, %v; want %x", enc, err, v.EncodedContext)
			}
			if len(v.Rand) != SaltSize+NonceSize {
				t.Fatalf("rand is %d bytes", len(v.Rand))
			}
			in := KDFInput(label, v.Rand[:SaltSize], enc)
			if !bytes.Equal(in, v.KDFInput) {
				t.Fatalf("KDFInput = %x\nwant %x", in, v.KDFInput)
			}
			kek, err := HMACPRF(v.RootKey)(in)
			if err != nil || !bytes.Equal(kek[:], v.KEK) {
				t.Fatalf("KEK = %x, %v; want %x", kek, err, v.KEK)
			}
			blob, err := Seal(bytes.NewReader(v.Rand), HMACPRF(v.RootKey), v.Use, v.KeyID, v.KeyVersion, enc, v.Plaintext)
			if err != nil || !bytes.Equal(blob, v.Sealed) {
				t.Fatalf("Seal = %x, %v\nwant %x", blob, err, v.Sealed)
			}
			s, err := Parse(v.Sealed)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Use != v.Use || s.KeyID != v.KeyID || s.KeyVersion != v.KeyVersion ||
				!bytes.Equal(s.Salt[:], v.Rand[:SaltSize]) || !bytes.Equal(s.Nonce[:], v.Rand[SaltSize:]) {
				t.Fatalf("Parse header = %+v", s.Header)
			}
			pt, err := s.Open(HMACPRF(v.RootKey), enc)
			if err != nil || !bytes.Equal(pt, v.Plaintext) {
				t.Fatalf("Open = %x, %v; want %x", pt, err, v.Plaintext)
			}
		})
	}
	for _, n := range f.Negative {
		t.Run("negative/"+n.Name, func(t *testing.T) {
			s, err := Parse(n.Sealed)
			switch n.Error {
			case "malformed":
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse error = %v, want ErrMalformed", err)
				}
				return
			case "open":
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
			default:
				t.Fatalf("unknown expected error %q", n.Error)
			}
			enc, err := EncodeContext(n.Context)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := s.Open(HMACPRF(n.RootKey), enc); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %x, %v; want ErrOpen", pt, err)
			}
		})
	}
}

// ---- generation (-update) ----

// det returns n deterministic bytes named by label.
func det(label string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "s3kms sealed test vector %s %d", label, i))
		out = append(out, h[:]...)
	}
	return out[:n]
}

func writeVectors(t *testing.T) {
	rootA := det("root A", 32)
	customerKey := det("SSE-C customer key", 32)
	long := strings.Repeat("k", MaxKeyIDLen-len("named/")) // 250 bytes with the prefix
	inputs := []struct {
		name      string
		root      []byte
		use       Use
		keyID     string
		version   uint32
		ctx       map[string]string
		plaintext []byte
	}{
		{"sse-s3 object key", rootA, UseSSES3, "bucket/3f2c8a4e-1b7d-4c69-9a0e-5d8f7b6c2e10", 1,
			map[string]string{"bucket": "photos", "key": "2024/holiday/beach.jpg"}, det("OEK 1", 32)},
		{"sse-kms named key with caller context", rootA, UseSSEKMS, "app/billing-key", 7,
			map[string]string{"aws:s3:arn": "arn:aws:s3:::invoices/2025/03/inv-0042.pdf", "bucket": "invoices",
				"department": "finance", "key": "2025/03/inv-0042.pdf"}, det("OEK 2", 32)},
		{"sse-c customer key as root", customerKey, UseSSEC, "sse-c", 0,
			map[string]string{"bucket": "private", "key": "diary.txt"}, det("OEK 3", 32)},
		{"encrypt without context", rootA, UseEncrypt, "app/secrets", 1<<32 - 1, nil, []byte("hello, s3kms")},
		{"encrypt empty plaintext, empty value", rootA, UseEncrypt, "a", 1, map[string]string{"purpose": ""}, []byte{}},
		{"encrypt limits", rootA, UseEncrypt, "named/" + long, 2,
			map[string]string{"clé": "valeur ✓", "Z": "upper case sorts first"}, det("payload", MaxPlaintext)},
	}
	f := &vectorFile{Comment: []string{
		"s3kms sealed-key format v1 test vectors; see SPEC.md. All byte strings are hex.",
		"rand is what Seal reads: salt (32 bytes) then nonce (12 bytes).",
		"kdf_input = [1]_32 || label || 0x00 || salt || encoded_context || [256]_32; kek = HMAC-SHA256(root_key, kdf_input).",
		"sealed = header || AES-256-GCM(kek, nonce, plaintext, header || encoded_context).",
		"Negative vectors: error 'malformed' means parsing fails, 'open' means authentication fails.",
		"Frozen: never regenerate existing entries.",
	}}
	for _, in := range inputs {
		enc := mustEncode(t, in.ctx)
		rnd := det("rand "+in.name, SaltSize+NonceSize)
		label, _ := in.use.Label()
		kdfIn := KDFInput(label, rnd[:SaltSize], enc)
		kek, _ := HMACPRF(in.root)(kdfIn)
		blob, err := Seal(bytes.NewReader(rnd), HMACPRF(in.root), in.use, in.keyID, in.version, enc, in.plaintext)
		if err != nil {
			t.Fatal(err)
		}
		f.Vectors = append(f.Vectors, vector{
			Name: in.name, RootKey: in.root, Use: in.use, Label: label, KeyID: in.keyID, KeyVersion: in.version,
			Context: in.ctx, EncodedContext: enc, Rand: rnd, KDFInput: kdfIn, KEK: kek[:],
			Plaintext: in.plaintext, Sealed: blob,
		})
	}

	v1, v3, v6 := f.Vectors[0], f.Vectors[2], f.Vectors[5]
	b := []byte(v1.Sealed)
	hdr := fixedHeaderSize + len(v1.KeyID)
	idAt, verAt := 3, 3+len(v1.KeyID)
	saltAt, nonceAt := verAt+4, verAt+4+SaltSize
	flip := func(i int, mask byte) []byte {
		c := bytes.Clone(b)
		c[i] ^= mask
		return c
	}
	set := func(i int, v byte) []byte {
		c := bytes.Clone(b)
		c[i] = v
		return c
	}
	remarshal := func(mod func(s *Sealed)) []byte {
		s, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		mod(s)
		return s.Marshal()
	}
	otherCtx := map[string]string{"bucket": "photos", "key": "2024/holiday/beach2.jpg"}
	extraCtx := map[string]string{"bucket": "photos", "key": "2024/holiday/beach.jpg", "x": ""}
	neg := func(name string, blob []byte, ctx map[string]string, root []byte, e string) {
		f.Negative = append(f.Negative, negVector{Name: name, RootKey: root, Context: ctx, Sealed: blob, Error: e})
	}
	c1 := v1.Context
	// Authentication failures.
	neg("ciphertext bit flipped", flip(hdr, 0x01), c1, rootA, "open")
	neg("tag bit flipped", flip(len(b)-1, 0x80), c1, rootA, "open")
	neg("salt bit flipped", flip(saltAt+5, 0x10), c1, rootA, "open")
	neg("nonce bit flipped", flip(nonceAt+11, 0x01), c1, rootA, "open")
	neg("key version changed", set(verAt+3, 2), c1, rootA, "open")
	neg("key id changed, same length", flip(idAt+len(v1.KeyID)-1, 0x01), c1, rootA, "open")
	neg("key id changed, other length", remarshal(func(s *Sealed) { s.KeyID += "0" }), c1, rootA, "open")
	neg("use changed to sse-kms", set(1, byte(UseSSEKMS)), c1, rootA, "open")
	neg("use changed to encrypt", set(1, byte(UseEncrypt)), c1, rootA, "open")
	neg("ciphertext truncated by one byte", b[:len(b)-1], c1, rootA, "open")
	neg("byte appended", append(bytes.Clone(b), 0), c1, rootA, "open")
	neg("wrong context: other object", b, otherCtx, rootA, "open")
	neg("wrong context: extra pair", b, extraCtx, rootA, "open")
	neg("wrong context: empty", b, nil, rootA, "open")
	neg("wrong root key", b, c1, customerKey, "open")
	neg("sse-c under another customer key", v3.Sealed, v3.Context, rootA, "open")
	// Parse failures.
	neg("empty", []byte{}, c1, rootA, "malformed")
	neg("format version 0", set(0, 0), c1, rootA, "malformed")
	neg("format version 2", set(0, 2), c1, rootA, "malformed")
	neg("use 0", set(1, 0), c1, rootA, "malformed")
	neg("use 5", set(1, 5), c1, rootA, "malformed")
	neg("key id length 0", set(2, 0), c1, rootA, "malformed")
	neg("key id length 251", append(set(2, 251), make([]byte, 251)...), c1, rootA, "malformed")
	neg("key id with space", set(idAt, ' '), c1, rootA, "malformed")
	neg("key id with byte 0x80", set(idAt, 0x80), c1, rootA, "malformed")
	neg("truncated in header", b[:3], c1, rootA, "malformed")
	neg("truncated in salt", b[:saltAt+10], c1, rootA, "malformed")
	neg("truncated after header", b[:hdr], c1, rootA, "malformed")
	neg("ciphertext shorter than tag", b[:hdr+TagSize-1], c1, rootA, "malformed")
	neg("ciphertext longer than limit", append(bytes.Clone(v6.Sealed), 0), v6.Context, rootA, "malformed")

	out, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeedCorpora(t, f)
}

// writeSeedCorpora writes a few seed inputs, taken from the vectors, in
// the "go test fuzz v1" format under testdata/fuzz/<FuzzName>/.
func writeSeedCorpora(t *testing.T, f *vectorFile) {
	write := func(target, name string, args ...[]byte) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range f.Vectors[:5] {
		write("FuzzParse", fmt.Sprintf("vector-%d", i+1), v.Sealed)
		write("FuzzDecodeContext", fmt.Sprintf("vector-%d", i+1), v.EncodedContext)
		write("FuzzOpen", fmt.Sprintf("vector-%d", i+1), v.Sealed, v.EncodedContext)
	}
	for i, n := range f.Negative {
		if n.Error == "open" && i%3 == 0 {
			enc := mustEncode(t, n.Context)
			write("FuzzOpen", fmt.Sprintf("negative-%d", i+1), n.Sealed, enc)
		}
		if n.Error == "malformed" && i%2 == 0 {
			write("FuzzParse", fmt.Sprintf("negative-%d", i+1), n.Sealed)
		}
	}
	write("FuzzDecodeContext", "unsorted", unhexNoT("00000002 00000001 62 00000000 00000001 61 00000000"))
	write("FuzzDecodeContext", "huge-length", unhexNoT("00000001 ffffffff 6b"))
}

func unhexNoT(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}
