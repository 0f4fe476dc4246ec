package kmip

import (
	"bytes"
	"context"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

// TestGetWipesMaterial: the key material a Get exports is wiped once its
// payload is encoded, so a second encoding of the same payload (which
// the handler never makes) finds zeros.
func TestGetWipesMaterial(t *testing.T) {
	env := apitest.New(t, apitest.Options{})
	ctx := kms.WithIdentity(context.Background(), env.Admin.Identity)
	material := bytes.Repeat([]byte{0x5a}, 16)
	if _, err := env.Service.CreateKey(ctx, kms.CreateKeyRequest{
		ID: "k", Purpose: kms.PurposeMaterial, Exportable: true, Material: material,
		Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128},
	}); err != nil {
		t.Fatal(err)
	}
	n, err := parseTTLV(encodePayload(t, func(e *ttlv.Encoder) { e.EncodeTextString(kmip14.TagUniqueIdentifier, "k") }))
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(env.Service, nil)
	placeholder := ""
	enc, err := h.get(call{ctx: ctx, sess: session{identity: env.Admin.Identity, known: true}, version: version{1, 4}, payload: n, placeholder: &placeholder})
	if err != nil {
		t.Fatal(err)
	}
	encode := func() []byte {
		var buf bytes.Buffer
		e := ttlv.NewEncoder(&buf)
		if err := e.EncodeStructure(kmip14.TagResponsePayload, func(e *ttlv.Encoder) error { return enc(e) }); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if first := encode(); !bytes.Contains(first, material) {
		t.Fatal("the first encoding lacks the key material")
	}
	if second := encode(); bytes.Contains(second, material) || !bytes.Contains(second, make([]byte, 16)) {
		t.Error("the key material was not wiped after encoding")
	}
}
