package software_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
)

// A protector with previous master keys opens roots wrapped under any of
// them, wraps new roots under the current one only, and RewrapRoot moves
// a root to the current master without changing it.
func TestPreviousMasters(t *testing.T) {
	ctx := context.Background()
	a, b, c := randomKey(t), randomKey(t), randomKey(t)
	oldA, oldB := newProtector(t, a), newProtector(t, b)
	p, err := software.New(c, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.PreviousMasterKeyIDs(), []string{software.MasterKeyID(a), software.MasterKeyID(b)}; !slices.Equal(got, want) {
		t.Fatalf("PreviousMasterKeyIDs = %v, want %v", got, want)
	}
	if p.MasterKeyID() != software.MasterKeyID(c) {
		t.Fatalf("MasterKeyID = %s, want the current master's", p.MasterKeyID())
	}
	onlyC := newProtector(t, c)
	for name, old := range map[string]*software.Protector{"A": oldA, "B": oldB, "C": onlyC} {
		root := randomKey(t)
		w, err := old.WrapRoot(root)
		if err != nil {
			t.Fatal(err)
		}
		rk, err := p.OpenRoot(ctx, w)
		if err != nil {
			t.Fatalf("OpenRoot of a root under %s: %v", name, err)
		}
		got, err := rk.PRF([]byte("x"))
		rk.Close()
		if err != nil || got != hmacSHA256(root, []byte("x")) {
			t.Fatalf("root under %s opens to another key", name)
		}
		nw, err := p.RewrapRoot(ctx, w)
		if err != nil {
			t.Fatalf("RewrapRoot of a root under %s: %v", name, err)
		}
		// Under the current master alone: KWP is deterministic, so this is
		// exactly what wrapping the root under C gives.
		want, _ := onlyC.WrapRoot(root)
		if !bytes.Equal(nw, want) {
			t.Fatalf("RewrapRoot of a root under %s is not the root wrapped under the current master", name)
		}
		if _, err := oldA.OpenRoot(ctx, nw); kms.ErrorCode(err) != kms.EDecrypt {
			t.Fatalf("rewrapped root opens under an old master: %v", err)
		}
	}
	// New roots are under the current master only.
	w, err := p.GenerateRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rk, err := onlyC.OpenRoot(ctx, w); err != nil {
		t.Fatalf("a new root does not open under the current master alone: %v", err)
	} else {
		rk.Close()
	}

	// A root under a master the protector does not know.
	foreign, _ := newProtector(t, randomKey(t)).GenerateRoot(ctx)
	_, err = p.OpenRoot(ctx, foreign)
	if kms.ErrorCode(err) != kms.EDecrypt || !strings.Contains(err.Error(), software.MasterKeyID(b)) {
		t.Fatalf("OpenRoot under a foreign master = %v, want EDecrypt naming the masters tried", err)
	}
	if _, err := p.RewrapRoot(ctx, foreign); kms.ErrorCode(err) != kms.EDecrypt {
		t.Fatalf("RewrapRoot under a foreign master = %v, want EDecrypt", err)
	}
	if _, err := p.RewrapRoot(ctx, foreign[:10]); kms.ErrorCode(err) != kms.EDecrypt {
		t.Fatalf("RewrapRoot of a short wrapping = %v, want EDecrypt", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.RewrapRoot(cctx, w); err == nil {
		t.Fatal("RewrapRoot with a cancelled context succeeded")
	}

	// Formatting names the ids, never the keys.
	s := fmt.Sprintf("%v %+v %#v", p, p, p)
	if !strings.Contains(s, software.MasterKeyID(a)) {
		t.Fatalf("formatting %q does not name the previous masters", s)
	}
	for _, k := range [][]byte{a, b, c} {
		if strings.Contains(s, fmt.Sprintf("%x", k)) {
			t.Fatal("formatting prints a master key")
		}
	}
}

func TestPreviousMastersRefused(t *testing.T) {
	a, b := randomKey(t), randomKey(t)
	for name, prev := range map[string][][]byte{
		"current again": {a},
		"twice":         {b, b},
		"short":         {b[:16]},
	} {
		if _, err := software.New(a, prev...); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
