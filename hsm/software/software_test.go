package software_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
)

var update = flag.Bool("update", false, "rewrite ../hsmtest/testdata/vectors.json (frozen: only to add vectors)")

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newProtector(t testing.TB, master []byte) *software.Protector {
	t.Helper()
	p, err := software.New(master)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hmacSHA256(key, msg []byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return [32]byte(m.Sum(nil))
}

func TestConformance(t *testing.T) {
	hsmtest.ExerciseProtector(t, newProtector(t, randomKey(t)))
}

// TestKnownAnswers checks the cross-protector vectors of hsmtest: the
// software protector on their master reproduces every PRF output, and the
// vectors are consistent with an independent computation (deterministic
// RFC 5649 wrapping of the clear root; crypto/hmac on the clear root).
func TestKnownAnswers(t *testing.T) {
	if *update {
		writeKnownAnswers(t)
		t.Skip("wrote ../hsmtest/testdata/vectors.json; run again without -update to check the embedded copy")
	}
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	p := newProtector(t, ka.Master)
	if p.MasterKeyID() != ka.SoftwareMasterKeyID {
		t.Fatalf("MasterKeyID = %s, vectors say %s", p.MasterKeyID(), ka.SoftwareMasterKeyID)
	}
	hsmtest.ExerciseKnownAnswers(t, p)
	hsmtest.ExerciseMaterialKnownAnswers(t, p, ka.Master)
	for _, v := range ka.Vectors {
		w, err := p.WrapRoot(v.Root)
		if err != nil || !bytes.Equal(w, v.Wrapped) {
			t.Errorf("%s: WrapRoot(root) = %x, %v; want %x", v.Name, w, err, v.Wrapped)
		}
		if got := hmacSHA256(v.Root, v.Input); got != v.PRF {
			t.Errorf("%s: HMAC-SHA256(root, input) = %x, vector says %x", v.Name, got, v.PRF)
		}
	}
}

func det(label string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "s3kms protector test vector %s %d", label, i))
		out = append(out, h[:]...)
	}
	return out[:n]
}

func writeKnownAnswers(t *testing.T) {
	master := det("master", 32)
	p := newProtector(t, master)
	kdf := func(use sealed.Use, salt string, ctx map[string]string) []byte {
		enc, err := sealed.EncodeContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		label, _ := use.Label()
		return sealed.KDFInput(label, det(salt, sealed.SaltSize), enc)
	}
	big := map[string]string{}
	for i := range 40 {
		big[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 80)
	}
	type vec struct {
		Name    string `json:"name"`
		Root    string `json:"root"`
		Wrapped string `json:"wrapped"`
		Input   string `json:"input"`
		PRF     string `json:"prf"`
	}
	inputs := []struct {
		name  string
		root  []byte
		input []byte
	}{
		{"sse-s3 KEK", det("root 1", 32), kdf(sealed.UseSSES3, "salt 1", map[string]string{"bucket": "photos", "key": "2024/holiday/beach.jpg"})},
		{"sse-kms KEK", det("root 2", 32), kdf(sealed.UseSSEKMS, "salt 2", map[string]string{"bucket": "invoices", "key": "inv-0042.pdf", "department": "finance"})},
		{"empty input", det("root 1", 32), nil},
		{"encrypt KEK, 3.6 KB input", det("root 2", 32), kdf(sealed.UseEncrypt, "salt 3", big)},
	}
	out := struct {
		Comment             []string `json:"comment"`
		Master              string   `json:"master"`
		SoftwareMasterKeyID string   `json:"software_master_key_id"`
		Vectors             []vec    `json:"vectors"`
	}{
		Comment: []string{
			"Protector known answers (hsm/hsmtest). All byte strings are hex.",
			"wrapped = RFC 5649 AES-256 key wrap with padding of root under master (PKCS#11 CKM_AES_KEY_WRAP_PAD).",
			"prf = HMAC-SHA256(root, input) (PKCS#11 CKM_SHA256_HMAC); inputs are sealed.KDFInput values, so prf is a KEK.",
			"A protector holding master must open wrapped and reproduce prf. Frozen: never change existing entries.",
		},
		Master:              hex.EncodeToString(master),
		SoftwareMasterKeyID: p.MasterKeyID(),
	}
	for _, in := range inputs {
		w, err := p.WrapRoot(in.root)
		if err != nil {
			t.Fatal(err)
		}
		mac := hmacSHA256(in.root, in.input)
		out.Vectors = append(out.Vectors, vec{in.name, hex.EncodeToString(in.root), hex.EncodeToString(w),
			hex.EncodeToString(in.input), hex.EncodeToString(mac[:])})
	}
	b, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../hsmtest/testdata/vectors.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := software.New(make([]byte, n)); err == nil {
			t.Errorf("New(%d-byte master) succeeded", n)
		}
	}
	master := randomKey(t)
	p := newProtector(t, master)
	if p.Kind() != "software" {
		t.Errorf("Kind = %q", p.Kind())
	}
	// New keeps no reference to master.
	w, err := p.GenerateRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	clear(master)
	if _, err := p.OpenRoot(context.Background(), w); err != nil {
		t.Fatalf("OpenRoot after wiping the caller's master: %v", err)
	}
}

