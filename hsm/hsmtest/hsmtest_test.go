package hsmtest

import (
	"bytes"
	"testing"
)

func TestLoadKnownAnswers(t *testing.T) {
	ka, err := LoadKnownAnswers()
	if err != nil {
		t.Fatal(err)
	}
	if len(ka.Vectors) < 4 || ka.SoftwareMasterKeyID == "" {
		t.Fatalf("%d vectors, software id %q", len(ka.Vectors), ka.SoftwareMasterKeyID)
	}
	sawEmpty := false
	for _, v := range ka.Vectors {
		if len(v.Root) != 32 || len(v.Wrapped) != WrappedRootSize || v.PRF == [32]byte{} {
			t.Errorf("%s: root %d bytes, wrapped %d bytes", v.Name, len(v.Root), len(v.Wrapped))
		}
		if bytes.Contains(v.Wrapped, v.Root) {
			t.Errorf("%s: wrapped contains the clear root", v.Name)
		}
		sawEmpty = sawEmpty || len(v.Input) == 0
	}
	if !sawEmpty {
		t.Error("no vector with an empty PRF input")
	}
}
