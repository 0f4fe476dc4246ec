package sse

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// Keys A and B of s3-tests (SSE-SPEC §1.1).
const (
	keyA    = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs="
	keyAMD5 = "DWygnHRtgiJ77HCm+1rvHw=="
	keyB    = "6b+WOZ1T3cqZMxgThRcXAQBrS5mXKdDUphvpxptl9/4="
	keyBMD5 = "arxBvwY2V4SiOne6yppVPQ=="
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return b64(s[:])
}

var (
	// key10 is a 10-byte key with its correct MD5 (AWS-rec wrong-key-size).
	key10    = b64([]byte("0123456789"))
	key10MD5 = md5Of([]byte("0123456789"))
	// hexKey is boto/boto3#684: 32 hex characters sent as the base64 key
	// (decodes to 24 bytes) with the MD5 of the hex text.
	hexKey    = "0123456789abcdef0123456789abcdef"
	hexKeyMD5 = md5Of([]byte(hexKey))
	// key64 decodes to 64 bytes.
	key64    = b64(bytes.Repeat([]byte{7}, 64))
	key64MD5 = md5Of(bytes.Repeat([]byte{7}, 64))
)

func field(name, value string) s3err.Field { return s3err.Field{Name: name, Value: value} }

var (
	fieldsNull = []s3err.Field{field("ArgumentName", "x-amz-server-side-encryption"), field("ArgumentValue", "null")}
)

type wantErr struct {
	code   s3err.Code
	status int
	msg    string
	fields []s3err.Field
}

var (
	errW2 = &wantErr{s3err.InvalidArgument, 400, "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.", fieldsNull}
	errW4 = &wantErr{s3err.InvalidArgument, 400, "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.", nil}
	errW5 = &wantErr{s3err.InvalidArgument, 400, "The secret key was invalid for the specified algorithm.", fieldsNull}
	errW6 = errW5
	errW7 = &wantErr{s3err.InvalidArgument, 400, "The calculated MD5 hash of the key did not match the hash that was provided.", fieldsNull}
	errW8 = &wantErr{s3err.InvalidArgument, 400, "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.", nil}
)

func errW1(sse string) *wantErr {
	return &wantErr{s3err.InvalidArgument, 400, "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
		[]s3err.Field{field("ArgumentName", "x-amz-server-side-encryption"), field("ArgumentValue", sse)}}
}

func errW3(alg string) *wantErr {
	return &wantErr{s3err.InvalidEncryptionAlgorithmError, 400, "The Encryption request you specified is not valid. Supported value: AES256.",
		[]s3err.Field{field("ArgumentName", "x-amz-server-side-encryption"), field("ArgumentValue", alg)}}
}

func checkErr(t *testing.T, err error, want *wantErr) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	var e *s3err.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *s3err.Error %s", err, err, want.code)
	}
	if e.Code != want.code || e.Status() != want.status || e.Message != want.msg {
		t.Errorf("got %s %d %q, want %s %d %q", e.Code, e.Status(), e.Message, want.code, want.status, want.msg)
	}
	if fmt.Sprint(e.Fields) != fmt.Sprint(want.fields) {
		t.Errorf("fields = %v, want %v", e.Fields, want.fields)
	}
	if e.Err != nil && (e.Err != errKeySize || !WrongKeySize(err)) { // only W6 carries a marker (no key in it)
		t.Errorf("Err = %v, want nil", e.Err)
	}
}

// trioHeader builds a header with the trio under prefix; "" leaves a
// header out. extra are more name/value pairs.
func trioHeader(prefix, alg, key, md5 string, extra ...string) http.Header {
	h := http.Header{}
	if alg != "" {
		h.Set(prefix+"algorithm", alg)
	}
	if key != "" {
		h.Set(prefix+"key", key)
	}
	if md5 != "" {
		h.Set(prefix+"key-MD5", md5)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Add(extra[i], extra[i+1])
	}
	return h
}

type keyCase struct {
	name          string
	alg, key, md5 string
	extra         []string
	want          *wantErr
	wantMD5       string // on success
}

