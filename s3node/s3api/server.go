package s3api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/s3kms/s3kms/s3node"
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
	return s, nil
}

// Handler returns the HTTP handler serving the S3 API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }
