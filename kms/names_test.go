package kms_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// wantNameTaken checks that err is the conflict of the taken Name name,
// as the KMIP layer expects it: EConflict, recognisable by IsNameTaken,
// with a message that names it.
func wantNameTaken(t *testing.T, what string, err error, name string) {
	t.Helper()
	wantCode(t, what, err, kms.EConflict)
	if !kms.IsNameTaken(err) {
		t.Errorf("%s: %v is not a taken Name", what, err)
	}
	if want := fmt.Sprintf("the Name %q is already used by another object", name); kms.ErrorMessage(err) != want {
		t.Errorf("%s: message %q, want %q", what, kms.ErrorMessage(err), want)
	}
}

// openService returns a Service on the SQLite database at path, as a
// separate KMS process would have it: its own connections, its own
// in-process state.
func openService(t *testing.T, path string, master []byte) *kms.Service {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	prot, err := software.New(master)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := kms.NewPolicy([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{adminID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: db.KeyStore(), Audit: db.AuditLog(), Protector: prot, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// TestNamesAcrossProcesses: two Services sharing one database race to
// give one Name to different keys, by creating and by changing
// attributes; exactly one wins each round and the others get the taken
// Name conflict.
func TestNamesAcrossProcesses(t *testing.T) {
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/kms.db"
	svcs := []*kms.Service{openService(t, path, master), openService(t, path, master)}
	admin := kms.WithIdentity(context.Background(), adminID)
	for i := range svcs {
		if _, err := svcs[i].CreateKey(admin, kms.CreateKeyRequest{ID: fmt.Sprintf("upd-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	const rounds, perService = 5, 3
	for round := range rounds {
		name := fmt.Sprintf("race-%d", round)
		var (
			mu       sync.Mutex
			winners  []string
			wg       sync.WaitGroup
			start    = make(chan struct{})
			failures []error
		)
		record := func(who string, err error) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, who)
			case !kms.IsNameTaken(err):
				failures = append(failures, fmt.Errorf("%s: %w", who, err))
			}
		}
		for s, svc := range svcs {
			for i := range perService {
				wg.Go(func() {
					id := fmt.Sprintf("k-%d-%d-%d", round, s, i)
					<-start
					_, err := svc.CreateKey(admin, kms.CreateKeyRequest{ID: id, Attributes: kms.Attributes{Names: []string{name}}})
					record(id, err)
				})
			}
			wg.Go(func() {
				id := fmt.Sprintf("upd-%d", s)
				<-start
				_, _, err := svc.UpdateAttributes(admin, id, func(k *kms.Key) error {
					k.Attributes.Names = append(k.Attributes.Names, name)
					return nil
				})
				record(id, err)
			})
		}
		close(start)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("round %d: %v", round, failures)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
		k, err := svcs[0].FindKeyByName(admin, name)
		if err != nil || k.ID != winners[0] {
			t.Fatalf("round %d: FindKeyByName = %q, %v; want %q", round, k.ID, err, winners[0])
		}
	}
}

// racingStore is a real KeyStore whose next UpdateKey first lets another
// key take a Name, as a KMS process sharing the database would between
// the Service's check and its write.
type racingStore struct {
	kms.KeyStore
	mu      sync.Mutex
	before  func()
	updates int
}

func (s *racingStore) UpdateKey(ctx context.Context, k kms.Key, add *kms.KeyVersion) error {
	s.mu.Lock()
	s.updates++
	before := s.before
	s.before = nil
	s.mu.Unlock()
	if before != nil {
		before()
	}
	return s.KeyStore.UpdateKey(ctx, k, add)
}

// TestNameTakenNotRetried: a Name taken between the check and the write
// fails the change at once (no optimistic-concurrency retry), with the
// error the KMIP layer maps to Object Already Exists / Non-Unique Name.
func TestNameTakenNotRetried(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/kms.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store := &racingStore{KeyStore: db.KeyStore()}
	master := make([]byte, 32)
	prot, err := software.New(master)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := kms.NewPolicy([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{adminID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: store, Audit: db.AuditLog(), Protector: prot, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	admin := kms.WithIdentity(ctx, adminID)
	if _, err := svc.CreateKey(admin, kms.CreateKeyRequest{ID: "mine"}); err != nil {
		t.Fatal(err)
	}
	store.before = func() {
		if _, err := svc.CreateKey(admin, kms.CreateKeyRequest{ID: "theirs", Attributes: kms.Attributes{Names: []string{"contested"}}}); err != nil {
			t.Error(err)
		}
	}
	_, _, err = svc.UpdateAttributes(admin, "mine", func(k *kms.Key) error {
		k.Attributes.Names = []string{"contested"}
		return nil
	})
	wantNameTaken(t, "update racing a create", err, "contested")
	if store.updates != 1 {
		t.Fatalf("UpdateKey called %d times, want 1 (no retry)", store.updates)
	}
	// The Service's own check gives the same error.
	_, err = svc.CreateKey(admin, kms.CreateKeyRequest{ID: "late", Attributes: kms.Attributes{Names: []string{"contested"}}})
	wantNameTaken(t, "create", err, "contested")
	// A revision conflict is retried as before: another writer changes the
	// key between the Service's read and its write.
	store.before = func() {
		if _, err := svc.SetEnabled(admin, "mine", false); err != nil {
			t.Error(err)
		}
	}
	store.updates = 0
	if _, _, err := svc.UpdateAttributes(admin, "mine", func(k *kms.Key) error {
		k.Attributes.Names = []string{"free"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if store.updates != 3 { // the racing SetEnabled, the lost write, the retry
		t.Fatalf("UpdateKey called %d times, want 3", store.updates)
	}
}

// TestFindKeyByName covers the lookup Locate uses: the holder, unknown
// and released Names, and callers who may not read the holder.
func TestFindKeyByName(t *testing.T) {
	h := newHarness(t, 0)
	for id, names := range map[string][]string{"a": {"alpha", "first"}, "bucket/b": {"bucket"}, "gone": {"gone"}} {
		if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: id, State: kms.StatePreActive,
			Attributes: kms.Attributes{Names: names}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.DestroyKey(h.admin, "gone"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ctx    context.Context
		lookup string
		want   string
		code   kms.Code
	}{
		{"holder", h.admin, "first", "a", ""},
		{"unknown", h.admin, "nobody", "", kms.ENotFound},
		{"destroyed", h.admin, "gone", "", kms.ENotFound},
		{"not readable", h.node, "bucket", "", kms.ENotFound},
		{"unknown caller", h.other, "alpha", "", kms.EUnauthorized},
		{"no caller", context.Background(), "alpha", "", kms.EUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := h.svc.FindKeyByName(tt.ctx, tt.lookup)
			wantCode(t, tt.name, err, tt.code)
			if k.ID != tt.want {
				t.Errorf("%s: key %q, want %q", tt.name, k.ID, tt.want)
			}
			if err != nil && strings.Contains(kms.ErrorMessage(err), `"bucket/b"`) {
				t.Errorf("%s: message %q names the hidden key", tt.name, kms.ErrorMessage(err))
			}
		})
	}
}
