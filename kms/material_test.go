package kms_test

import (
	"bytes"
	"math/bits"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

func TestMaterialKeys(t *testing.T) {
	h := newHarness(t, 16)
	aes := func(n int) kms.Attributes { return kms.Attributes{Algorithm: kms.AlgorithmAES, Length: n} }
	tests := []struct {
		name     string
		attrs    kms.Attributes
		material []byte
		size     int
		code     kms.Code
	}{
		{"aes128", aes(128), nil, 16, ""},
		{"aes192", aes(192), nil, 24, ""},
		{"aes256", aes(256), nil, 32, ""},
		{"3des", kms.Attributes{Algorithm: kms.AlgorithmTripleDES, Length: 192}, nil, 24, ""},
		{"registered", aes(128), bytes.Repeat([]byte{7}, 16), 16, ""},
		{"aes100", aes(100), nil, 0, kms.EInvalid},
		{"rsa", kms.Attributes{Algorithm: "RSA", Length: 2048}, nil, 0, kms.EInvalid},
		{"wrong length", aes(256), make([]byte, 16), 0, kms.EInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "kmip-" + tc.name
			_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
				ID: id, Purpose: kms.PurposeMaterial, Exportable: true, State: kms.StatePreActive,
				Attributes: tc.attrs, Material: tc.material,
			})
			wantCode(t, "CreateKey", err, tc.code)
			if tc.code != "" {
				return
			}
			_, m, err := h.svc.ExportKey(h.admin, id) // Pre-Active exports
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != tc.size {
				t.Fatalf("material %d bytes, want %d", len(m), tc.size)
			}
			if tc.material != nil && !bytes.Equal(m, tc.material) {
				t.Errorf("registered material changed: %x", m)
			}
			if tc.attrs.Algorithm == kms.AlgorithmTripleDES {
				for i, b := range m {
					if bits.OnesCount8(b)%2 != 1 {
						t.Errorf("byte %d = %#x has even parity", i, b)
					}
				}
			}
			_, m2, err := h.svc.ExportKey(h.admin, id)
			if err != nil || !bytes.Equal(m, m2) {
				t.Errorf("second export differs: %v", err)
			}
			_, err = h.svc.GenerateDataKey(h.admin, id, nil)
			want := kms.EState // an AES key may serve as a root once Active
			if tc.attrs.Algorithm != kms.AlgorithmAES {
				want = kms.EInvalid
			}
			wantCode(t, "GenerateDataKey on pre-active material key", err, want)
			_, err = h.svc.RotateKey(h.admin, id)
			wantCode(t, "RotateKey on material key", err, kms.EInvalid)
		})
	}
}

func TestExportKeyRefusals(t *testing.T) {
	h := newHarness(t, 16)
	a := kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 256}
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "sealed", Purpose: kms.PurposeMaterial, Attributes: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "gone", Purpose: kms.PurposeMaterial, Exportable: true, Attributes: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetState(h.admin, "gone", kms.StateDeactivated); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.DestroyKey(h.admin, "gone"); err != nil {
		t.Fatal(err)
	}
	root := h.create(t, "root", kms.PurposeNamed)
	_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "x", Purpose: kms.PurposeNamed, Material: make([]byte, 32)})
	wantCode(t, "material for a root key", err, kms.EInvalid)
	for _, tc := range []struct {
		name, id string
		code     kms.Code
	}{
		{"not exportable", "sealed", kms.ENotExportable},
		{"destroyed", "gone", kms.EDestroyed},
		{"root key", root.ID, kms.ENotExportable},
		{"missing", "nope", kms.ENotFound},
	} {
		_, m, err := h.svc.ExportKey(h.admin, tc.id)
		wantCode(t, tc.name, err, tc.code)
		if m != nil {
			t.Errorf("%s: material returned", tc.name)
		}
	}
	_, _, err = h.svc.ExportKey(h.node, "sealed")
	wantCode(t, "node exports", err, kms.EForbidden)
	evs, err := h.svc.ListAudit(h.admin, kms.AuditFilter{KeyID: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Operation != "key.export" || evs[0].Result == "ok" {
		t.Errorf("export refusal not audited: %+v", evs)
	}
}
