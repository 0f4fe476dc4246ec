package kms_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

// TestSecretValues stores secret data and opaque objects of many lengths
// (envelope.go) and exports them unchanged, with their Digest.
func TestSecretValues(t *testing.T) {
	h := newHarness(t, 16)
	tests := []struct {
		name  string
		typ   string
		value []byte
		code  kms.Code
	}{
		{"password", kms.ObjectSecretData, []byte("SecretPassword"), ""},
		{"one byte", kms.ObjectOpaque, []byte{0}, ""},
		{"65 bytes", kms.ObjectSecretData, bytes.Repeat([]byte{9}, 65), ""},
		{"largest", kms.ObjectOpaque, bytes.Repeat([]byte{1}, kms.MaxValueSize), ""},
		{"too large", kms.ObjectOpaque, make([]byte, kms.MaxValueSize+1), kms.EInvalid},
		{"empty", kms.ObjectSecretData, []byte{}, kms.EInvalid},
		{"no value", kms.ObjectSecretData, nil, kms.EInvalid},
		{"unknown type", "Certificate", []byte("x"), kms.EInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "secret-" + hex.EncodeToString([]byte(tc.name))
			k, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
				ID: id, Purpose: kms.PurposeMaterial, Exportable: true, State: kms.StatePreActive,
				Attributes: kms.Attributes{ObjectType: tc.typ, DataType: "Password", Digest: "forged"},
				Material:   tc.value,
			})
			wantCode(t, "CreateKey", err, tc.code)
			if tc.code != "" {
				if _, err := h.svc.GetKey(h.admin, id); kms.ErrorCode(err) != kms.ENotFound {
					t.Errorf("refused key exists: %v", err)
				}
				return
			}
			d := sha256.Sum256(tc.value)
			if k.Attributes.Digest != hex.EncodeToString(d[:]) {
				t.Errorf("Digest = %q", k.Attributes.Digest)
			}
			got, m, err := h.svc.ExportKey(h.admin, id)
			if err != nil || !bytes.Equal(m, tc.value) {
				t.Fatalf("ExportKey: %v (value equal: %v)", err, bytes.Equal(m, tc.value))
			}
			if got.Attributes.ObjectType != tc.typ || got.Attributes.DataType != "Password" {
				t.Errorf("attributes = %+v", got.Attributes)
			}
			_, err = h.svc.GenerateDataKey(h.admin, id, nil)
			wantCode(t, "GenerateDataKey on a secret", err, kms.EInvalid)
		})
	}
}

// TestSecretEnvelopeBound checks that an envelope opens only as the key,
// version and object type it was sealed for: a stored value copied to
// another key does not export.
func TestSecretEnvelopeBound(t *testing.T) {
	h := newHarness(t, 16)
	for _, id := range []string{"a", "b"} {
		if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
			ID: id, Purpose: kms.PurposeMaterial, Exportable: true,
			Attributes: kms.Attributes{ObjectType: kms.ObjectSecretData}, Material: []byte("value of " + id),
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	va, err := h.store.KeyStore().GetVersion(ctx, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := h.store.KeyStore().GetVersion(ctx, "b", 1)
	if err != nil {
		t.Fatal(err)
	}
	nb := vb
	nb.Wrapped = va.Wrapped
	if err := h.store.KeyStore().RewrapVersion(ctx, nb, vb.Wrapped); err != nil {
		t.Fatal(err)
	}
	_, m, err := h.svc.ExportKey(h.admin, "b")
	wantCode(t, "export of a moved envelope", err, kms.EDecrypt)
	if m != nil {
		t.Error("value returned")
	}
}

// TestMaterialKeyAsRoot uses a KMIP AES key as an SSE-KMS root: data keys
// seal and open through HMAC-SHA256 over its material; once deactivated it
// only opens; 3DES keys are refused; RotateKey is refused.
func TestMaterialKeyAsRoot(t *testing.T) {
	h := newHarness(t, 16)
	for _, n := range []int{128, 256} {
		id := "kmip-aes-" + string(rune('0'+n/128))
		if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
			ID: id, Purpose: kms.PurposeMaterial, Exportable: true, State: kms.StatePreActive,
			Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: n},
		}); err != nil {
			t.Fatal(err)
		}
		_, err := h.svc.GenerateDataKey(h.admin, id, nil)
		wantCode(t, "pre-active", err, kms.EState)
		if _, err := h.svc.SetState(h.admin, id, kms.StateActive); err != nil {
			t.Fatal(err)
		}
		ec := map[string]string{"bucket": "b"}
		dk, err := h.svc.GenerateDataKey(h.admin, id, ec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.svc.Decrypt(h.admin, dk.Sealed, ec)
		if err != nil || !bytes.Equal(got.Plaintext, dk.Plaintext) {
			t.Fatalf("Decrypt: %v", err)
		}
		if _, err := h.svc.Rewrap(h.admin, dk.Sealed, ec); err != nil {
			t.Fatalf("Rewrap: %v", err)
		}
		_, err = h.svc.RotateKey(h.admin, id)
		wantCode(t, "RotateKey", err, kms.EInvalid)
		if _, err := h.svc.SetState(h.admin, id, kms.StateDeactivated); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.GenerateDataKey(h.admin, id, ec)
		wantCode(t, "deactivated seals", err, kms.EState)
		if _, err := h.svc.Decrypt(h.admin, dk.Sealed, ec); err != nil {
			t.Errorf("deactivated key no longer decrypts: %v", err)
		}
	}
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
		ID: "kmip-3des", Purpose: kms.PurposeMaterial,
		Attributes: kms.Attributes{Algorithm: kms.AlgorithmTripleDES, Length: 168},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.GenerateDataKey(h.admin, "kmip-3des", nil)
	wantCode(t, "3DES as root", err, kms.EInvalid)
}

