package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// clusterPair is two KMS nodes on one key store: an operator's admin
// client on A and an S3 node's client on B, whose root cache is warm.
type clusterPair struct {
	a, b          *apitest.Env
	adminA        *kmsclient.Client
	nodeB         *kmsclient.Client
	key           string
	sealedV1      []byte // sealed on B under version 1
	plainV1       []byte
	objectContext map[string]string
}

func newClusterPair(t *testing.T) *clusterPair {
	t.Helper()
	ctx := context.Background()
	a := apitest.New(t, apitest.Options{})
	b := a.Peer(t, apitest.Options{})
	p := &clusterPair{a: a, b: b, adminA: a.Client(t, a.Admin), nodeB: b.Client(t, b.S3Node),
		key: "bucket/cluster", objectContext: map[string]string{"bucket": "cluster", "key": "k"}}
	if _, err := p.adminA.CreateKey(ctx, wire.CreateKeyRequest{ID: p.key, Purpose: string(kms.PurposeBucketRoot)}); err != nil {
		t.Fatal(err)
	}
	dk, err := p.nodeB.GenerateDataKey(ctx, p.key, p.objectContext)
	if err != nil {
		t.Fatal(err)
	}
	p.sealedV1, p.plainV1 = dk.Sealed, dk.Plaintext
	if _, err := p.nodeB.Decrypt(ctx, dk.Sealed, p.objectContext); err != nil {
		t.Fatal(err)
	}
	if hits, _ := b.Service.CacheStats(); hits == 0 {
		t.Fatal("node B's root cache is cold")
	}
	return p
}

// TestTwoNodesKeyState checks that a key-state change made through one
// KMS node applies on the other at once, although the other holds the
// key's root in its cache (kms/cache.go caches opened roots only; the
// key's state, current version and version states are read from the
// store on every use).
func TestTwoNodesKeyState(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// change is done through node A; then B's generate and decrypt
		// (of a data key sealed under version 1) must fail with these
		// codes ("" = succeed), and a generate on B must use version
		// wantVersion (when it succeeds).
		change      func(t *testing.T, p *clusterPair)
		genCode     kms.Code
		decCode     kms.Code
		wantVersion int
	}{
		{"disable", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.DisableKey(ctx, p.key))
		}, kms.EDisabled, kms.EDisabled, 0},
		{"disable then enable", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.DisableKey(ctx, p.key))
			mustDo(t)(p.adminA.EnableKey(ctx, p.key))
		}, "", "", 1},
		{"deactivate", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.DeactivateKey(ctx, p.key))
		}, kms.EState, "", 0},
		{"schedule deletion", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.ScheduleDeletion(ctx, p.key, 7))
		}, kms.EDisabled, kms.EDisabled, 0},
		{"rotate", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.RotateKey(ctx, p.key))
		}, "", "", 2},
		{"rotate, deactivate version 1", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.RotateKey(ctx, p.key))
			if _, err := p.adminA.SetVersionState(ctx, p.key, 1, "deactivated"); err != nil {
				t.Fatal(err)
			}
		}, "", kms.EState, 2},
		{"rotate, destroy version 1", func(t *testing.T, p *clusterPair) {
			mustDo(t)(p.adminA.RotateKey(ctx, p.key))
			if _, err := p.adminA.SetVersionState(ctx, p.key, 1, "deactivated"); err != nil {
				t.Fatal(err)
			}
			if _, err := p.adminA.DestroyVersion(ctx, p.key, 1); err != nil {
				t.Fatal(err)
			}
		}, "", kms.EDestroyed, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newClusterPair(t)
			tt.change(t, p)
			// No wait: the bound is 0 (the next call on B sees it).
			dk, err := p.nodeB.GenerateDataKey(ctx, p.key, p.objectContext)
			if kms.ErrorCode(err) != tt.genCode {
				t.Errorf("generate on B: %v, want code %q", err, tt.genCode)
			}
			if err == nil && dk.KeyVersion != tt.wantVersion {
				t.Errorf("generate on B used version %d, want %d", dk.KeyVersion, tt.wantVersion)
			}
			got, err := p.nodeB.Decrypt(ctx, p.sealedV1, p.objectContext)
			if kms.ErrorCode(err) != tt.decCode {
				t.Errorf("decrypt of a version-1 data key on B: %v, want code %q", err, tt.decCode)
			}
			if err == nil && !bytes.Equal(got.Plaintext, p.plainV1) {
				t.Error("decrypt on B returned another key")
			}
		})
	}
}

