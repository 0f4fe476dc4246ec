package kms_test

import (
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// TestFresh checks KMIP's Fresh of material keys: true at creation
// (generated or imported; a request cannot set it), false for good once
// the material has been exported, kept false by an undo (RestoreKey);
// named keys have none.
func TestFresh(t *testing.T) {
	h := newHarness(t, 16)
	no := false
	tests := []struct {
		name          string
		req           kms.CreateKeyRequest
		wantFresh     bool // Fresh set, and true, at creation
		wantGenerated bool
	}{
		{"generated", kms.CreateKeyRequest{ID: "gen", Purpose: kms.PurposeMaterial, Exportable: true,
			Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128, Fresh: &no}}, true, true},
		{"imported", kms.CreateKeyRequest{ID: "imp", Purpose: kms.PurposeMaterial, Exportable: true,
			Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128, Generated: true},
			Material:   make([]byte, 16)}, true, false},
		{"named", kms.CreateKeyRequest{ID: "named", Purpose: kms.PurposeNamed,
			Attributes: kms.Attributes{Fresh: &no, Generated: true}}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := h.svc.CreateKey(h.admin, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			a := k.Attributes
			if got := a.Fresh != nil && *a.Fresh; got != tc.wantFresh || (a.Fresh == nil) == tc.wantFresh {
				t.Fatalf("Fresh = %v, want set and %v", a.Fresh, tc.wantFresh)
			}
			if a.Generated != tc.wantGenerated {
				t.Errorf("Generated = %v, want %v", a.Generated, tc.wantGenerated)
			}
			if !tc.wantFresh {
				return
			}
			// An attribute change, to be undone after the export.
			before, after, err := h.svc.UpdateAttributes(h.admin, k.ID, func(k *kms.Key) error {
				k.Attributes.ObjectGroups = []string{"g"}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				got, _, err := h.svc.ExportKey(h.admin, k.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Attributes.Fresh == nil || *got.Attributes.Fresh {
					t.Fatalf("export %d: Fresh = %v, want false", i, got.Attributes.Fresh)
				}
			}
			if _, err := h.svc.RestoreKey(h.admin, k.ID, after, before, kms.OpAttributes); err != nil {
				t.Fatalf("RestoreKey after an export: %v", err)
			}
			stored, err := h.svc.GetKey(h.admin, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Attributes.Fresh == nil || *stored.Attributes.Fresh || len(stored.Attributes.ObjectGroups) != 0 {
				t.Errorf("after the undo: Fresh = %v, groups %v; want false, none", stored.Attributes.Fresh, stored.Attributes.ObjectGroups)
			}
		})
	}
}