func TestMasterKeyID(t *testing.T) {
	master := bytes.Repeat([]byte{0x01}, 32)
	sum := sha256.Sum256(append([]byte("s3kms master key id"), master...))
	want := "sw:" + hex.EncodeToString(sum[:])[:16]
	if got := software.MasterKeyID(master); got != want {
		t.Fatalf("MasterKeyID = %s, want %s", got, want)
	}
	if got := newProtector(t, master).MasterKeyID(); got != want {
		t.Fatalf("Protector.MasterKeyID = %s, want %s", got, want)
	}
	if software.MasterKeyID(bytes.Repeat([]byte{0x02}, 32)) == want {
		t.Fatal("two masters share an id")
	}
}

func TestForeignMaster(t *testing.T) {
	a, b := newProtector(t, randomKey(t)), newProtector(t, randomKey(t))
	w, err := a.GenerateRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rk, err := b.OpenRoot(context.Background(), w)
	if kms.ErrorCode(err) != kms.EDecrypt || rk != nil {
		t.Fatalf("OpenRoot under another master = %v, %v; want EDecrypt", rk, err)
	}
	if strings.Contains(err.Error(), hex.EncodeToString(w)) {
		t.Fatal("error quotes the wrapped key")
	}
}

func TestWrapRoot(t *testing.T) {
	p := newProtector(t, randomKey(t))
	material := randomKey(t)
	w, err := p.WrapRoot(material)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := p.OpenRoot(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Close()
	got, err := rk.PRF([]byte("input"))
	if err != nil || got != hmacSHA256(material, []byte("input")) {
		t.Fatalf("PRF of an imported root = %x, %v", got, err)
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := p.WrapRoot(make([]byte, n)); kms.ErrorCode(err) != kms.EInvalid {
			t.Errorf("WrapRoot(%d bytes) error = %v, want EInvalid", n, err)
		}
	}
}

func TestRootKeyClose(t *testing.T) {
	p := newProtector(t, randomKey(t))
	w, _ := p.GenerateRoot(context.Background())
	rk, err := p.OpenRoot(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if err := rk.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rk.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if out, err := rk.PRF([]byte("x")); err == nil || out != [32]byte{} {
		t.Fatalf("PRF after Close = %x, %v; want an error", out, err)
	}
}

func TestContextCanceled(t *testing.T) {
	p := newProtector(t, randomKey(t))
	w, _ := p.GenerateRoot(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.GenerateRoot(ctx); err == nil {
		t.Error("GenerateRoot with a canceled context succeeded")
	}
	if _, err := p.OpenRoot(ctx, w); err == nil {
		t.Error("OpenRoot with a canceled context succeeded")
	}
}

// TestNoMaterialInFormatting checks that no fmt verb prints key material.
func TestNoMaterialInFormatting(t *testing.T) {
	master, root := randomKey(t), randomKey(t)
	p := newProtector(t, master)
	w, err := p.WrapRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := p.OpenRoot(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Close()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for name, v := range map[string]any{"protector": p, "root key": rk, "root in struct": struct{ R kms.RootKey }{rk}} {
			s := fmt.Sprintf(verb, v)
			for _, secret := range [][]byte{master, root} {
				if strings.Contains(strings.ToLower(s), hex.EncodeToString(secret)) || strings.Contains(s, string(secret)) ||
					strings.Contains(s, fmt.Sprint(secret)) {
					t.Fatalf("%s printed with %s reveals key material: %s", name, verb, s)
				}
			}
		}
	}
	if s := fmt.Sprintf("%v", rk); s != "[redacted]" {
		t.Errorf("root key prints as %q", s)
	}
	if s := fmt.Sprint(p); s != "software.Protector{master: "+p.MasterKeyID()+"}" {
		t.Errorf("protector prints as %q", s)
	}
}

func BenchmarkOpenRoot(b *testing.B) {
	p := newProtector(b, randomKey(b))
	w, _ := p.GenerateRoot(context.Background())
	for b.Loop() {
		rk, err := p.OpenRoot(context.Background(), w)
		if err != nil {
			b.Fatal(err)
		}
		rk.Close()
	}
}

func BenchmarkPRF(b *testing.B) {
	p := newProtector(b, randomKey(b))
	w, _ := p.GenerateRoot(context.Background())
	rk, _ := p.OpenRoot(context.Background(), w)
	defer rk.Close()
	in := sealed.KDFInput("s3kms/v1/sse-s3", make([]byte, 32), make([]byte, 64))
	for b.Loop() {
		if _, err := rk.PRF(in); err != nil {
			b.Fatal(err)
		}
	}
}