// TestTwoNodesMasterRotation checks the master-key rotation procedure of
// docs/master-key-rotation.md with two KMS processes: while the processes
// are restarted one by one, a node that has the new master only as the
// current key (and the old as previous) makes roots that a node not yet
// restarted cannot open; with the new master first added as a previous
// key everywhere (two-phase roll), every root opens on every node
// throughout, and `master rotate` on one node leaves both working.
func TestTwoNodesMasterRotation(t *testing.T) {
	ctx := context.Background()
	oldM, newM := randomKey(t), randomKey(t)
	sw := func(cur []byte, prev ...[]byte) kms.Protector {
		p, err := software.New(cur, prev...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		// protectors of node A and node B during the roll
		a, b kms.Protector
		// whether a key made on B opens on A
		opensOnA bool
		// both nodes have the new master current
		bothNew bool
	}{
		{"naive roll: B restarted with the new master, A not yet", sw(oldM), sw(newM, oldM), false, false},
		{"phase 1: new master as previous on A, B not yet", sw(oldM, newM), sw(oldM), true, false},
		{"phase 2: B current new, A still current old with new as previous", sw(oldM, newM), sw(newM, oldM), true, false},
		{"done: both current new, old as previous", sw(newM, oldM), sw(newM, oldM), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := apitest.New(t, apitest.Options{Master: oldM})
			a := base.Peer(t, apitest.Options{Protector: tt.a})
			b := base.Peer(t, apitest.Options{Protector: tt.b})
			// A key made before the roll, under the old master.
			old := "bucket/before"
			if _, err := base.Client(t, base.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: old, Purpose: string(kms.PurposeBucketRoot)}); err != nil {
				t.Fatal(err)
			}
			// A key made on B during the roll.
			made := "bucket/during"
			if _, err := b.Client(t, b.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: made, Purpose: string(kms.PurposeBucketRoot)}); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*apitest.Env{a, b} {
				if _, err := n.Client(t, n.S3Node).GenerateDataKey(ctx, old, nil); err != nil {
					t.Errorf("a key made before the roll: %v", err)
				}
			}
			_, err := a.Client(t, a.S3Node).GenerateDataKey(ctx, made, nil)
			if (err == nil) != tt.opensOnA {
				t.Fatalf("a key made on B, used on A: %v (want it to open: %v)", err, tt.opensOnA)
			}
			if !tt.opensOnA {
				t.Logf("as documented, A refuses B's new key until restarted: %v", err)
				return
			}
			// Re-wrap on the node whose current master is the newest; once
			// both have it current, on both at once (compare-and-set).
			rotators := []*apitest.Env{b}
			if tt.bothNew {
				rotators = append(rotators, a)
			}
			var wg sync.WaitGroup
			for _, n := range rotators {
				cl := n.Client(t, n.Admin)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := cl.RotateMaster(ctx, 1); err != nil {
						t.Error(err)
					}
					for {
						r, err := cl.RotateMaster(ctx, 1)
						if err != nil || r.Remaining == 0 {
							if err != nil {
								t.Error(err)
							}
							return
						}
					}
				}()
			}
			wg.Wait()
			st, err := b.Client(t, b.Admin).MasterStatus(ctx)
			if err != nil || len(st.Versions) != 1 || st.Versions[st.Current] != 2 {
				t.Errorf("after master rotate: %+v, %v; want both keys' versions under the current master", st, err)
			}
			for _, n := range []*apitest.Env{a, b} {
				for _, k := range []string{old, made} {
					if _, err := n.Client(t, n.S3Node).GenerateDataKey(ctx, k, nil); err != nil {
						t.Errorf("after master rotate: %s on a node: %v", k, err)
					}
				}
			}
		})
	}
}

func randomKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// mustDo fails the test on the error of a call returning a key.
func mustDo(t *testing.T) func(wire.Key, error) {
	return func(_ wire.Key, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}
