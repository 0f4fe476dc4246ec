package s3api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/bucketkey"
)

// DefaultRegion is the region served when Config.Region is empty.
const DefaultRegion = "us-east-1"

// Identity is the authenticated caller.
type Identity struct {
	AccessKeyID string
	CanonicalID string // owner id of the buckets and objects it creates
	DisplayName string
}

// Users looks up S3 users for signature verification. It is declared here,
// where it is consumed: s3node.UserStore keeps users with sealed secrets,
// and the production implementation unseals them through the KMS.
type Users interface {
	// LookupUser returns the user owning accessKeyID and its secret access
	// key in plaintext, as a fresh slice that the caller wipes after use.
	// Returns an *s3node.Error ENotFound/NoSuchUser (or an error wrapping
	// sigv4.ErrUnknownAccessKey) for an unknown access key; any other
	// error becomes InternalError.
	LookupUser(ctx context.Context, accessKeyID string) (Identity, []byte, error)
}

// StaticUser is one user of StaticUsers.
type StaticUser struct {
	Secret      string
	CanonicalID string // defaults to the access key id
	DisplayName string
}

// StaticUsers is a fixed map from access key id to user, for tests and
// development only: its secrets sit in memory in clear.
type StaticUsers map[string]StaticUser

var _ Users = StaticUsers(nil)

// LookupUser implements Users.
func (u StaticUsers) LookupUser(_ context.Context, accessKeyID string) (Identity, []byte, error) {
	su, ok := u[accessKeyID]
	if !ok {
		return Identity{}, nil, s3node.Errorf(s3node.ENotFound, s3node.NoSuchUser, "no such access key")
	}
	id := Identity{AccessKeyID: accessKeyID, CanonicalID: su.CanonicalID, DisplayName: su.DisplayName}
	if id.CanonicalID == "" {
		id.CanonicalID = accessKeyID
	}
	if id.DisplayName == "" {
		id.DisplayName = accessKeyID
	}
	return id, []byte(su.Secret), nil
}

// Config configures a Server.
type Config struct {
	Meta  s3node.MetadataStore // required
	Data  s3node.DataStore     // required
	Users Users                // required
	// Region is the region served (default DefaultRegion); requests signed
	// for another region are refused.
	Region string
	// Domain enables virtual-hosted-style requests: Host bucket.Domain
	// (with any port) addresses bucket. Empty: path-style only.
	Domain string
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now

	// KMS serves the data keys of SSE-S3 and SSE-KMS objects and the
	// bucket root keys. nil: SSE-S3 and SSE-KMS requests answer 503 (plain
	// and SSE-C objects still work).
	KMS KeyService
	// DefaultKMSKeyID is the server default SSE-KMS key, used for aws:kms
	// without a key id when the bucket names none (SSE-SPEC D6). Empty:
	// such requests get 400.
	DefaultKMSKeyID string
	// EncryptByDefault is the "AWS-2023" mode (SSE-SPEC D5): every new
	// object of a bucket without a default-encryption configuration is
	// SSE-S3, and GetBucketEncryption shows that default. Off: no
	// encryption unless requested or configured on the bucket (OVH).
	EncryptByDefault bool
	// TrustedProxies are the peer addresses whose "X-Forwarded-Proto:
	// https" counts as TLS for SSE-C (SSE-SPEC D3).
	TrustedProxies []netip.Prefix
	// AllowSSECOverHTTP accepts SSE-C on plain HTTP. For test rigs only:
	// the key then crosses the network in clear.
	AllowSSECOverHTTP bool
	// BucketKeyDeletionDays is the waiting period before the root key of
	// a deleted bucket is destroyed (7 to 30; 0 means 30).
	BucketKeyDeletionDays int
	// BucketKeyTTL turns bucket keys on (s3node/bucketkey): SSE-S3
	// objects, and SSE-KMS objects written with BucketKeyEnabled and no
	// client context, get their object key sealed by the node under a
	// bucket data key that the node keeps for this long, instead of one
	// KMS call per PUT and GET. 0: off (one KMS call per encrypted PUT and
	// GET; objects written with bucket keys stay readable).
	BucketKeyTTL time.Duration

	// Registerer receives the S3 API's metrics (metrics.go). nil: none
	// are kept.
	Registerer prometheus.Registerer
	// AccessLog writes one "access" line per request to Logger, at info
	// level (access.go).
	AccessLog bool
	// Readiness answers /-/readyz on the S3 listeners (health.go). nil:
	// /-/readyz answers as /-/healthz.
	Readiness *Readiness
}

// Server is the S3 HTTP server. It is safe for concurrent use.
type Server struct {
	meta   s3node.MetadataStore
	data   s3node.DataStore
	users  Users
	region string
	domain string
	log    *slog.Logger
	now    func() time.Time
	routes map[routeKey]route

	kms              KeyService
	defaultKMSKeyID  string
	encryptByDefault bool
	trustedProxies   []netip.Prefix
	allowSSECHTTP    bool
	keyDeletionDays  int
	bucketKeys       *bucketkey.Cache // nil: off

	metrics   *metrics // nil: off
	accessLog bool
	readiness *Readiness
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Meta == nil || cfg.Data == nil || cfg.Users == nil {
		return nil, errors.New("s3api: Config.Meta, Data and Users are required")
	}
	s := &Server{
		meta:   cfg.Meta,
		data:   cfg.Data,
		users:  cfg.Users,
		region: cfg.Region,
		domain: strings.ToLower(strings.TrimSuffix(cfg.Domain, ".")),
		log:    cfg.Logger,
		now:    cfg.Now,

		kms:              cfg.KMS,
		defaultKMSKeyID:  cfg.DefaultKMSKeyID,
		encryptByDefault: cfg.EncryptByDefault,
		trustedProxies:   cfg.TrustedProxies,
		allowSSECHTTP:    cfg.AllowSSECOverHTTP,
		keyDeletionDays:  cfg.BucketKeyDeletionDays,
	}
	if s.keyDeletionDays == 0 {
		s.keyDeletionDays = 30
	}
	if cfg.BucketKeyTTL > 0 && cfg.KMS != nil {
		c, err := bucketkey.New(bucketkey.Config{KMS: cfg.KMS, TTL: cfg.BucketKeyTTL, Now: cfg.Now})
		if err != nil {
			return nil, err
		}
		s.bucketKeys = c
	}
	if s.keyDeletionDays < 7 || s.keyDeletionDays > 30 {
		return nil, fmt.Errorf("s3api: BucketKeyDeletionDays %d is not between 7 and 30", cfg.BucketKeyDeletionDays)
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if strings.ContainsAny(s.domain, "/: ") {
		return nil, fmt.Errorf("s3api: Domain %q must be a host name", cfg.Domain)
	}
	s.routes = routeTable()
	s.accessLog, s.readiness = cfg.AccessLog, cfg.Readiness
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, s)
		if err != nil {
			return nil, fmt.Errorf("s3api: registering metrics: %w", err)
		}
		s.metrics = m
	}
	return s, nil
}

// Handler returns the HTTP handler serving the S3 API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }
