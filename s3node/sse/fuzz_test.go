package sse

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// messages are every message this package answers with.
var messages = map[string]bool{
	msgIncompatible: true, msgNeedAlgorithm: true, msgNeedKey: true, msgInvalidKey: true,
	msgMD5Mismatch: true, msgNeedMD5: true, msgUnsupportedSSE: true, msgKMSRequired: true,
	msgBadContext: true, msgBadBucketKey: true,
	"The Encryption request you specified is not valid. Supported value: AES256.": true,
}

// checkFuzzErr checks that err is a known S3 error with one of the
// package's messages whose fields only echo allowed values: never the key.
func checkFuzzErr(t *testing.T, err error, allowed ...string) {
	t.Helper()
	var e *s3err.Error
	if !errors.As(err, &e) || !s3err.Known(e.Code) || e.Status() != 400 || (e.Err != nil && e.Err != errKeySize) {
		t.Fatalf("unexpected error %#v", err)
	}
	if !messages[e.Message] {
		t.Fatalf("unexpected message %q", e.Message)
	}
	ok := map[string]bool{"ArgumentName": true, "ArgumentValue": true}
	vals := map[string]bool{argName: true, argNull: true}
	for _, a := range allowed {
		vals[a] = true
	}
	for _, f := range e.Fields {
		if !ok[f.Name] || (f.Name == "ArgumentValue" && !vals[f.Value]) {
			t.Fatalf("unexpected field %s=%q", f.Name, f.Value)
		}
	}
}

// checkKey checks an accepted key: 32 bytes whose MD5 matches the header.
func checkKey(t *testing.T, k *CustomerKey, keyHeader, md5Header string) {
	t.Helper()
	if len(k.Bytes()) != KeySize || base64.StdEncoding.EncodeToString(k.Bytes()) != keyHeader {
		t.Fatalf("accepted key of %d bytes for %q", len(k.Bytes()), keyHeader)
	}
	sum := md5.Sum(k.Bytes())
	if k.KeyMD5() != base64.StdEncoding.EncodeToString(sum[:]) || k.KeyMD5() != md5Header {
		t.Fatalf("accepted MD5 %q for header %q", k.KeyMD5(), md5Header)
	}
}

func FuzzParseCustomerKey(f *testing.F) {
	f.Add("AES256", keyA, keyAMD5, "", false, false)
	f.Add("AES256", keyA, keyBMD5, "", false, true)
	f.Add("AES256", keyA, keyAMD5, "AES256", true, false)
	f.Add("", keyA, "", "", false, false)
	f.Add("AES128", "", "", "", false, true)
	f.Add("AES256", hexKey, hexKeyMD5, "", false, false)
	f.Add("AES256", key10, key10MD5, "", false, false)
	f.Add("AES256", "!!", "==", "", false, false)
	f.Fuzz(func(t *testing.T, alg, key, keyMD5, sse string, withSSE, copySource bool) {
		prefix := CustomerPrefix
		if copySource {
			prefix = CopySourcePrefix
		}
		h := http.Header{}
		h[http.CanonicalHeaderKey(prefix+"algorithm")] = []string{alg}
		h[http.CanonicalHeaderKey(prefix+"key")] = []string{key}
		h[http.CanonicalHeaderKey(prefix+"key-MD5")] = []string{keyMD5}
		if withSSE {
			h[HeaderSSE] = []string{sse}
		}
		k, err := ParseCustomerKey(h, prefix)
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			checkFuzzErr(t, err, alg, sse)
			return
		}
		if k == nil {
			if alg != "" || key != "" || keyMD5 != "" {
				t.Fatal("no key and no error for SSE-C headers")
			}
			return
		}
		if alg != AlgorithmAES256 || (withSSE && !copySource) {
			t.Fatalf("accepted algorithm %q with SSE %v", alg, withSSE)
		}
		checkKey(t, k, key, keyMD5)
		k.Wipe()
	})
}

func FuzzParseRequest(f *testing.F) {
	ctx := base64.StdEncoding.EncodeToString([]byte(`{"a":"b"}`))
	f.Add("aws:kms", "testkey-1", ctx, "true", "", "", "")
	f.Add("AES256", "", "", "", "", "", "")
	f.Add("", "", "", "", "AES256", keyA, keyAMD5)
	f.Add("AES256", "", "", "", "AES256", keyA, keyAMD5)
	f.Add("aws:kms:dsse", "k", "e30=", "maybe", "", "", "")
	f.Add("aws:kms", "", "bm90IGpzb24=", "FALSE", "", "", "")
	f.Fuzz(func(t *testing.T, sse, kid, ctx, bke, alg, key, keyMD5 string) {
		h := http.Header{}
		set := func(name, v string) {
			if v != "" {
				h[http.CanonicalHeaderKey(name)] = []string{v}
			}
		}
		set(HeaderSSE, sse)
		set(HeaderKMSKeyID, kid)
		set(HeaderContext, ctx)
		set(HeaderBucketKeyEnabled, bke)
		set(HeaderCustomerAlgorithm, alg)
		set(HeaderCustomerKey, key)
		set(HeaderCustomerKeyMD5, keyMD5)
		req, err := ParseRequest(h)
		if err != nil {
			if req.CustomerKey != nil || req.Type != None {
				t.Fatal("request and error")
			}
			checkFuzzErr(t, err, alg, sse, kid, ctx, bke)
			return
		}
		switch req.Type {
		case None:
			if sse != "" || kid != "" || ctx != "" || alg != "" || key != "" || keyMD5 != "" {
				t.Fatalf("no encryption for %v", h)
			}
		case S3:
			if sse != ValueAES256 || kid != "" || ctx != "" {
				t.Fatalf("SSE-S3 for %v", h)
			}
		case KMS:
			if sse != ValueKMS || req.KMSKeyID != kid || (ctx != "" && req.Context == nil) {
				t.Fatalf("SSE-KMS %+v for %v", req, h)
			}
		case C:
			if sse != "" || kid != "" || ctx != "" {
				t.Fatalf("SSE-C for %v", h)
			}
			checkKey(t, req.CustomerKey, key, keyMD5)
			req.CustomerKey.Wipe()
		default:
			t.Fatalf("type %v", req.Type)
		}
		if (req.Type == C) != (req.CustomerKey != nil) {
			t.Fatal("customer key and type disagree")
		}
		if req.BucketKeySet != (bke != "") {
			t.Fatal("bucket key flag")
		}
	})
}
