package kmip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

// encodePayload returns the TTLV of a Request Payload written by enc.
func encodePayload(t testing.TB, enc func(e *ttlv.Encoder)) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := ttlv.NewEncoder(&buf)
	if err := e.EncodeStructure(kmip14.TagRequestPayload, func(e *ttlv.Encoder) error { enc(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzCryptPayload feeds arbitrary Request Payloads to Encrypt, Decrypt,
// MAC, MAC Verify and RNG Retrieve against real AES and HMAC keys (the
// ID Placeholder names one of them, so payloads without a Unique
// Identifier reach the key). Every call must end in a payload or a KMIP
// error with a Result Message, never a panic or an unexpected error.
func FuzzCryptPayload(f *testing.F) {
	env := apitest.New(f, apitest.Options{})
	ctx := kms.WithIdentity(context.Background(), env.Admin.Identity)
	keys := map[string]string{"aes": kms.AlgorithmAES, "hmac": kms.AlgorithmHMACSHA256}
	for id, alg := range keys {
		if _, err := env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeMaterial,
			Attributes: kms.Attributes{Algorithm: alg, Length: 256}}); err != nil {
			f.Fatal(err)
		}
	}
	block := make([]byte, 16)
	seeds := []cryptPayload{
		{params: &cparams{mode: kmip14.BlockCipherModeGCM, tagLength: 12}, data: block, iv: make([]byte, 12), aad: []byte("a")},
		{params: &cparams{mode: kmip14.BlockCipherModeGCM}, data: block, iv: make([]byte, 12), tag: block},
		{params: &cparams{mode: kmip14.BlockCipherModeCBC, padding: kmip14.PaddingMethodPKCS5, randomIV: true}, data: block},
		{params: &cparams{mode: kmip14.BlockCipherModeECB, alg: kmip14.CryptographicAlgorithmAES}, data: block},
		{id: "hmac", params: &cparams{alg: kmip14.CryptographicAlgorithmHMAC_SHA256}, data: block, macData: block},
		{dataLen: 32},
	}
	for _, s := range seeds {
		f.Add(encodePayload(f, s.enc))
	}
	var logged syncBuffer
	h := newHandler(env.Service, slog.New(slog.NewTextHandler(&logged, nil)))
	ops := []func(*handler, call) (encodeFunc, error){
		(*handler).encrypt, (*handler).decrypt, (*handler).mac, (*handler).macVerify, (*handler).rngRetrieve,
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseTTLV(b)
		if err != nil {
			return
		}
		// Streams opened by earlier inputs must not fill the table.
		h.streams.mu.Lock()
		clear(h.streams.m)
		h.streams.mu.Unlock()
		for _, v := range []version{{1, 4}, {2, 0}} {
			for _, op := range ops {
				placeholder := "aes"
				enc, err := op(h, call{ctx: ctx, sess: session{identity: env.Admin.Identity, known: true}, version: v, payload: n, placeholder: &placeholder})
				if err != nil {
					reason, msg, unexpected := toResult(err)
					if unexpected || msg == "" || reason == kmip14.ResultReasonGeneralFailure && !strings.Contains(msg, "Tag Length") {
						t.Fatalf("error %v: reason %s, message %q", err, reason, msg)
					}
					continue
				}
				var buf bytes.Buffer
				e := ttlv.NewEncoder(&buf)
				if err := e.EncodeStructure(kmip14.TagResponsePayload, func(e *ttlv.Encoder) error { return enc(e) }); err != nil {
					t.Fatal(err)
				}
			}
		}
		if strings.Contains(logged.String(), "panic") {
			t.Fatal(logged.String())
		}
	})
}
