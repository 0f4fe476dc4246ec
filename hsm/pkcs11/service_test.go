package pkcs11

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// serviceOnSQLite gives tests that run a kms.Service over the HSM a fresh
// SQLite store and an admin allowed everything: a context with the
// admin's identity, and a constructor of Services on that store (one per
// protector, e.g. before and after a master-key rotation).
func serviceOnSQLite(t *testing.T) (context.Context, func(p *Protector) *kms.Service) {
	t.Helper()
	ctx := context.Background()
	admin := kms.Identity(strings.Repeat("a", 64))
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	policy, err := kms.NewPolicy([]kms.PolicyEntry{{Name: "admin", Identities: []kms.Identity{admin},
		Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return kms.WithIdentity(ctx, admin), func(p *Protector) *kms.Service {
		s, err := kms.New(kms.Config{Store: db.KeyStore(), Audit: db.AuditLog(), Protector: p, Policy: policy, CacheSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}
