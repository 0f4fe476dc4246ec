package objcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/s3kms/s3kms/kms/sealed"
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
	Comment   []string         `json:"comment"`
	ObjectKey hexBytes         `json:"object_key"`
	PartKeys  []partKeyVector  `json:"part_keys"`
	ETags     []etagVector     `json:"etags"`
	Streams   []streamVector   `json:"streams"`
	Customer  []customerVector `json:"customer"`
}

type partKeyVector struct {
	Part int      `json:"part"`
	Key  hexBytes `json:"part_key"`
}

type etagVector struct {
	Part      int      `json:"part"`
	Plaintext string   `json:"plaintext"`
	MD5       hexBytes `json:"md5"`
	ETag      string   `json:"etag"`
}

type streamVector struct {
	Name          string   `json:"name"`
	Part          int      `json:"part"`
	Nonce         hexBytes `json:"nonce"` // the 12 random bytes sio draws per stream
	PlaintextSize int64    `json:"plaintext_size"`
	StoredSize    int64    `json:"stored_size"`
	Stored        hexBytes `json:"stored,omitempty"` // only for small streams
	StoredSHA256  hexBytes `json:"stored_sha256"`
}

type customerVector struct {
	Name        string            `json:"name"`
	CustomerKey hexBytes          `json:"customer_key"`
	Context     map[string]string `json:"context"`
	Rand        hexBytes          `json:"rand"` // salt (32) then nonce (12)
	Sealed      hexBytes          `json:"sealed"`
}

