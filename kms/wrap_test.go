package kms_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// TestExportWrapped: a key's material wrapped under another AES key with
// AES Key Wrap (RFC 3394 and 5649 known answers), and the refusals.
func TestExportWrapped(t *testing.T) {
	h := newHarness(t, 16)
	mk := func(id string, req kms.CreateKeyRequest) {
		t.Helper()
		req.ID, req.Purpose = id, kms.PurposeMaterial
		if req.State == "" {
			req.State = kms.StateActive
		}
		if _, err := h.svc.CreateKey(h.admin, req); err != nil {
			t.Fatalf("CreateKey(%s): %v", id, err)
		}
	}
	aesKey := func(hexKey string, mask int32, mode string, u *kms.UsageLimits) kms.CreateKeyRequest {
		m := unhex(t, hexKey)
		a := kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 8 * len(m), UsageMask: mask, UsageLimits: u}
		if mode != "" {
			a.Params = &kms.CryptoParams{Mode: mode}
		}
		return kms.CreateKeyRequest{Material: m, Exportable: true, Attributes: a}
	}
	const kek128, kek192 = "000102030405060708090a0b0c0d0e0f", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
	mk("kek", aesKey(kek128, kms.UsageWrapKey, kms.ModeKeyWrap, &kms.UsageLimits{Total: 40, Unit: kms.UsageUnitByte}))
	mk("kek-nomode", aesKey(kek128, 0, "", nil))
	mk("kek-pad", aesKey(kek192, kms.UsageWrapKey, kms.ModeKeyWrapPad, nil))
	mk("kek-encrypt-only", aesKey(kek128, kms.UsageEncrypt, kms.ModeKeyWrap, nil))
	pre := aesKey(kek128, kms.UsageWrapKey, kms.ModeKeyWrap, nil)
	pre.State = kms.StatePreActive
	mk("kek-preactive", pre)
	mk("target", aesKey("00112233445566778899aabbccddeeff", 0, "", nil))
	locked := aesKey("00112233445566778899aabbccddeeff", 0, "", nil)
	locked.Exportable = false
	mk("target-locked", locked)
	mk("secret7", kms.CreateKeyRequest{Material: unhex(t, "466f7250617369"), Exportable: true,
		Attributes: kms.Attributes{ObjectType: kms.ObjectSecretData, DataType: "Password"}})

	tests := []struct {
		name, id, kek, mode string
		want                string // hex, or "" when refused
		code                kms.Code
		cause               error
	}{
		{"KW, the key's mode", "target", "kek", "", "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", "", nil},
		{"KW, the request's mode", "target", "kek-nomode", kms.ModeKeyWrap, "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", "", nil},
		{"KWP of 7 bytes", "secret7", "kek-pad", "", "afbeb0f07dfbf5419200f2ccb50bb24f", "", nil},
		{"KW of 7 bytes", "secret7", "kek-nomode", kms.ModeKeyWrap, "", kms.EInvalid, nil},
		{"no mode", "target", "kek-nomode", "", "", kms.EInvalid, nil},
		{"a cipher mode", "target", "kek-nomode", kms.ModeECB, "", kms.EInvalid, nil},
		{"usage mask without Wrap Key", "target", "kek-encrypt-only", "", "", kms.EForbidden, kms.ErrUsageMask},
		{"pre-active wrapping key", "target", "kek-preactive", "", "", kms.EState, nil},
		{"not exportable", "target-locked", "kek", "", "", kms.ENotExportable, nil},
		{"itself", "kek", "kek", "", "", kms.EInvalid, nil},
		{"missing target", "nope", "kek", "", "", kms.ENotFound, nil},
		{"missing wrapping key", "target", "nope", "", "", kms.ENotFound, nil},
		// kek's Usage Limits: 40 bytes; the first case used 16.
		{"KW within the Usage Limits", "target", "kek", "", "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", "", nil},
		{"KW past the Usage Limits", "target", "kek", "", "", kms.EForbidden, kms.ErrUsageLimits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := h.svc.ExportWrapped(h.admin, tc.id, tc.kek, tc.mode)
			got := w.Value
			if tc.code != "" {
				if kms.ErrorCode(err) != tc.code || (tc.cause != nil && !errors.Is(err, tc.cause)) || got != nil {
					t.Fatalf("err = %v (%d bytes), want %s %v", err, len(got), tc.code, tc.cause)
				}
				return
			}
			if err != nil || hex.EncodeToString(got) != tc.want {
				t.Fatalf("wrapped %x, %v; want %s", got, err, tc.want)
			}
			if w.Key.ID != tc.id || (w.Mode != kms.ModeKeyWrap && w.Mode != kms.ModeKeyWrapPad) {
				t.Errorf("key %q, mode %q", w.Key.ID, w.Mode)
			}
		})
	}
	k, err := h.svc.GetKey(h.admin, "kek")
	if err != nil || k.Attributes.UsageLimits.Count != 8 {
		t.Errorf("kek's Usage Limits %+v (%v), want 8 bytes left", k.Attributes.UsageLimits, err)
	}
}
