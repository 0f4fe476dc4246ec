package config

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// S3 is the configuration of `s3kms s3 serve`.
type S3 struct {
	// Listen is the HTTPS address of the S3 API.
	Listen string `yaml:"listen"`
	// HTTPListen is an address that serves the S3 API over plain HTTP
	// (behind a TLS-terminating proxy, or for tests); SSE-C is refused
	// there. Empty: none.
	HTTPListen string `yaml:"http_listen"`
	TLS        struct {
		// Cert and Key are the server certificate (PEM, with its chain)
		// and its private key, for listen and admin.listen.
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
		// ReloadInterval is how often the certificate files (and the kms
		// client's and admin.client_ca files) are checked for changes; 0:
		// only on SIGHUP.
		ReloadInterval time.Duration `yaml:"reload_interval"`
	} `yaml:"tls"`
	// Domain enables virtual-hosted-style addressing: a request to host
	// BUCKET.DOMAIN addresses BUCKET. Empty: path-style only.
	Domain string `yaml:"domain"`
	// Region is the region served; requests signed for another region
	// are refused.
	Region string `yaml:"region"`
	// Store holds the object metadata (postgres or sqlite).
	Store Store `yaml:"store"`
	// DataDir is the directory of the object data (encrypted blobs). S3
	// nodes sharing one database share it too (a shared file system).
	DataDir string `yaml:"data_dir"`
	// KMS is how the node reaches the KMS (mutual TLS).
	KMS KMSClient `yaml:"kms"`
	// UsersKey is the KMS key that seals the S3 users' secret keys.
	UsersKey string `yaml:"users_key"`
	// UsersCacheTTL is how long the node keeps a user's unsealed secret
	// key in memory: a user deleted or re-keyed through another node is
	// still accepted here for up to this long (the node that deleted it
	// forgets it at once). Each expiry costs one KMS call per user and
	// node (default 1m).
	UsersCacheTTL time.Duration `yaml:"users_cache_ttl"`
	// SweepGrace is how old a blob that no metadata row references must
	// be before the node's sweeper removes it (an upload in flight has
	// its blob before its row).
	SweepGrace time.Duration `yaml:"sweep_grace"`
	// SweepInterval is how often the node removes orphan blobs and temp
	// files older than SweepGrace (default 10m; above 0).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// MetadataTimeout bounds each metadata call of a request (default
	// 30s; 0: unbounded): a database that stops answering then gets 503
	// ServiceUnavailable instead of requests that hang.
	MetadataTimeout time.Duration `yaml:"metadata_timeout"`
	// Encryption holds the server-side encryption switches (SSE-SPEC D3,
	// D5, D6).
	Encryption Encryption `yaml:"encryption"`
	// Rewrap configures the key-rotation rewrap jobs (s3node/rewrap).
	Rewrap Rewrap `yaml:"rewrap"`
	// Admin is the optional read-only admin API of the node (job status).
	Admin S3Admin `yaml:"admin"`
	Log   Log     `yaml:"log"`
	// Lifecycle: shutdown_timeout and shutdown_delay.
	Lifecycle `yaml:",inline"`
}

// Rewrap configures the rewrap worker and sweeper every S3 node runs.
type Rewrap struct {
	// Rate bounds the rows (object versions and uploads) a node re-seals
	// per second, so that foreground requests keep their latency (each row
	// is a database write; each page one KMS call). Default 500.
	Rate float64 `yaml:"rate"`
	// Batch is the rows per page: one KMS RewrapBatch call and one saved
	// cursor (1 to 1000; default 250).
	Batch int `yaml:"batch"`
	// SweepInterval is how often the node looks for rows sealed under a
	// version older than their key's current one and starts a job for
	// them (default 1m; 0: never).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// Lease is how long a node holds a job without renewing it (it renews
	// after every page): a crashed node's job is taken over by another
	// node, or by itself restarted, once its lease has expired (default
	// 1m; at least 1s).
	Lease time.Duration `yaml:"lease"`
}

// S3Admin is the node's read-only admin API: HTTPS with mutual TLS,
// GET /v1/jobs and GET /v1/jobs/{id}. Off unless Listen is set.
type S3Admin struct {
	// Listen is the address of the admin API (HTTPS, client certificates
	// only); empty disables it.
	Listen string `yaml:"listen"`
	// ClientCA is the CA bundle admin client certificates must chain to.
	// The server certificate is tls.cert/tls.key.
	ClientCA string `yaml:"client_ca"`
}