// TestMaterialRootObeysKMIPLimits: a KMIP AES key serving as an SSE-KMS
// root obeys what KMIP Encrypt and Decrypt obey: its Cryptographic Usage
// Mask, Protect Stop and Process Start Dates, and Usage Limits (counted
// per seal).
func TestMaterialRootObeysKMIPLimits(t *testing.T) {
	h := newHarness(t, 16)
	now := h.clock.now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		name       string
		attrs      kms.Attributes
		seals      int      // seals that must succeed
		sealFail   kms.Code // code of the next seal ("" for none tried)
		openFail   kms.Code // code of opening the first seal ("" for success)
		openBefore bool     // open with a blob sealed before the attributes were set
	}{
		{name: "no limits", seals: 3},
		{name: "mask Encrypt only", attrs: kms.Attributes{UsageMask: kms.UsageEncrypt}, seals: 1, openFail: kms.EForbidden},
		{name: "mask Wrap and Unwrap Key", attrs: kms.Attributes{UsageMask: kms.UsageWrapKey | 0x20}, seals: 1},
		{name: "mask Decrypt only", attrs: kms.Attributes{UsageMask: kms.UsageDecrypt}, sealFail: kms.EForbidden},
		{name: "mask MAC only", attrs: kms.Attributes{UsageMask: kms.UsageMACGenerate}, sealFail: kms.EForbidden},
		{name: "past Protect Stop Date", attrs: kms.Attributes{ProtectStopDate: &past}, sealFail: kms.EState},
		{name: "before Process Start Date", attrs: kms.Attributes{ProcessStartDate: &future}, seals: 1, openFail: kms.EState},
		{name: "Usage Limits of 2 objects", attrs: kms.Attributes{UsageLimits: &kms.UsageLimits{Total: 2, Unit: kms.UsageUnitObject}}, seals: 2, sealFail: kms.EForbidden},
		{name: "Usage Limits of 40 bytes", attrs: kms.Attributes{UsageLimits: &kms.UsageLimits{Total: 40, Unit: kms.UsageUnitByte}}, seals: 1, sealFail: kms.EForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("kmip-limits-%d", i)
			a := tt.attrs
			a.Algorithm, a.Length = kms.AlgorithmAES, 256
			if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeMaterial, Attributes: a}); err != nil {
				t.Fatal(err)
			}
			var first []byte
			for n := range tt.seals {
				dk, err := h.svc.GenerateDataKey(h.admin, id, nil)
				if err != nil {
					t.Fatalf("seal %d: %v", n+1, err)
				}
				if first == nil {
					first = dk.Sealed
				}
			}
			if tt.sealFail != "" {
				_, err := h.svc.GenerateDataKey(h.admin, id, nil)
				wantCode(t, "refused seal", err, tt.sealFail)
			}
			if first != nil {
				_, err := h.svc.Decrypt(h.admin, first, nil)
				wantCode(t, "open", err, tt.openFail)
			}
		})
	}
}
