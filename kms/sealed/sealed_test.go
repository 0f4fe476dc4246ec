package sealed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var (
	testRoot  = bytes.Repeat([]byte{0x5a}, 32)
	otherRoot = bytes.Repeat([]byte{0xa5}, 32)
)

func mustEncode(t testing.TB, m map[string]string) []byte {
	t.Helper()
	b, err := EncodeContext(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSeal(t testing.TB, use Use, keyID string, version uint32, ctx, plaintext []byte) []byte {
	t.Helper()
	b, err := Seal(rand.Reader, HMACPRF(testRoot), use, keyID, version, ctx, plaintext)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := mustEncode(t, map[string]string{"bucket": "b", "key": "k"})
	tests := []struct {
		name      string
		use       Use
		keyID     string
		version   uint32
		plaintext []byte
	}{
		{"sse-s3 OEK", UseSSES3, "bucket/0001", 1, bytes.Repeat([]byte{1}, 32)},
		{"sse-kms OEK", UseSSEKMS, "app/key", 9, bytes.Repeat([]byte{2}, 32)},
		{"sse-c OEK", UseSSEC, "sse-c", 0, bytes.Repeat([]byte{3}, 32)},
		{"encrypt empty", UseEncrypt, "k", 1, nil},
		{"encrypt max", UseEncrypt, strings.Repeat("k", MaxKeyIDLen), 1<<32 - 1, bytes.Repeat([]byte{4}, MaxPlaintext)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := mustSeal(t, tt.use, tt.keyID, tt.version, ctx, tt.plaintext)
			if want := 67 + len(tt.keyID) + len(tt.plaintext); len(blob) != want {
				t.Errorf("len(blob) = %d, want %d", len(blob), want)
			}
			s, err := Parse(blob)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Use != tt.use || s.KeyID != tt.keyID || s.KeyVersion != tt.version {
				t.Fatalf("header = %v %q %d", s.Use, s.KeyID, s.KeyVersion)
			}
			if !bytes.Equal(s.Marshal(), blob) {
				t.Fatalf("Marshal(Parse(b)) != b")
			}
			pt, err := s.Open(HMACPRF(testRoot), ctx)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(pt, tt.plaintext) {
				t.Fatalf("Open = %x, want %x", pt, tt.plaintext)
			}
		})
	}
}

func TestSealFresh(t *testing.T) {
	ctx := mustEncode(t, nil)
	a, _ := Parse(mustSeal(t, UseSSES3, "k", 1, ctx, make([]byte, 32)))
	b, _ := Parse(mustSeal(t, UseSSES3, "k", 1, ctx, make([]byte, 32)))
	if a.Salt == b.Salt || a.Nonce == b.Nonce || bytes.Equal(a.Ciphertext, b.Ciphertext) {
		t.Fatal("two seals of the same plaintext share salt, nonce or ciphertext")
	}
}

// TestBinding checks that every header field and the context are bound:
// a blob changed in any of them, or opened under another root, fails with
// ErrOpen.
func TestBinding(t *testing.T) {
	ctx := map[string]string{"bucket": "photos", "key": "a.jpg"}
	enc := mustEncode(t, ctx)
	blob := mustSeal(t, UseSSES3, "bucket/1", 3, enc, make([]byte, 32))
	tests := []struct {
		name   string
		mutate func(s *Sealed)
		ctx    map[string]string
		root   []byte
	}{
		{name: "other object", ctx: map[string]string{"bucket": "photos", "key": "b.jpg"}},
		{name: "other bucket", ctx: map[string]string{"bucket": "photos2", "key": "a.jpg"}},
		{name: "extra pair", ctx: map[string]string{"bucket": "photos", "key": "a.jpg", "x": ""}},
		{name: "no context", ctx: map[string]string{}},
		{name: "other root", root: otherRoot},
		{name: "other key id", mutate: func(s *Sealed) { s.KeyID = "bucket/2" }},
		{name: "longer key id", mutate: func(s *Sealed) { s.KeyID = "bucket/10" }},
		{name: "other version", mutate: func(s *Sealed) { s.KeyVersion = 2 }},
		{name: "other use sse-kms", mutate: func(s *Sealed) { s.Use = UseSSEKMS }},
		{name: "other use sse-c", mutate: func(s *Sealed) { s.Use = UseSSEC }},
		{name: "other use encrypt", mutate: func(s *Sealed) { s.Use = UseEncrypt }},
		{name: "salt", mutate: func(s *Sealed) { s.Salt[31] ^= 1 }},
		{name: "nonce", mutate: func(s *Sealed) { s.Nonce[0] ^= 1 }},
		{name: "ciphertext", mutate: func(s *Sealed) { s.Ciphertext[0] ^= 0x80 }},
		{name: "tag", mutate: func(s *Sealed) { s.Ciphertext[len(s.Ciphertext)-1] ^= 1 }},
		{name: "truncated", mutate: func(s *Sealed) { s.Ciphertext = s.Ciphertext[:len(s.Ciphertext)-1] }},
		{name: "extended", mutate: func(s *Sealed) { s.Ciphertext = append(s.Ciphertext, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(blob)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(s)
				// Go through the wire form, as a stored blob would.
				if s, err = Parse(s.Marshal()); err != nil {
					t.Fatalf("Parse(mutated): %v", err)
				}
			}
			c, root := enc, testRoot
			if tt.ctx != nil {
				c = mustEncode(t, tt.ctx)
			}
			if tt.root != nil {
				root = tt.root
			}
			pt, err := s.Open(HMACPRF(root), c)
			if !errors.Is(err, ErrOpen) || pt != nil {
				t.Fatalf("Open = %x, %v; want ErrOpen", pt, err)
			}
		})
	}
}

func TestSealRejects(t *testing.T) {
	type args struct {
		rand      io.Reader
		prf       PRF
		use       Use
		keyID     string
		ctx       []byte
		plaintext []byte
	}
	valid := func() args {
		return args{rand.Reader, HMACPRF(testRoot), UseEncrypt, "key", mustEncode(t, nil), []byte("x")}
	}
	tests := []struct {
		name   string
		modify func(a *args)
	}{
		{"unknown use 0", func(a *args) { a.use = 0 }},
		{"unknown use 5", func(a *args) { a.use = 5 }},
		{"empty key id", func(a *args) { a.keyID = "" }},
		{"key id too long", func(a *args) { a.keyID = strings.Repeat("k", MaxKeyIDLen+1) }},
		{"key id with space", func(a *args) { a.keyID = "a b" }},
		{"key id non-ASCII", func(a *args) { a.keyID = "clé" }},
		{"plaintext too large", func(a *args) { a.plaintext = make([]byte, MaxPlaintext+1) }},
		{"malformed context", func(a *args) { a.ctx = []byte{0, 0, 0} }},
		{"context with trailing byte", func(a *args) { a.ctx = []byte{0, 0, 0, 0, 0} }},
		{"nil PRF", func(a *args) { a.prf = nil }},
		{"short root", func(a *args) { a.prf = HMACPRF(make([]byte, 16)) }},
		{"short rand", func(a *args) { a.rand = bytes.NewReader(make([]byte, SaltSize+NonceSize-1)) }},
		{"failing rand", func(a *args) { a.rand = iotest.ErrReader(errors.New("no entropy")) }},
	}
	a := valid()
	if _, err := Seal(a.rand, a.prf, a.use, a.keyID, 1, a.ctx, a.plaintext); err != nil {
		t.Fatalf("valid arguments: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid()
			tt.modify(&a)
			if b, err := Seal(a.rand, a.prf, a.use, a.keyID, 1, a.ctx, a.plaintext); err == nil {
				t.Fatalf("Seal succeeded: %x", b)
			}
		})
	}
}