// Encryption configures server-side encryption on an S3 node.
type Encryption struct {
	// DefaultSSES3 is the "AWS-2023" mode: every new object of a bucket
	// without a default-encryption configuration is SSE-S3, and
	// GetBucketEncryption shows that default. Off (the default): objects
	// are encrypted only when the request or the bucket asks for it.
	DefaultSSES3 bool `yaml:"default_sse_s3"`
	// DefaultKMSKeyID is the KMS key used for SSE-KMS requests that name
	// none, when their bucket names none either. Empty: they get 400.
	DefaultKMSKeyID string `yaml:"default_kms_key_id"`
	// AllowSSECOverHTTP accepts SSE-C requests on plain HTTP. Test rigs
	// only: the customer's key then crosses the network in clear.
	AllowSSECOverHTTP bool `yaml:"allow_sse_c_over_http"`
	// TrustedProxies are addresses or CIDR prefixes of TLS-terminating
	// proxies whose "X-Forwarded-Proto: https" counts as HTTPS for SSE-C.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// BucketKeyDeletionDays is the wait before the root key of a deleted
	// bucket is destroyed (7 to 30; default 30).
	BucketKeyDeletionDays int `yaml:"bucket_key_deletion_days"`
	// BucketKeyTTL turns bucket keys on: the node keeps a bucket-level data
	// key from the KMS for this long and seals SSE-S3 (and SSE-KMS with
	// BucketKeyEnabled) object keys under it itself, instead of one KMS
	// call per PUT and GET. 0 (the default): off.
	BucketKeyTTL time.Duration `yaml:"bucket_key_ttl"`
}