// vectorPlaintext is the plaintext of the stream vectors: byte i is
// i mod 251.
func vectorPlaintext(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// maxInlineStream is the largest stream stored in hex in the file.
const maxInlineStream = 1024

// generate computes the vectors with this package's code.
func generate(t testing.TB) *vectorFile {
	t.Helper()
	oek := seq(0x01, KeySize)
	k, err := ObjectKeyFrom(oek)
	if err != nil {
		t.Fatal(err)
	}
	f := &vectorFile{
		Comment: []string{
			"Frozen test vectors of s3node/objcrypt (format " + Format + "); see the package doc.",
			"All byte strings are hex. part_key = HMAC-SHA256(object_key, \"s3kms/v1/part-key\" || uint32be(part)).",
			"etag = hex(HMAC-SHA256(object_key, \"s3kms/v1/etag\" || uint32be(part) || md5)[:16]), md5 = MD5(plaintext).",
			"streams: DARE 2.0, AES-256-GCM, encrypted with the part key; plaintext byte i = i mod 251; nonce = the 12 random bytes of the stream; header[4] is nonce[0] with its top bit set in the last package (final flag) and cleared in the others.",
			"customer: kms/sealed blob, use SSE-C, key id \"sse-c\", version 0, root = customer_key, payload = object_key; rand = salt || nonce.",
			"Written once by go test ./s3node/objcrypt -run TestVectors -update; never change existing entries.",
		},
		ObjectKey: oek,
	}
	for _, part := range []int{0, 1, 10000} {
		pk, err := partKey(k, part)
		if err != nil {
			t.Fatal(err)
		}
		f.PartKeys = append(f.PartKeys, partKeyVector{part, pk[:]})
	}
	for _, e := range []struct {
		part  int
		plain string
	}{{0, ""}, {0, "test_data"}, {1, "test_data"}, {10000, "test_data"}} {
		sum := md5.Sum([]byte(e.plain))
		f.ETags = append(f.ETags, etagVector{e.part, e.plain, sum[:], ETag(k, e.part, sum[:])})
	}
	for _, s := range []struct {
		name string
		part int
		size int64
	}{
		{"empty", 0, 0},
		{"100 bytes", 0, 100},
		{"100 bytes, part 1", 1, 100},
		{"one full package, part 10000", 10000, 65536},
		{"65537 bytes", 0, 65537},
	} {
		nonce := seq(0x30, 12)
		var buf bytes.Buffer
		w, err := newWriter(&buf, k, s.part, bytes.NewReader(nonce))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(vectorPlaintext(s.size)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		v := streamVector{Name: s.name, Part: s.part, Nonce: nonce, PlaintextSize: s.size,
			StoredSize: int64(buf.Len()), StoredSHA256: sum[:]}
		if buf.Len() <= maxInlineStream {
			v.Stored = buf.Bytes()
		}
		f.Streams = append(f.Streams, v)
	}
	for _, c := range []struct {
		name string
		ctx  map[string]string
	}{
		{"bucket and key", map[string]string{"bucket": "photos", "key": "2026/cat.jpg"}},
		{"empty context", nil},
	} {
		ck, rnd := seq(0xc0, KeySize), seq(0x40, sealed.SaltSize+sealed.NonceSize)
		blob, err := SealCustomer(bytes.NewReader(rnd), ck, c.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		f.Customer = append(f.Customer, customerVector{c.name, ck, c.ctx, rnd, blob})
	}
	return f
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
	if len(f.PartKeys) == 0 || len(f.ETags) == 0 || len(f.Streams) == 0 || len(f.Customer) == 0 {
		t.Fatalf("%s holds no vectors", vectorsFile)
	}
	return &f
}

// TestVectors regenerates testdata/vectors.json and compares it with the
// file, then checks the file against independent computations: HMAC for
// part keys and ETags, a DARE 2.0 decoder written from the package doc
// (not sio), NewReader, and OpenCustomer. testdata/verify_vectors.py
// re-checks the file with Python's cryptography package.
func TestVectors(t *testing.T) {
	gen := generate(t)
	if *update {
		b, err := json.MarshalIndent(gen, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeSeeds(t, gen)
	}
	f := loadVectors(t)
	if !reflect.DeepEqual(gen.PartKeys, f.PartKeys) || !reflect.DeepEqual(gen.ETags, f.ETags) ||
		!reflect.DeepEqual(gen.Streams, f.Streams) || !reflect.DeepEqual(gen.Customer, f.Customer) ||
		!bytes.Equal(gen.ObjectKey, f.ObjectKey) {
		t.Fatalf("the code no longer produces %s (a frozen format changed?)", vectorsFile)
	}
	k, err := ObjectKeyFrom(f.ObjectKey)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, parts ...[]byte) []byte {
		h := hmac.New(sha256.New, key)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	be32 := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	for _, v := range f.PartKeys {
		if want := mac(f.ObjectKey, []byte("s3kms/v1/part-key"), be32(v.Part)); !bytes.Equal(v.Key, want) {
			t.Errorf("part key %d: %x, HMAC gives %x", v.Part, v.Key, want)
		}
	}
	for _, v := range f.ETags {
		sum := md5.Sum([]byte(v.Plaintext))
		want := hex.EncodeToString(mac(f.ObjectKey, []byte("s3kms/v1/etag"), be32(v.Part), sum[:])[:16])
		if !bytes.Equal(v.MD5, sum[:]) || v.ETag != want {
			t.Errorf("ETag part %d %q: %s, HMAC gives %s", v.Part, v.Plaintext, v.ETag, want)
		}
	}
	for i, v := range f.Streams {
		stored := v.Stored
		if stored == nil {
			stored = gen.Streams[i].storedBytes(t, k)
		}
		if sum := sha256.Sum256(stored); !bytes.Equal(sum[:], v.StoredSHA256) || int64(len(stored)) != v.StoredSize {
			t.Fatalf("%s: stored bytes do not match their hash or size", v.Name)
		}
		pk := mac(f.ObjectKey, []byte("s3kms/v1/part-key"), be32(v.Part))
		plain, err := dareDecrypt(pk, stored)
		if err != nil || !bytes.Equal(plain, vectorPlaintext(v.PlaintextSize)) {
			t.Errorf("%s: independent DARE decoder: %v", v.Name, err)
		}
		if len(stored) > 0 && !bytes.Equal(stored[4:16], append([]byte{v.Nonce[0] & 0x7f}, v.Nonce[1:]...)) &&
			!bytes.Equal(stored[4:16], append([]byte{v.Nonce[0] | 0x80}, v.Nonce[1:]...)) {
			t.Errorf("%s: the header does not carry the recorded nonce", v.Name)
		}
		got, err := readRange(k, v.Part, stored, v.StoredSize, 0, v.PlaintextSize)
		if err != nil || !bytes.Equal(got, vectorPlaintext(v.PlaintextSize)) {
			t.Errorf("%s: NewReader: %v", v.Name, err)
		}
	}
	for _, v := range f.Customer {
		got, err := OpenCustomer(v.CustomerKey, v.Sealed, v.Context)
		if err != nil || !bytes.Equal(got.Bytes(), f.ObjectKey) {
			t.Errorf("customer %s: OpenCustomer: %v", v.Name, err)
		}
	}
}

// storedBytes re-encrypts a stream vector (for those not kept inline).
func (v streamVector) storedBytes(t testing.TB, k *ObjectKey) []byte {
	var buf bytes.Buffer
	w, err := newWriter(&buf, k, v.Part, bytes.NewReader(v.Nonce))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(vectorPlaintext(v.PlaintextSize))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dareDecrypt decrypts a whole DARE 2.0 AES-256-GCM stream following the
// package doc alone, as an independent check of sio and of the spec.
func dareDecrypt(key, stored []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var out []byte
	var first []byte
	for i := uint32(0); len(stored) > 0; i++ {
		if len(stored) <= 32 {
			return nil, errors.New("short package")
		}
		h := stored[:16]
		n := int(binary.LittleEndian.Uint16(h[2:4])) + 1
		final := h[4]&0x80 != 0
		switch {
		case h[0] != 0x20 || h[1] != 0x00:
			return nil, errors.New("bad version or cipher")
		case len(stored) < 16+n+16:
			return nil, errors.New("truncated package")
		case final != (len(stored) == 16+n+16):
			return nil, errors.New("final flag not on the last package")
		case !final && n != 65536:
			return nil, errors.New("short package before the last")
		}
		if first == nil {
			first = bytes.Clone(h[4:16])
			first[0] &= 0x7f
		}
		nonce := bytes.Clone(h[4:16])
		nonce[0] &= 0x7f
		if !bytes.Equal(nonce, first) {
			return nil, errors.New("nonce changes within the stream")
		}
		nonce = bytes.Clone(h[4:16])
		binary.LittleEndian.PutUint32(nonce[8:], binary.LittleEndian.Uint32(nonce[8:])^i)
		out, err = gcm.Open(out, nonce, stored[16:16+n+16], h[:4])
		if err != nil {
			return nil, fmt.Errorf("package %d: %w", i, err)
		}
		stored = stored[16+n+16:]
	}
	return out, nil
}

// writeSeeds writes the fuzz seed corpora derived from the vectors, in
// the "go test fuzz v1" format under testdata/fuzz/<FuzzName>/.
func writeSeeds(t *testing.T, f *vectorFile) {
	k, err := ObjectKeyFrom(f.ObjectKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(target, name string, args ...any) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
			case int64:
				fmt.Fprintf(&b, "int64(%d)\n", a)
			case uint16:
				fmt.Fprintf(&b, "uint16(%d)\n", a)
			default:
				t.Fatalf("seed argument of type %T", a)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range f.Streams {
		stored := v.storedBytes(t, k)
		if v.PlaintextSize > 0 && len(stored) <= maxInlineStream { // FuzzReader adds the large ones itself
			write("FuzzReader", fmt.Sprintf("vector-%d", i+1), stored, int64(len(stored)), uint16(v.Part), int64(v.PlaintextSize-1), int64(1))
		}
	}
	for i, v := range f.Customer {
		enc, err := sealed.EncodeContext(v.Context)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzOpenCustomer", fmt.Sprintf("vector-%d", i+1), []byte(v.CustomerKey), []byte(v.Sealed), enc)
	}
}
