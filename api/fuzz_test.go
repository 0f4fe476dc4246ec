package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
)

// fuzzRoutes are the data-key routes whose request decoding is fuzzed.
var fuzzRoutes = []string{
	"/v1/datakey/generate", "/v1/datakey/decrypt", "/v1/datakey/rewrap",
	"/v1/datakey/rewrap-batch", "/v1/encrypt", "/v1/decrypt",
}

// FuzzDecodeRequest sends arbitrary bodies to the data-key routes, as the
// admin identity, through the whole handler stack and the real service.
// Every answer must be a success or a JSON error with a 4xx status: never a
// panic, never a 500. The seed corpus is in testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	e := apitest.New(f, apitest.Options{})
	ctx := context.Background()
	adm := e.Client(f, e.Admin)
	if _, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/f", Purpose: "bucket-root"}); err != nil {
		f.Fatal(err)
	}
	ec := map[string]string{"bucket": "f", "key": "k"}
	dk, err := adm.GenerateDataKey(ctx, "bucket/f", ec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), []byte(`{"key_id":"bucket/f","context":{"bucket":"f","key":"k"}}`))
	f.Add(uint8(1), mustJSON(f, wire.DecryptRequest{Ciphertext: dk.Sealed, Context: ec}))
	f.Add(uint8(2), mustJSON(f, wire.DecryptRequest{Ciphertext: dk.Sealed, Context: ec}))
	f.Add(uint8(3), mustJSON(f, wire.RewrapBatchRequest{Items: []wire.DecryptRequest{{Ciphertext: dk.Sealed, Context: ec}}}))
	f.Add(uint8(4), []byte(`{"key_id":"bucket/f","plaintext":"aGVsbG8="}`))
	f.Add(uint8(5), []byte(`{"ciphertext":"AQ==","context":null}`))

	// The request is served in-process with the TLS state a verified
	// client certificate would give, to fuzz without a network.
	leaf := e.Admin.TLS.Leaf
	state := &tls.ConnectionState{
		HandshakeComplete: true, Version: tls.VersionTLS13,
		PeerCertificates: []*x509.Certificate{leaf},
		VerifiedChains:   [][]*x509.Certificate{{leaf, e.CA.Cert}},
	}
	h := e.Server.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.TLS = state
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: 200 with invalid JSON %q", path, rec.Body)
			}
			return
		}
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		var er wire.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
			t.Fatalf("%s: status %d with body %q", path, rec.Code, rec.Body)
		}
	})
}