// Proxies parses TrustedProxies: each entry is an IP address or a CIDR
// prefix.
func (e Encryption) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range e.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("encryption.trusted_proxies: %q is not an IP address or CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// KMSClient locates the KMS and the node's client certificate.
type KMSClient struct {
	// Endpoint is the URL of one KMS (https://kms.example:7373) or of a
	// load balancer in front of several. Set exactly one of Endpoint and
	// Endpoints.
	Endpoint string `yaml:"endpoint"`
	// Endpoints lists several KMS processes of one key store, which the
	// node uses in turn and fails over between (kms/kmsclient).
	Endpoints []string `yaml:"endpoints"`
	// CAFile is the CA bundle (PEM) the KMS's server certificate must
	// chain to.
	CAFile string `yaml:"ca_file"`
	// Cert is the node's client certificate file (PEM): its identity is
	// what the KMS's policies name.
	Cert string `yaml:"cert"`
	// Key is the client certificate's private key file (PEM).
	Key string `yaml:"key"`
	// CallTimeout bounds each attempt of a KMS call (0: the client's
	// default, 30s). An idempotent call is tried up to 3 times, so a KMS
	// that stops answering fails SSE requests after about 3 × CallTimeout
	// when no other endpoint answers.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// DownFor is how long an endpoint that failed is skipped (0: 5s).
	DownFor time.Duration `yaml:"down_for"`
}

// URLs returns Endpoint or Endpoints.
func (k KMSClient) URLs() []string {
	if k.Endpoint != "" {
		return []string{k.Endpoint}
	}
	return k.Endpoints
}

// DefaultS3 returns the defaults that a file overrides.
func DefaultS3() S3 {
	s := S3{
		Listen:        "127.0.0.1:9000",
		Region:        "us-east-1",
		Store:         Store{Driver: "sqlite", Path: "s3.db"},
		DataDir:       "data",
		UsersKey:      "s3node/users",
		UsersCacheTTL: time.Minute,
		SweepGrace:    time.Hour,
		Encryption:    Encryption{BucketKeyDeletionDays: 30},
		Rewrap:        Rewrap{Rate: 500, Batch: 250, SweepInterval: time.Minute, Lease: time.Minute},
		Log:           Log{Level: "info", Format: "text", Access: true},
		Lifecycle:     DefaultLifecycle(),

		SweepInterval:   10 * time.Minute,
		MetadataTimeout: 30 * time.Second,
	}
	s.TLS.ReloadInterval = DefaultTLSReloadInterval
	return s
}

// LoadS3 reads an S3 node configuration file over the defaults, then the
// S3KMS_S3_CONFIG_* environment variables over both (ApplyEnv). An empty
// path reads no file: the environment supplies what the defaults lack.
func LoadS3(path string) (S3, error) {
	cfg := DefaultS3()
	if err := loadWithEnv(path, &cfg, S3EnvPrefix, os.Environ()); err != nil {
		return S3{}, err
	}
	return cfg, withoutFileHint(path, S3EnvPrefix, cfg.Validate())
}

// Validate checks values that have no sensible default.
func (c *S3) Validate() error {
	var errs []string
	if c.Listen == "" && c.HTTPListen == "" {
		errs = append(errs, "listen or http_listen is required")
	}
	if c.Listen != "" && (c.TLS.Cert == "" || c.TLS.Key == "") {
		errs = append(errs, "tls.cert and tls.key are required for listen (HTTPS)")
	}
	if c.UsersCacheTTL <= 0 {
		errs = append(errs, "users_cache_ttl must be above 0")
	}
	switch c.Store.Driver {
	case "postgres":
		if c.Store.DSN == "" {
			errs = append(errs, "store.dsn is required for the postgres driver")
		}
	case "sqlite":
		if c.Store.Path == "" {
			errs = append(errs, "store.path is required for the sqlite driver")
		}
	default:
		errs = append(errs, fmt.Sprintf("store.driver %q is not postgres or sqlite", c.Store.Driver))
	}
	if c.DataDir == "" {
		errs = append(errs, "data_dir is required")
	}
	errs = append(errs, c.Lifecycle.validate(c.TLS.ReloadInterval)...)
	if (c.KMS.Endpoint == "" && len(c.KMS.Endpoints) == 0) || c.KMS.CAFile == "" || c.KMS.Cert == "" || c.KMS.Key == "" {
		errs = append(errs, "kms.endpoint (or kms.endpoints), kms.ca_file, kms.cert and kms.key are required")
	}
	if c.KMS.Endpoint != "" && len(c.KMS.Endpoints) > 0 {
		errs = append(errs, "set kms.endpoint or kms.endpoints, not both")
	}
	if slices.Contains(c.KMS.Endpoints, "") {
		errs = append(errs, "kms.endpoints has an empty entry")
	}
	if c.KMS.CallTimeout < 0 || c.KMS.DownFor < 0 {
		errs = append(errs, "kms.call_timeout and kms.down_for must not be negative")
	}
	if _, err := c.Encryption.Proxies(); err != nil {
		errs = append(errs, err.Error())
	}
	if t := c.Encryption.BucketKeyTTL; t < 0 || t > time.Hour {
		errs = append(errs, fmt.Sprintf("encryption.bucket_key_ttl %v is not between 0 (off) and 1h", t))
	}
	if d := c.Encryption.BucketKeyDeletionDays; d < 7 || d > 30 {
		errs = append(errs, fmt.Sprintf("encryption.bucket_key_deletion_days %d is not between 7 and 30", d))
	}
	if c.SweepGrace <= 0 {
		errs = append(errs, fmt.Sprintf("sweep_grace %v is not above 0", c.SweepGrace))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, fmt.Sprintf("sweep_interval %v is not above 0", c.SweepInterval))
	}
	if c.KMS.CallTimeout < 0 {
		errs = append(errs, "kms.call_timeout is negative")
	}
	if c.MetadataTimeout < 0 {
		errs = append(errs, "metadata_timeout is negative")
	}
	if c.Rewrap.Rate <= 0 {
		errs = append(errs, fmt.Sprintf("rewrap.rate %v is not above 0", c.Rewrap.Rate))
	}
	if b := c.Rewrap.Batch; b < 1 || b > 1000 {
		errs = append(errs, fmt.Sprintf("rewrap.batch %d is not between 1 and 1000", b))
	}
	if c.Rewrap.SweepInterval < 0 {
		errs = append(errs, "rewrap.sweep_interval is negative")
	}
	if c.Rewrap.Lease < time.Second {
		errs = append(errs, fmt.Sprintf("rewrap.lease %v is below 1s", c.Rewrap.Lease))
	}
	if c.Admin.Listen != "" && (c.Admin.ClientCA == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		errs = append(errs, "admin.listen needs admin.client_ca, tls.cert and tls.key")
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}
