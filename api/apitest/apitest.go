// Package apitest starts an in-process KMS for tests: the real kms.Service
// over the SQLite key store (in a temporary directory) and the software
// protector (random master key), served by package api over HTTPS with
// mutual TLS on 127.0.0.1, with a throw-away CA and client certificates
// for a set of identities. Tests of the API, of kms/kmsclient and of the
// S3 node's KMS use share it.
package apitest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// Options adjusts an Env.
type Options struct {
	// Logger receives the service's and server's logs; discarded if nil.
	Logger *slog.Logger
	// AccessLog turns the server's access log on (to Logger).
	AccessLog bool
	// Policy entries added to the default ones (admin, s3node).
	Policy []kms.PolicyEntry
	// PolicyFunc, if set, returns more policy entries; it gets the env's
	// CA to issue the client certificates they name.
	PolicyFunc func(ca *CA) []kms.PolicyEntry
	// CacheSize of opened root versions; 0 means 64, negative disables.
	CacheSize int
	// Now is the service's clock; time.Now if nil.
	Now func() time.Time
	// Master is the software protector's master key; random if nil.
	// PreviousMasters are its previous master keys (master-key rotation).
	Master          []byte
	PreviousMasters [][]byte
	// Protector, if set, replaces the software protector (Master and
	// PreviousMasters are then ignored), e.g. a pkcs11 one on SoftHSM.
	Protector kms.Protector
}

// Env is a running KMS with its test identities.
type Env struct {
	Service *kms.Service
	Server  *api.Server
	// DB is the SQLite database; Store and Audit are its key store and
	// audit log, for checks that must not go through the service.
	DB    *sqlite.DB
	Store kms.KeyStore
	Audit kms.AuditLog
	HTTP  *httptest.Server
	// URL is the https endpoint ("https://127.0.0.1:port").
	URL string
	// CA signs the server certificate and every client certificate but
	// Foreign.
	CA *CA
	// Admin may do everything on every key ("*" on "*").
	Admin Cert
	// S3Node may generate, decrypt and rewrap with bucket root keys
	// ("bucket/*") only.
	S3Node Cert
	// Stranger has a valid certificate but is not in the policy.
	Stranger Cert
	// Foreign has a certificate from another CA: its handshake fails.
	Foreign Cert

	// What Peer needs to start another node on the same keys.
	dbPath    string
	protector kms.Protector
	policy    *kms.Policy
}

// New starts an Env; it is stopped when the test ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	e := &Env{CA: NewCA(t, "s3kms test CA")}
	e.Admin = e.CA.Client(t, "admin")
	e.S3Node = e.CA.Client(t, "s3node")
	e.Stranger = e.CA.Client(t, "stranger")
	e.Foreign = NewCA(t, "foreign CA").Client(t, "foreign")

	e.dbPath = filepath.Join(t.TempDir(), "kms.db")
	db, err := sqlite.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.DB, e.Store, e.Audit = db, db.KeyStore(), db.AuditLog()
	master := opts.Master
	if master == nil {
		master = make([]byte, 32)
		if _, err := rand.Read(master); err != nil {
			t.Fatal(err)
		}
	}
	var prot kms.Protector = opts.Protector
	if prot == nil {
		sw, err := software.New(master, opts.PreviousMasters...)
		if err != nil {
			t.Fatal(err)
		}
		prot = sw
	}
	entries := append([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{e.Admin.Identity},
			Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
		{Name: "s3node", Identities: []kms.Identity{e.S3Node.Identity},
			Allow: []kms.Rule{{Ops: []kms.Op{kms.OpGenerate, kms.OpDecrypt, kms.OpRewrap}, Keys: []string{"bucket/*"}}}},
	}, opts.Policy...)
	if opts.PolicyFunc != nil {
		entries = append(entries, opts.PolicyFunc(e.CA)...)
	}
	pol, err := kms.NewPolicy(entries)
	if err != nil {
		t.Fatal(err)
	}
	e.protector, e.policy = prot, pol
	e.serve(t, opts)
	return e
}

