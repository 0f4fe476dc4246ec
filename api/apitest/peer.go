package apitest

import (
	"context"
	"testing"

	"github.com/s3kms/s3kms/storage/sqlite"
)

// Peer starts a second KMS node on the keys of e, as a second process of
// a cluster would run: its own kms.Service (own root cache) and HTTPS
// server, over its own connection to e's SQLite file, with e's protector
// (master key), policy, CA and identities. opts sets its Logger,
// CacheSize, Now and Protector (another protector, e.g. the software one
// with other master keys, as during a master-key rotation); its Policy,
// Master and PreviousMasters fields are ignored.
// The peer is stopped when the test ends; stop it earlier with
// Peer.HTTP.Close (its clients then get refused connections).
func (e *Env) Peer(t testing.TB, opts Options) *Env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p := &Env{
		CA: e.CA, Admin: e.Admin, S3Node: e.S3Node, Stranger: e.Stranger, Foreign: e.Foreign,
		DB: db, Store: db.KeyStore(), Audit: db.AuditLog(),
		dbPath: e.dbPath, protector: e.protector, policy: e.policy,
	}
	if opts.Protector != nil {
		p.protector = opts.Protector
	}
	p.serve(t, opts)
	return p
}
