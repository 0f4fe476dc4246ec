package pkcs11

import (
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
)

// TestMaterialPreviousMaster: key material wrapped under a master opens
// once that master is a previous one, and not without it.
func TestMaterialPreviousMaster(t *testing.T) {
	oldID, newID := uniq("mold"), uniq("mnew")
	oldCfg := config(rotateToken)
	oldCfg.MasterKeyID = oldID
	old := newProtector(t, oldCfg)
	rotCfg := config(rotateToken)
	rotCfg.MasterKeyID, rotCfg.PreviousMasterKeyIDs = newID, []string{oldID}
	rot := newProtector(t, rotCfg)
	curCfg := config(rotateToken)
	curCfg.MasterKeyID = newID
	cur := newProtector(t, curCfg)
	hsmtest.ExerciseMaterialPrevious(t, old, rot, cur)
}
