package pkcs11

import (
	"testing"

	"github.com/s3kms/s3kms/hsm/hsmtest"
)

func TestConformance(t *testing.T) {
	hsmtest.ExerciseProtector(t, newProtector(t, config(mainToken)))
}

func TestKnownAnswers(t *testing.T) {
	p, err := New(config(knownToken))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hsmtest.ExerciseKnownAnswers(t, p)
	ka, err := hsmtest.LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	hsmtest.ExerciseMaterialKnownAnswers(t, p, ka.Master)
}
