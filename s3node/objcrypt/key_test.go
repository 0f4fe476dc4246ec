package objcrypt

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func TestObjectKeyNeverPrints(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	raw := k.Bytes()
	secrets := []string{hex.EncodeToString(raw), fmt.Sprint(raw), string(raw)}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%s", "%x", "%X", "%q", "%#v", "%d"} {
		outputs[verb+" value"] = fmt.Sprintf(verb, *k)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, k)
		outputs[verb+" in struct"] = fmt.Sprintf(verb, struct{ K *ObjectKey }{k})
	}
	outputs["String"] = k.String()
	outputs["GoString"] = k.GoString()
	j, err := json.Marshal(map[string]any{"k": k, "v": *k})
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", k, "value", *k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	outputs["slog"] = buf.String()
	for name, out := range outputs {
		if !strings.Contains(out, redacted) {
			t.Errorf("%s: %q does not say %s", name, out, redacted)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s prints the key: %q", name, out)
			}
		}
	}
}

func TestObjectKey(t *testing.T) {
	t.Parallel()
	if _, err := ObjectKeyFrom(make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
	if _, err := ObjectKeyFrom(make([]byte, 33)); err == nil {
		t.Error("33-byte key accepted")
	}
	if _, err := ObjectKeyFrom(make([]byte, 32)); err == nil {
		t.Error("all-zero key accepted")
	}
	if _, err := NewObjectKey(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("short random source accepted")
	}
	b := bytes.Repeat([]byte{7}, KeySize)
	k, err := ObjectKeyFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 0 // ObjectKeyFrom copies
	c := k.Bytes()
	if !bytes.Equal(c, bytes.Repeat([]byte{7}, KeySize)) {
		t.Fatal("ObjectKeyFrom does not copy")
	}
	c[1] = 0 // Bytes returns a copy
	if !bytes.Equal(k.Bytes(), bytes.Repeat([]byte{7}, KeySize)) {
		t.Fatal("Bytes does not copy")
	}
	k.Wipe()
	if !bytes.Equal(k.Bytes(), make([]byte, KeySize)) || !k.zero() {
		t.Fatal("Wipe leaves key bytes")
	}
	(*ObjectKey)(nil).Wipe()
	k1, err := NewObjectKey(bytes.NewReader(bytes.Repeat([]byte{9}, 40)))
	if err != nil || !bytes.Equal(k1.Bytes(), bytes.Repeat([]byte{9}, KeySize)) {
		t.Fatalf("NewObjectKey: %v", err)
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestETag(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, 0), testKey(t, 1)
	sum := md5.Sum([]byte("test_data"))
	seen := map[string]string{}
	for _, k := range []*ObjectKey{k1, k2} {
		for _, part := range []int{0, 1, 2, 10000} {
			e := ETag(k, part, sum[:])
			if !hex32.MatchString(e) {
				t.Fatalf("ETag %q is not 32 lower-case hex digits", e)
			}
			if e == hex.EncodeToString(sum[:]) {
				t.Fatal("ETag is the plaintext MD5")
			}
			if e2 := ETag(k, part, sum[:]); e2 != e {
				t.Fatalf("ETag not stable: %s, %s", e, e2)
			}
			name := fmt.Sprintf("key %p part %d", k, part)
			if prev, dup := seen[e]; dup {
				t.Fatalf("%s and %s have the same ETag", prev, name)
			}
			seen[e] = name
		}
	}
	other := md5.Sum([]byte("test_datb"))
	if ETag(k1, 0, other[:]) == ETag(k1, 0, sum[:]) {
		t.Fatal("different MD5s give the same ETag")
	}
}

func TestETagPanicsOnMisuse(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"nil key":   func() { ETag(nil, 0, nil) },
		"wiped key": func() { ETag(new(ObjectKey), 0, nil) },
		"part":      func() { ETag(testKey(t, 0), 10001, nil) },
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("%s: no panic", name)
				}
				if s := fmt.Sprint(r); strings.Contains(s, hex.EncodeToString(testKey(t, 0).Bytes())) {
					t.Errorf("%s: panic shows the key", name)
				}
			}()
			f()
		}()
	}
}

func TestPartKeys(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0)
	seen := map[[KeySize]byte]int{}
	for _, part := range []int{0, 1, 2, 9999, 10000} {
		pk, err := partKey(k, part)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[pk]; dup {
			t.Fatalf("parts %d and %d have the same key", prev, part)
		}
		seen[pk] = part
		if bytes.Equal(pk[:], k.Bytes()) {
			t.Fatal("part key equals the object key")
		}
	}
	for _, part := range []int{-1, 10001} {
		if _, err := partKey(k, part); err == nil {
			t.Errorf("part %d accepted", part)
		}
	}
}
