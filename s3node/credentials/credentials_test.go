package credentials_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/credentials"
	"github.com/s3kms/s3kms/storage/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// countingSealer counts KMS round trips.
type countingSealer struct {
	credentials.Sealer
	mu       sync.Mutex
	decrypts int
}

func (s *countingSealer) DecryptPayload(ctx context.Context, blob []byte, ec map[string]string) (kms.DataKey, error) {
	s.mu.Lock()
	s.decrypts++
	s.mu.Unlock()
	return s.Sealer.DecryptPayload(ctx, blob, ec)
}

// newUsers returns Users on a real KMS (over mTLS) and a real SQLite store.
func newUsers(t *testing.T) (*credentials.Users, *sqlite.S3Store, *countingSealer, *clock) {
	t.Helper()
	u, store, sealer, c, _ := newUsersKMS(t)
	return u, store, sealer, c
}

// newUsersKMS is newUsers that also returns the KMS.
func newUsersKMS(t *testing.T) (*credentials.Users, *sqlite.S3Store, *countingSealer, *clock, *apitest.Env) {
	t.Helper()
	e := apitest.New(t, apitest.Options{})
	admin := e.Client(t, e.Admin)
	ctx := kms.WithIdentity(context.Background(), e.Admin.Identity)
	if _, err := e.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: credentials.DefaultKeyID}); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s3.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	sealer := &countingSealer{Sealer: admin}
	return credentials.New(credentials.Config{Store: db.S3Store(), Sealer: sealer, Now: c.now, TTL: time.Minute}), db.S3Store(), sealer, c, e
}

// TestKMSOutageServesStaleSecrets stops the KMS: expired secrets are still
// served for MaxStale (1h by default), but never for a deleted user or a
// user whose sealed secret changed, and not beyond MaxStale.
func TestKMSOutageServesStaleSecrets(t *testing.T) {
	users, store, _, clk, e := newUsersKMS(t)
	ctx := context.Background()
	advance := func(d time.Duration) { clk.mu.Lock(); clk.t = clk.t.Add(d); clk.mu.Unlock() }
	var created []credentials.Created
	for _, name := range []string{"alice", "bob", "carol"} {
		c, err := users.Create(ctx, "", name)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := users.LookupUser(ctx, c.AccessKeyID); err != nil {
			t.Fatal(err)
		}
		created = append(created, c)
	}
	alice, bob, carol := created[0], created[1], created[2]
	e.HTTP.Close() // the KMS is gone
	advance(2 * time.Minute)

	if _, secret, err := users.LookupUser(ctx, alice.AccessKeyID); err != nil || string(secret) != alice.SecretAccessKey {
		t.Fatalf("stale lookup during the outage: %v", err)
	}
	// Bob is deleted on another node (directly in the store).
	if err := store.DeleteUser(ctx, bob.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.LookupUser(ctx, bob.AccessKeyID); s3node.ErrorCode(err) != s3node.ENotFound {
		t.Errorf("deleted user during the outage: %v", err)
	}
	// Carol's sealed secret changes (re-created elsewhere).
	u, err := store.GetUser(ctx, carol.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteUser(ctx, carol.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	u.SealedSecret = append([]byte{}, u.SealedSecret...)
	u.SealedSecret[len(u.SealedSecret)-1] ^= 1
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.LookupUser(ctx, carol.AccessKeyID); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("changed secret during the outage: %v, want the KMS error", err)
	}
	advance(2 * time.Hour)
	if _, _, err := users.LookupUser(ctx, alice.AccessKeyID); kms.ErrorCode(err) != kms.EUnavailable {
		t.Errorf("beyond MaxStale: %v, want the KMS error", err)
	}
}

func TestCreateLookupDelete(t *testing.T) {
	users, store, sealer, clk := newUsers(t)
	ctx := context.Background()
	alice, err := users.Create(ctx, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(alice.AccessKeyID) != 20 || len(alice.SecretAccessKey) != 40 {
		t.Fatalf("created %q / %d-char secret", alice.AccessKeyID, len(alice.SecretAccessKey))
	}
	stored, err := store.GetUser(ctx, alice.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.SealedSecret, []byte(alice.SecretAccessKey)) {
		t.Fatal("the store holds the secret in clear")
	}
	for range 3 {
		id, secret, err := users.LookupUser(ctx, alice.AccessKeyID)
		if err != nil || string(secret) != alice.SecretAccessKey || id.DisplayName != "alice" || id.CanonicalID != alice.CanonicalID {
			t.Fatalf("lookup = %+v, %v", id, err)
		}
		clear(secret) // callers wipe; the cache must keep its own copy
	}
	if sealer.decrypts != 1 {
		t.Errorf("%d KMS decrypts for 3 lookups, want 1 (cached)", sealer.decrypts)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(2 * time.Minute)
	clk.mu.Unlock()
	if _, _, err := users.LookupUser(ctx, alice.AccessKeyID); err != nil || sealer.decrypts != 2 {
		t.Errorf("after TTL: %v, %d decrypts", err, sealer.decrypts)
	}

	// A sealed secret moved to another user does not open.
	bob, err := users.Create(ctx, "BOBBOBBOBBOBBOB1", "bob")
	if err != nil {
		t.Fatal(err)
	}
	mallory := stored
	mallory.AccessKeyID, mallory.SealedSecret = "MALLORYMALLORY01", stored.SealedSecret
	if err := store.CreateUser(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.LookupUser(ctx, "MALLORYMALLORY01"); err == nil {
		t.Fatal("a sealed secret opened for another access key")
	}

	if err := users.Delete(ctx, bob.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.LookupUser(ctx, bob.AccessKeyID); s3node.ErrorCode(err) != s3node.ENotFound {
		t.Errorf("lookup after delete: %v", err)
	}
	if _, err := users.Create(ctx, "bad id!", "x"); s3node.ErrorCode(err) != s3node.EInvalid {
		t.Errorf("invalid access key id: %v", err)
	}
	list, err := users.List(ctx)
	if err != nil || len(list) != 2 || list[0].SealedSecret != nil {
		t.Errorf("list = %+v, %v", list, err)
	}
}