// keyCases are the SSE-SPEC §1.3 rows W1–W8 and R5 that concern parsing,
// for the destination (or read) trio.
var keyCases = []keyCase{
	{name: "valid key A", alg: "AES256", key: keyA, md5: keyAMD5, wantMD5: keyAMD5},
	{name: "valid key B", alg: "AES256", key: keyB, md5: keyBMD5, wantMD5: keyBMD5},
	{name: "no headers", wantMD5: ""},
	{name: "W1 with AES256", alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption", "AES256"}, want: errW1("AES256")},
	{name: "W1 with aws:kms", alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption", "aws:kms"}, want: errW1("aws:kms")},
	{name: "W1 before W3 (AES256 + algorithm KMS)", alg: "KMS", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption", "AES256"}, want: errW1("AES256")},
	{name: "W1 before W2 (key only)", key: keyA, extra: []string{"x-amz-server-side-encryption", "aws:kms"}, want: errW1("aws:kms")},
	{name: "W1 with empty SSE value", alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption", ""}, want: errW1("")},
	{name: "W2 key and MD5 without algorithm", key: keyA, md5: keyAMD5, want: errW2},
	{name: "W2 key only", key: keyA, want: errW2},
	{name: "W2 MD5 only", md5: keyAMD5, want: errW2},
	{name: "W2 before W5", key: "!!!", want: errW2},
	{name: "W3 AES128", alg: "AES128", key: keyA, md5: keyAMD5, want: errW3("AES128")},
	{name: "W3 KMS", alg: "KMS", key: keyA, md5: keyAMD5, want: errW3("KMS")},
	{name: "W3 case matters", alg: "aes256", key: keyA, md5: keyAMD5, want: errW3("aes256")},
	{name: "W3 before W4 (R5 read without key)", alg: "AES128", want: errW3("AES128")},
	{name: "W4 algorithm only", alg: "AES256", want: errW4},
	{name: "W4 algorithm and MD5", alg: "AES256", md5: keyAMD5, want: errW4},
	{name: "W5 not base64", alg: "AES256", key: "not base64!", md5: keyAMD5, want: errW5},
	{name: "W5 unpadded", alg: "AES256", key: strings.TrimRight(keyA, "="), md5: keyAMD5, want: errW5},
	{name: "W5 URL alphabet", alg: "AES256", key: strings.NewReplacer("+", "-", "/", "_").Replace(keyA), md5: keyAMD5, want: errW5},
	{name: "W5 non-zero padding bits", alg: "AES256", key: strings.TrimSuffix(keyA, "Vs=") + "Vt=", md5: keyAMD5, want: errW5},
	{name: "W7 MD5 with non-zero padding bits", alg: "AES256", key: keyA, md5: strings.TrimSuffix(keyAMD5, "w==") + "x==", want: errW7},
	{name: "W5 line break in key", alg: "AES256", key: keyA[:20] + "\n" + keyA[20:], md5: keyAMD5, want: errW5},
	{name: "W7 line break in MD5", alg: "AES256", key: keyA, md5: keyAMD5[:8] + "\r\n" + keyAMD5[8:], want: errW7},
	{name: "W5 before W8", alg: "AES256", key: "%%%%", want: errW5},
	{name: "W6 10-byte key, MD5 consistent", alg: "AES256", key: key10, md5: key10MD5, want: errW6},
	{name: "W6 64-byte key, MD5 consistent", alg: "AES256", key: key64, md5: key64MD5, want: errW6},
	{name: "W6 before W8 (short key, no MD5)", alg: "AES256", key: key10, want: errW6},
	{name: "W7 MD5 of key B", alg: "AES256", key: keyA, md5: keyBMD5, want: errW7},
	{name: "W7 MD5 of the base64 text", alg: "AES256", key: keyA, md5: md5Of([]byte(keyA)), want: errW7},
	{name: "W7 MD5 not base64", alg: "AES256", key: keyA, md5: "zzz", want: errW7},
	{name: "W7 MD5 too long", alg: "AES256", key: keyA, md5: keyAMD5 + keyAMD5, want: errW7},
	{name: "W7 hex MD5", alg: "AES256", key: keyA, md5: func() string {
		s := md5.Sum(must(base64.StdEncoding.DecodeString(keyA)))
		return hex.EncodeToString(s[:])
	}(), want: errW7},
	{name: "W7 before W6 (boto3#684 24-byte key)", alg: "AES256", key: hexKey, md5: hexKeyMD5, want: errW7},
	{name: "W7 before W6 (10-byte key)", alg: "AES256", key: key10, md5: keyAMD5, want: errW7},
	{name: "W8 MD5 missing", alg: "AES256", key: keyA, want: errW8},
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseCustomerKey(t *testing.T) {
	for _, tc := range keyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := trioHeader(CustomerPrefix, tc.alg, tc.key, tc.md5, tc.extra...)
			k, err := ParseCustomerKey(h, CustomerPrefix)
			checkErr(t, err, tc.want)
			if tc.want != nil {
				if k != nil {
					t.Fatal("key returned with an error")
				}
				return
			}
			if tc.wantMD5 == "" {
				if k != nil {
					t.Fatalf("key %v for a request without SSE-C", k)
				}
				return
			}
			if k.KeyMD5() != tc.wantMD5 || b64(k.Bytes()) != tc.key || k.Algorithm() != "AES256" {
				t.Errorf("key md5 %s, want %s", k.KeyMD5(), tc.wantMD5)
			}
			k.Wipe()
			if !bytes.Equal(k.Bytes(), make([]byte, 32)) {
				t.Error("Wipe left key bytes")
			}
		})
	}
}

// TestParseCustomerKeyCopySource runs the same rows on the copy-source trio
// (SSE-SPEC §1.4): same codes, messages and ArgumentName; the SSE header
// does not conflict with it (W1 does not apply).
func TestParseCustomerKeyCopySource(t *testing.T) {
	for _, tc := range keyCases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if strings.HasPrefix(tc.name, "W1") {
				switch {
				case tc.alg == "":
					want = errW2
				case tc.alg != "AES256":
					want = errW3(tc.alg)
				default:
					want = nil
				}
			}
			h := trioHeader(CopySourcePrefix, tc.alg, tc.key, tc.md5, tc.extra...)
			// The destination trio must not be consulted.
			h.Set("x-amz-server-side-encryption-customer-algorithm", "bogus")
			k, err := ParseCustomerKey(h, CopySourcePrefix)
			checkErr(t, err, want)
			if want == nil && tc.key != "" && (k == nil || b64(k.Bytes()) != tc.key) {
				t.Fatalf("key = %v", k)
			}
		})
	}
}

