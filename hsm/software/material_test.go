package software_test

import (
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
	"github.com/s3kms/s3kms/hsm/software"
)

// TestMaterialPreviousMaster: key material wrapped under a master opens
// once that master is a previous one, and not without it.
func TestMaterialPreviousMaster(t *testing.T) {
	a, b := randomKey(t), randomKey(t)
	rot, err := software.New(b, a)
	if err != nil {
		t.Fatal(err)
	}
	hsmtest.ExerciseMaterialPrevious(t, newProtector(t, a), rot, newProtector(t, b))
}
