package pkcs11

import (
	"bytes"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// TestMaterialObjectsThroughService stores KMIP objects with the HSM
// protector: secret data and an opaque object (envelopes whose DEK the
// token wraps), an AES-128 key (material) that also serves as an SSE
// root. After a master-key rotation inside the token, a KMS on the new
// master alone exports the same values and opens the data key sealed
// before.
func TestMaterialObjectsThroughService(t *testing.T) {
	actx, service := serviceOnSQLite(t)
	idA, idB := uniq("env-a"), uniq("env-b")
	cfgA := config(rotateToken)
	cfgA.MasterKeyID = idA
	svcA := service(newProtector(t, cfgA))
	want := map[string][]byte{
		"secret": []byte("a password of 29 bytes, odd."),
		"opaque": bytes.Repeat([]byte{0xa5}, 1000),
		"aes":    bytes.Repeat([]byte{0x11}, 16),
	}
	for id, attrs := range map[string]kms.Attributes{
		"secret": {ObjectType: kms.ObjectSecretData, DataType: "Password"},
		"opaque": {ObjectType: kms.ObjectOpaque, DataType: "0x80000000"},
		"aes":    {ObjectType: kms.ObjectSymmetricKey, Algorithm: kms.AlgorithmAES, Length: 128},
	} {
		if _, err := svcA.CreateKey(actx, kms.CreateKeyRequest{
			ID: id, Purpose: kms.PurposeMaterial, Exportable: true, Attributes: attrs, Material: want[id],
		}); err != nil {
			t.Fatal(err)
		}
		if _, got, err := svcA.ExportKey(actx, id); err != nil || !bytes.Equal(got, want[id]) {
			t.Fatalf("export %s: %v", id, err)
		}
	}
	ec := map[string]string{"bucket": "b"}
	dk, err := svcA.GenerateDataKey(actx, "aes", ec)
	if err != nil {
		t.Fatal(err)
	}
	svcA.Close()

	cfgB := config(rotateToken)
	cfgB.MasterKeyID, cfgB.PreviousMasterKeyIDs = idB, []string{idA}
	svcB := service(newProtector(t, cfgB))
	if done, remaining, err := svcB.RotateMaster(actx, 10); err != nil || done != 3 || remaining != 0 {
		t.Fatalf("RotateMaster: %d done, %d remaining, %v", done, remaining, err)
	}
	svcB.Close()

	cfgOnlyB := config(rotateToken)
	cfgOnlyB.MasterKeyID = idB
	svc := service(newProtector(t, cfgOnlyB))
	for id, v := range want {
		if _, got, err := svc.ExportKey(actx, id); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("export %s after rotation: %v", id, err)
		}
	}
	got, err := svc.Decrypt(actx, dk.Sealed, ec)
	if err != nil || !bytes.Equal(got.Plaintext, dk.Plaintext) {
		t.Fatalf("data key under the AES material key after rotation: %v", err)
	}
}