func TestHeaderNameCase(t *testing.T) {
	h := http.Header{}
	h.Set("x-amz-server-side-encryption-customer-algorithm", "AES256")
	h.Set("X-AMZ-SERVER-SIDE-ENCRYPTION-CUSTOMER-KEY", keyA)
	h.Set("x-amz-server-side-encryption-customer-key-md5", keyAMD5)
	if k, err := ParseCustomerKey(h, CustomerPrefix); err != nil || k.KeyMD5() != keyAMD5 {
		t.Fatalf("got %v, %v", k, err)
	}
	if !HasCustomerHeaders(h) {
		t.Error("HasCustomerHeaders = false")
	}
	c := http.Header{}
	c.Set("x-amz-copy-source-server-side-encryption-customer-key-MD5", keyAMD5)
	if !HasCustomerHeaders(c) || HasCustomerHeaders(http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}) {
		t.Error("HasCustomerHeaders wrong")
	}
}

// TestNoKeyLeak checks that no error, field or formatted value ever shows
// the key, in base64, raw, hex or decimal form.
func TestNoKeyLeak(t *testing.T) {
	raw := must(base64.StdEncoding.DecodeString(keyA))
	forms := []string{keyA, strings.TrimRight(keyA, "="), string(raw), hex.EncodeToString(raw), strings.Trim(fmt.Sprint(raw), "[]"), fmt.Sprintf("%#v", raw)[len("[]byte{"):40]}
	leaks := func(t *testing.T, what, s string) {
		t.Helper()
		for _, f := range forms {
			if strings.Contains(s, f) {
				t.Errorf("%s contains the key: %q", what, s)
			}
		}
	}
	// Every error row with key A as the key.
	for _, tc := range []keyCase{
		{alg: "AES256", key: keyA, md5: keyBMD5},
		{alg: "AES256", key: keyA},
		{alg: "AES128", key: keyA, md5: keyAMD5},
		{key: keyA, md5: keyAMD5},
		{alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption", "AES256"}},
		{alg: "AES256", key: keyA + "A", md5: keyAMD5},
		{alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption-aws-kms-key-id", "k"}},
		{alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption-context", "e30="}},
		{alg: "AES256", key: keyA, md5: keyAMD5, extra: []string{"x-amz-server-side-encryption-bucket-key-enabled", "maybe"}},
	} {
		for _, prefix := range []string{CustomerPrefix, CopySourcePrefix} {
			h := trioHeader(prefix, tc.alg, tc.key, tc.md5, tc.extra...)
			_, err1 := ParseCustomerKey(h, prefix)
			_, err2 := ParseRequest(h)
			for _, err := range []error{err1, err2} {
				if err == nil {
					continue
				}
				leaks(t, "Error()", err.Error())
				leaks(t, "%+v", fmt.Sprintf("%+v %#v", err, err))
				var e *s3err.Error
				if errors.As(err, &e) {
					leaks(t, "fields", fmt.Sprint(e.Fields))
				}
			}
		}
	}
	// The accepted key, however it is printed.
	req, err := ParseRequest(trioHeader(CustomerPrefix, "AES256", keyA, keyAMD5))
	if err != nil || req.Type != C {
		t.Fatal(req, err)
	}
	k := req.CustomerKey
	var outs []string
	for _, v := range []any{k, *k, k.key, &k.key, req, &req} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		j, _ := json.Marshal(v)
		outs = append(outs, string(j))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		outs = append(outs, buf.String())
	}
	for _, s := range outs {
		leaks(t, "formatted key", s)
	}
	if s := fmt.Sprint(k); s != "[redacted]" {
		t.Errorf("Sprint(key) = %q", s)
	}
	if s := fmt.Sprintf("%v", req); !strings.Contains(s, "[redacted]") {
		t.Errorf("request prints %q", s)
	}
}