// serve starts the service and its HTTPS server over e's store,
// protector and policy.
func (e *Env) serve(t testing.TB, opts Options) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache := opts.CacheSize
	if cache == 0 {
		cache = 64
	}
	svc, err := kms.New(kms.Config{
		Store: e.Store, Audit: e.Audit, Protector: e.protector, Policy: e.policy, Logger: log,
		CacheSize: max(cache, 0), Now: opts.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	e.Service = svc
	srv, err := api.NewServer(api.Config{Service: svc, Logger: log, AccessLog: opts.AccessLog})
	if err != nil {
		t.Fatal(err)
	}
	e.Server = srv

	hs := httptest.NewUnstartedServer(srv.Handler())
	cfg := api.NewHTTPServer("", api.NewTLSConfig(e.CA.Server(t).TLS, e.CA.Pool), srv.Handler(), log)
	// httptest terminates TLS in its listener with hs.TLS; the
	// http.Server must not have a TLSConfig of its own then, or it would
	// not set up HTTP/2 (it requires "h2" in that config's NextProtos).
	hs.TLS, cfg.TLSConfig = cfg.TLSConfig, nil
	hs.Config = cfg
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)
	e.HTTP = hs
	e.URL = hs.URL
}

// TLSConfig returns a client TLS configuration trusting the env's CA and
// presenting c.
// The certificate is presented even when the server's list of acceptable
// CAs does not include its issuer (Foreign), so that the server sees it.
func (e *Env) TLSConfig(c Cert) *tls.Config {
	cert := c.TLS
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    e.CA.Pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
	}
}

// NoCertTLSConfig returns a client TLS configuration trusting the env's CA
// without a client certificate.
func (e *Env) NoCertTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: e.CA.Pool}
}

// Client returns a kmsclient for the identity c, closed when the test ends.
func (e *Env) Client(t testing.TB, c Cert, opts ...kmsclient.Option) *kmsclient.Client {
	t.Helper()
	return e.client(t, e.TLSConfig(c), opts...)
}

// NoCertClient returns a kmsclient that presents no client certificate.
func (e *Env) NoCertClient(t testing.TB, opts ...kmsclient.Option) *kmsclient.Client {
	t.Helper()
	return e.client(t, e.NoCertTLSConfig(), opts...)
}

func (e *Env) client(t testing.TB, cfg *tls.Config, opts ...kmsclient.Option) *kmsclient.Client {
	c, err := kmsclient.New(e.URL, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// AuditEvents returns the newest audit events (up to limit), read from the
// store directly, so that reading them is not itself audited.
func (e *Env) AuditEvents(t testing.TB, f kms.AuditFilter) []kms.AuditEvent {
	t.Helper()
	evs, err := e.Audit.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// S3NodeRules are the policy rules of an S3 node's identity, as `s3kms
// dev` and deploy/kms.example.yaml grant them: bucket root keys to create,
// use, read (the rewrap sweeper asks for their current version) and
// schedule for deletion; any other key (SSE-KMS) to use and read.
var S3NodeRules = []kms.Rule{
	{Ops: []kms.Op{kms.OpCreate, kms.OpGenerate, kms.OpDecrypt, kms.OpRewrap, kms.OpRead, kms.OpDelete}, Keys: []string{"bucket/*"}},
	{Ops: []kms.Op{kms.OpGenerate, kms.OpDecrypt, kms.OpRewrap, kms.OpRead}, Keys: []string{"*"}},
}

// NewForS3Node starts an Env (New with opts) whose policy also has an
// identity with S3NodeRules, and returns it with a client for that
// identity: the KMS an S3 node under test uses.
func NewForS3Node(t testing.TB, opts Options) (*Env, *kmsclient.Client) {
	t.Helper()
	var node Cert
	more := opts.PolicyFunc
	opts.PolicyFunc = func(ca *CA) []kms.PolicyEntry {
		node = ca.Client(t, "s3-node")
		entries := []kms.PolicyEntry{{Name: "s3-node", Identities: []kms.Identity{node.Identity}, Allow: S3NodeRules}}
		if more != nil {
			entries = append(entries, more(ca)...)
		}
		return entries
	}
	e := New(t, opts)
	return e, e.Client(t, node)
}
