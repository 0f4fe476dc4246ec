package pkcs11

import (
	"bytes"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// TestMasterRotationThroughService runs the documented master-key
// rotation on the HSM: a KMS on master A makes keys and data keys; the
// KMS restarts on master B with A as previous; RotateMaster re-wraps every
// root version inside the token (two batches); a KMS on B alone then opens
// every data key made before the rotation.
func TestMasterRotationThroughService(t *testing.T) {
	actx, service := serviceOnSQLite(t)
	idA, idB := uniq("rot-a"), uniq("rot-b")
	cfgA := config(rotateToken)
	cfgA.MasterKeyID = idA
	svcA := service(newProtector(t, cfgA))
	type made struct {
		key    string
		sealed []byte
		plain  []byte
	}
	var keys []made
	for i, id := range []string{"bucket/r1", "bucket/r2", "named-r3"} {
		purpose := kms.PurposeBucketRoot
		if i == 2 {
			purpose = kms.PurposeNamed
		}
		if _, err := svcA.CreateKey(actx, kms.CreateKeyRequest{ID: id, Purpose: purpose}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcA.RotateKey(actx, id); err != nil { // two versions each
			t.Fatal(err)
		}
		dk, err := svcA.GenerateDataKey(actx, id, map[string]string{"k": id})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, made{id, dk.Sealed, append([]byte(nil), dk.Plaintext...)})
	}
	svcA.Close()

	cfgB := config(rotateToken)
	cfgB.MasterKeyID, cfgB.PreviousMasterKeyIDs = idB, []string{idA}
	svcB := service(newProtector(t, cfgB))
	st, err := svcB.MasterStatus(actx)
	if err != nil || st[idA] != 6 || st[idB] != 0 {
		t.Fatalf("status before = %v, %v", st, err)
	}
	done, remaining, err := svcB.RotateMaster(actx, 4)
	if err != nil || done != 4 || remaining != 2 {
		t.Fatalf("first batch: %d done, %d remaining, %v", done, remaining, err)
	}
	if done, remaining, err = svcB.RotateMaster(actx, 4); err != nil || done != 2 || remaining != 0 {
		t.Fatalf("second batch: %d done, %d remaining, %v", done, remaining, err)
	}
	svcB.Close()

	cfgOnlyB := config(rotateToken)
	cfgOnlyB.MasterKeyID = idB
	svc := service(newProtector(t, cfgOnlyB))
	for _, k := range keys {
		dk, err := svc.Decrypt(actx, k.sealed, map[string]string{"k": k.key})
		if err != nil || !bytes.Equal(dk.Plaintext, k.plain) {
			t.Fatalf("%s after rotation: %v", k.key, err)
		}
	}
	st, err = svc.MasterStatus(actx)
	if err != nil || st[idB] != 6 || st[idA] != 0 {
		t.Fatalf("status after = %v, %v", st, err)
	}
}