func TestPRFErrorPropagates(t *testing.T) {
	hsmDown := errors.New("hsm unreachable")
	failing := func([]byte) ([32]byte, error) { return [32]byte{}, hsmDown }
	ctx := mustEncode(t, nil)
	if _, err := Seal(rand.Reader, failing, UseSSES3, "k", 1, ctx, nil); !errors.Is(err, hsmDown) {
		t.Fatalf("Seal error = %v, want the PRF's error", err)
	}
	s, _ := Parse(mustSeal(t, UseSSES3, "k", 1, ctx, nil))
	_, err := s.Open(failing, ctx)
	if !errors.Is(err, hsmDown) || errors.Is(err, ErrOpen) {
		t.Fatalf("Open error = %v, want the PRF's error and not ErrOpen", err)
	}
}

// TestPRFInput checks that Seal and Open hand the PRF exactly KDFInput.
func TestPRFInput(t *testing.T) {
	ctx := mustEncode(t, map[string]string{"a": "b"})
	var inputs [][]byte
	spy := func(in []byte) ([32]byte, error) {
		inputs = append(inputs, append([]byte(nil), in...))
		return HMACPRF(testRoot)(in)
	}
	blob, err := Seal(rand.Reader, spy, UseSSEKMS, "k", 1, ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Parse(blob)
	if _, err := s.Open(spy, ctx); err != nil {
		t.Fatal(err)
	}
	want := KDFInput("s3kms/v1/sse-kms", s.Salt[:], ctx)
	if len(inputs) != 2 || !bytes.Equal(inputs[0], want) || !bytes.Equal(inputs[1], want) {
		t.Fatalf("PRF inputs = %x, want twice %x", inputs, want)
	}
}

func TestOpenRejectsMalformed(t *testing.T) {
	ctx := mustEncode(t, nil)
	good, _ := Parse(mustSeal(t, UseSSES3, "k", 1, ctx, nil))
	tests := []struct {
		name   string
		mutate func(s *Sealed)
		ctx    []byte
	}{
		{name: "unknown use", mutate: func(s *Sealed) { s.Use = 9 }},
		{name: "empty key id", mutate: func(s *Sealed) { s.KeyID = "" }},
		{name: "short ciphertext", mutate: func(s *Sealed) { s.Ciphertext = s.Ciphertext[:15] }},
		{name: "malformed context", ctx: []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *good
			s.Ciphertext = append([]byte(nil), good.Ciphertext...)
			c := ctx
			if tt.mutate != nil {
				tt.mutate(&s)
			}
			if tt.ctx != nil {
				c = tt.ctx
			}
			if _, err := s.Open(HMACPRF(testRoot), c); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Open error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	ctx := mustEncode(t, nil)
	blob := mustSeal(t, UseSSES3, "key", 1, ctx, make([]byte, 32))
	hdr := fixedHeaderSize + 3
	with := func(i int, v byte) []byte {
		b := bytes.Clone(blob)
		b[i] = v
		return b
	}
	long := mustSeal(t, UseEncrypt, "key", 1, ctx, make([]byte, MaxPlaintext))
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"one byte", blob[:1]},
		{"two bytes", blob[:2]},
		{"version 0", with(0, 0)},
		{"version 2", with(0, 2)},
		{"use 0", with(1, 0)},
		{"use 5", with(1, 5)},
		{"key id length 0", with(2, 0)},
		{"key id length 251", append(with(2, 251), make([]byte, 300)...)},
		{"key id length beyond input", with(2, 200)},
		{"key id with space", with(3, ' ')},
		{"key id with DEL", with(3, 0x7f)},
		{"key id with 0x80", with(3, 0x80)},
		{"header only", blob[:hdr]},
		{"ciphertext shorter than tag", blob[:hdr+15]},
		{"truncated in salt", blob[:10]},
		{"ciphertext over limit", append(bytes.Clone(long), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Parse(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", s, err)
			}
		})
	}
	if _, err := Parse(blob[:hdr+16]); err != nil {
		t.Fatalf("Parse of tag-only blob: %v", err)
	}
}

func TestParseDoesNotAlias(t *testing.T) {
	blob := mustSeal(t, UseSSES3, "key", 1, mustEncode(t, nil), make([]byte, 32))
	s, err := Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	before := bytes.Clone(s.Ciphertext)
	clear(blob)
	if !bytes.Equal(s.Ciphertext, before) {
		t.Fatal("Parse result aliases its input")
	}
}

func TestMarshalPanicsOnLongKeyID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Marshal did not panic")
		}
	}()
	(&Sealed{Header: Header{Use: UseSSES3, KeyID: strings.Repeat("k", 256)}}).Marshal()
}

func BenchmarkSeal(b *testing.B) {
	ctx := mustEncode(b, map[string]string{"bucket": "photos", "key": "2024/a.jpg"})
	prf := HMACPRF(testRoot)
	oek := make([]byte, 32)
	for b.Loop() {
		if _, err := Seal(rand.Reader, prf, UseSSES3, "bucket/0001", 1, ctx, oek); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	ctx := mustEncode(b, map[string]string{"bucket": "photos", "key": "2024/a.jpg"})
	prf := HMACPRF(testRoot)
	s, _ := Parse(mustSeal(b, UseSSES3, "bucket/0001", 1, ctx, make([]byte, 32)))
	for b.Loop() {
		if _, err := s.Open(prf, ctx); err != nil {
			b.Fatal(err)
		}
	}
}
