// Package config reads s3kms configuration files (YAML) into Go values.
//
// Secrets are never written into a configuration file: any string value
// may reference environment variables as ${NAME}. References are expanded
// in scalar values after YAML parsing, so a variable's content can never
// change the file's structure; a reference to an unset variable is an
// error rather than an empty string. Unknown fields are errors, so a typo
// does not silently fall back to a default.
package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// KMS is the configuration of `s3kms kms serve`.
type KMS struct {
	// Listen is the address of the HTTPS data-key and admin API.
	Listen string `yaml:"listen"`
	TLS    TLS    `yaml:"tls"`
	// KMIP serves KMIP (TTLV over TLS) with the same certificate, client
	// CA and policy as the HTTPS API. Off unless kmip.listen is set.
	KMIP  KMIP  `yaml:"kmip"`
	Store Store `yaml:"store"`
	// Protector guards root keys: "software" (master key file or env) or
	// "pkcs11" (a master key object in an HSM token).
	Protector Protector `yaml:"protector"`
	Cache     Cache     `yaml:"cache"`
	Deletion  Deletion  `yaml:"deletion"`
	// Policies are the grants of operations on keys to client
	// identities; file only (more can come from policy_file).
	Policies []Policy `yaml:"policies"`
	// PolicyFile names a YAML file with more policies under "policies:",
	// so that access can be managed apart from the server configuration.
	PolicyFile string `yaml:"policy_file"`
	Log        Log    `yaml:"log"`
	// Lifecycle: shutdown_timeout and shutdown_delay.
	Lifecycle `yaml:",inline"`
}

// TLS names the server's certificate and the CA that signs client
// certificates.
type TLS struct {
	// Cert and Key are the server certificate (PEM, with its chain) and
	// its private key; ClientCA is the CA bundle (PEM) that client
	// certificates (S3 nodes, administrators, KMIP clients) must chain
	// to. All three are required: the KMS accepts mutual TLS only.
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
	// ReloadInterval is how often the files above are checked for
	// changes and reloaded (internal/tlsreload); 0 turns polling off
	// (SIGHUP still reloads).
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// KMIP configures the KMIP listener.
type KMIP struct {
	// Listen is the address of the KMIP listener (KMIP's port is 5696);
	// empty disables KMIP.
	Listen string `yaml:"listen"`
}

// Store selects the key store.
type Store struct {
	// Driver is the database: "postgres" (several processes may share
	// one) or "sqlite" (one process).
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string (postgres).
	DSN string `yaml:"dsn"`
	// Path is the database file (sqlite).
	Path string `yaml:"path"`
}

// Protector selects and configures the master-key protector.
type Protector struct {
	// Kind is "software" (the master key comes from master_key_file or
	// master_key_env) or "pkcs11" (the master key is a non-extractable
	// object in an HSM token).
	Kind string `yaml:"kind"`
	// PKCS11 holds the fields of kind pkcs11.
	PKCS11 `yaml:",inline"`
	// MasterKeyFile is a file (mode 0600) holding the 256-bit master key
	// (hex, base64 or raw bytes); software protector.
	MasterKeyFile string `yaml:"master_key_file"`
	// MasterKeyEnv names an environment variable holding the master key
	// (hex or base64); software protector. Set exactly one of
	// MasterKeyFile and MasterKeyEnv.
	MasterKeyEnv string `yaml:"master_key_env"`
	// PreviousMasterKeyFiles are files of the previous master keys during
	// a master-key rotation (software protector): root keys wrapped under
	// them still open until `s3kms admin master rotate` has re-wrapped
	// them under the current one. See docs/master-key-rotation.md.
	PreviousMasterKeyFiles []string `yaml:"previous_master_key_files"`
	// PreviousMasterKeyEnvs names environment variables holding previous
	// master keys, as PreviousMasterKeyFiles.
	PreviousMasterKeyEnvs []string `yaml:"previous_master_key_envs"`
}

// previousMasterErrors checks the previous master key sources: none
// empty, none given twice, none the current master key's source.
func (p Protector) previousMasterErrors() []string {
	var errs []string
	seen := map[string]bool{}
	check := func(field, current string, vals []string) {
		for _, v := range vals {
			switch {
			case v == "":
				errs = append(errs, fmt.Sprintf("protector.%s has an empty entry", field))
			case v == current:
				errs = append(errs, fmt.Sprintf("protector.%s lists the current master key source %q", field, v))
			case seen[field+"\x00"+v]:
				errs = append(errs, fmt.Sprintf("protector.%s lists %q twice", field, v))
			}
			seen[field+"\x00"+v] = true
		}
	}
	check("previous_master_key_files", p.MasterKeyFile, p.PreviousMasterKeyFiles)
	check("previous_master_key_envs", p.MasterKeyEnv, p.PreviousMasterKeyEnvs)
	return errs
}

// DefaultMasterKeyID is the CKA_ID of the HSM master key object when
// protector.master_key_id is not set.
const DefaultMasterKeyID = "s3kms-master"

// PKCS11 configures the pkcs11 protector: the master key is a
// non-extractable key object in an HSM token, found by its CKA_ID.
type PKCS11 struct {
	// Module is the path of the vendor's PKCS#11 library (.so).
	Module string `yaml:"module"`
	// TokenLabel selects the token (slot) by its label.
	TokenLabel string `yaml:"token_label"`
	// PINFile is a file holding the token's user PIN (mode 0600; a
	// trailing newline is ignored).
	PINFile string `yaml:"pin_file"`
	// PINEnv names an environment variable holding the user PIN. Set
	// exactly one of PINFile and PINEnv.
	PINEnv string `yaml:"pin_env"`
	// MasterKeyID is the CKA_ID of the master key (empty: s3kms-master);
	// `s3kms kms hsm init` creates it.
	MasterKeyID string `yaml:"master_key_id"`
	// PreviousMasterKeyIDs are older master keys still in the token
	// during a master-key rotation: roots wrapped under them still open.
	PreviousMasterKeyIDs []string `yaml:"previous_master_key_ids"`
}

// set reports whether any field is set.
func (p PKCS11) set() bool {
	return p.Module != "" || p.TokenLabel != "" || p.PINFile != "" || p.PINEnv != "" || p.MasterKeyID != "" || len(p.PreviousMasterKeyIDs) > 0
}

// pkcs11Errors checks a protector of kind pkcs11.
func (p Protector) pkcs11Errors() []string {
	var errs []string
	if p.Module == "" {
		errs = append(errs, "protector.module (the PKCS#11 library path) is required for the pkcs11 protector")
	}
	if p.TokenLabel == "" {
		errs = append(errs, "protector.token_label is required for the pkcs11 protector")
	}
	if (p.PINFile == "") == (p.PINEnv == "") {
		errs = append(errs, "set exactly one of protector.pin_file and protector.pin_env for the pkcs11 protector")
	}
	if p.MasterKeyFile != "" || p.MasterKeyEnv != "" {
		errs = append(errs, "protector.master_key_file and master_key_env are for the software protector; the pkcs11 protector's master key is protector.master_key_id in the token")
	}
	if len(p.PreviousMasterKeyFiles) > 0 || len(p.PreviousMasterKeyEnvs) > 0 {
		errs = append(errs, "protector.previous_master_key_files and previous_master_key_envs are for the software protector; use protector.previous_master_key_ids with pkcs11")
	}
	current := p.MasterKeyID
	if current == "" {
		current = DefaultMasterKeyID
	}
	seen := map[string]bool{current: true}
	for _, id := range p.PreviousMasterKeyIDs {
		switch {
		case id == "":
			errs = append(errs, "protector.previous_master_key_ids has an empty entry")
		case id == current:
			errs = append(errs, fmt.Sprintf("protector.previous_master_key_ids lists the current master key id %q", id))
		case seen[id]:
			errs = append(errs, fmt.Sprintf("protector.previous_master_key_ids lists %q twice", id))
		}
		seen[id] = true
	}
	return errs
}

// Cache bounds the in-memory cache of opened root-key versions.
type Cache struct {
	// Size is the number of opened root-key versions kept in memory; 0
	// disables the cache (every data-key operation then unwraps its root
	// version with the protector).
	Size int `yaml:"size"`
	// TTL is how long an opened root-key version stays cached (0: the
	// default, 5m). Disabling or rotating a key takes effect at once;
	// the TTL bounds how long key material stays in memory.
	TTL time.Duration `yaml:"ttl"`
}

// Deletion bounds the waiting period of scheduled key deletions, in days.
type Deletion struct {
	// MinDays is the shortest waiting period a scheduled key deletion may
	// ask for (AWS KMS: 7).
	MinDays int `yaml:"min_days"`
	// MaxDays is the longest waiting period, and the one used when a
	// request gives none (AWS KMS: 30).
	MaxDays int `yaml:"max_days"`
}

// Policy grants operations on keys to identities. An identity is the hex
// SHA-256 of a client certificate's public key (`s3kms identity CERT`
// prints it); IdentityCerts names certificate files instead.
type Policy struct {
	// Name labels the policy in logs and the audit log.
	Name string `yaml:"name"`
	// Identities are client identities: the hex SHA-256 of a client
	// certificate's public key.
	Identities []string `yaml:"identities"`
	// IdentityCerts are client certificate files (PEM) whose identities
	// the policy covers, instead of writing the hashes.
	IdentityCerts []string `yaml:"identity_certs"`
	// Allow lists what the identities may do.
	Allow []Rule `yaml:"allow"`
}

// Rule allows operations on keys whose ids match a pattern ("*" wildcard).
type Rule struct {
	// Ops are operations: create, read, rotate, enable, state, delete,
	// generate, decrypt, rewrap, encrypt, audit, master, export,
	// attributes, or "*" for all.
	Ops []string `yaml:"ops"`
	// Keys are key id patterns; "*" matches any run of characters
	// ("bucket/*").
	Keys []string `yaml:"keys"`
}

// Log configures logging.
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is the format of log lines: text (key=value) or json.
	Format string `yaml:"format"`
	// Access writes one "access" line per request at info level (S3
	// requests on an S3 node; HTTP requests and KMIP batch items on a
	// KMS). Default true.
	Access bool `yaml:"access"`
}

// DefaultKMS returns the defaults that a file overrides.
func DefaultKMS() KMS {
	return KMS{
		Listen:    "127.0.0.1:7373",
		TLS:       TLS{ReloadInterval: DefaultTLSReloadInterval},
		Lifecycle: DefaultLifecycle(),
		Store:     Store{Driver: "sqlite", Path: "kms.db"},
		Protector: Protector{Kind: "software"},
		Cache:     Cache{Size: 10000, TTL: 5 * time.Minute},
		Deletion:  Deletion{MinDays: 7, MaxDays: 30},
		Log:       Log{Level: "info", Format: "text", Access: true},
	}
}

// LoadKMS reads a KMS configuration file over the defaults, then the
// S3KMS_KMS_CONFIG_* environment variables over both (ApplyEnv), and the
// policy file if the result names one (a relative path is relative to the
// configuration file). An empty path reads no file: the environment
// supplies what the defaults lack.
func LoadKMS(path string) (KMS, error) {
	cfg, err := readKMS(path)
	if err != nil {
		return KMS{}, err
	}
	if cfg.Protector.Kind == "pkcs11" && cfg.Protector.MasterKeyID == "" {
		cfg.Protector.MasterKeyID = DefaultMasterKeyID
	}
	if cfg.PolicyFile != "" {
		pf := cfg.PolicyFile
		if !filepath.IsAbs(pf) {
			pf = filepath.Join(filepath.Dir(path), pf)
		}
		var extra struct {
			Policies []Policy `yaml:"policies"`
		}
		if err := Load(pf, &extra, os.LookupEnv); err != nil {
			return KMS{}, err
		}
		cfg.Policies = append(cfg.Policies, extra.Policies...)
	}
	return cfg, withoutFileHint(path, KMSEnvPrefix, cfg.Validate())
}

// readKMS is LoadKMS without the policy file, the pkcs11 master key id
// default and validation: the file (if path is not empty) over the
// defaults, and the environment over both.
func readKMS(path string) (KMS, error) {
	cfg := DefaultKMS()
	if err := loadWithEnv(path, &cfg, KMSEnvPrefix, os.Environ()); err != nil {
		return KMS{}, err
	}
	return cfg, nil
}

// loadWithEnv decodes the file at path (if not empty) into v, then
// applies the variables of environ under prefix.
func loadWithEnv(path string, v any, prefix string, environ []string) error {
	if path != "" {
		if err := Load(path, v, os.LookupEnv); err != nil {
			return err
		}
	}
	_, err := ApplyEnv(v, prefix, environ)
	return err
}

// withoutFileHint adds to a validation error, when no configuration file
// was given, where the options come from.
func withoutFileHint(path, prefix string, err error) error {
	if err == nil || path != "" {
		return err
	}
	return fmt.Errorf("%w (no --config given: options come from the defaults and %s* environment variables)", err, prefix)
}

// LoadPKCS11 reads only the protector section of a KMS configuration
// file, for commands that need the HSM but not the rest (`s3kms kms hsm
// init`). The protector must be of kind pkcs11; the master key id gets
// its default.
func LoadPKCS11(path string) (Protector, error) {
	cfg, err := readKMS(path)
	if err != nil {
		return Protector{}, err
	}
	p := cfg.Protector
	if p.Kind != "pkcs11" {
		return Protector{}, fmt.Errorf("config: %s: protector.kind is %q, not pkcs11", path, p.Kind)
	}
	if p.MasterKeyID == "" {
		p.MasterKeyID = DefaultMasterKeyID
	}
	if errs := p.pkcs11Errors(); len(errs) > 0 {
		return Protector{}, fmt.Errorf("config: %s: %s", path, strings.Join(errs, "; "))
	}
	return p, nil
}

// Validate checks values that have no sensible default.
func (c *KMS) Validate() error {
	var errs []string
	if c.Listen == "" {
		errs = append(errs, "listen is empty")
	}
	errs = append(errs, c.Lifecycle.validate(c.TLS.ReloadInterval)...)
	if c.TLS.Cert == "" || c.TLS.Key == "" || c.TLS.ClientCA == "" {
		errs = append(errs, "tls.cert, tls.key and tls.client_ca are required (the KMS serves HTTPS with client certificates only)")
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
	if c.Protector.Kind == "pkcs11" {
		errs = append(errs, c.Protector.pkcs11Errors()...)
	} else if c.Protector.Kind != "software" {
		errs = append(errs, fmt.Sprintf("protector.kind %q is not supported (software or pkcs11)", c.Protector.Kind))
	} else if c.Protector.PKCS11.set() {
		errs = append(errs, "protector.module, token_label, pin_file, pin_env, master_key_id and previous_master_key_ids are for the pkcs11 protector, not software")
	} else if (c.Protector.MasterKeyFile == "") == (c.Protector.MasterKeyEnv == "") {
		errs = append(errs, "set exactly one of protector.master_key_file and protector.master_key_env")
	}
	errs = append(errs, c.Protector.previousMasterErrors()...)
	if len(c.Policies) == 0 {
		errs = append(errs, "policies is empty: no client could do anything")
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Load decodes the YAML file at path into v (a pointer to a struct holding
// defaults), expanding ${NAME} references in scalars with lookup.
func Load(path string, v any, lookup func(string) (string, bool)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := Decode(data, v, lookup); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// Decode is Load on bytes.
func Decode(data []byte, v any, lookup func(string) (string, bool)) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 {
		return nil // empty file: defaults
	}
	var exps []expansion
	if err := expandNode(&doc, lookup, &exps); err != nil {
		return err
	}
	// Re-encode the expanded tree and decode strictly: yaml.Node.Decode
	// cannot reject unknown fields.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	return redact(dec.Decode(v), exps)
}

func expandNode(n *yaml.Node, lookup func(string) (string, bool), exps *[]expansion) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		s, err := Expand(n.Value, lookup)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		*exps = append(*exps, expansion{from: n.Value, to: s})
		n.Value = s
		n.Style = yaml.DoubleQuotedStyle // keep it a string whatever it holds
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		if err := expandNode(c, lookup, exps); err != nil {
			return err
		}
	}
	return nil
}

// Expand replaces ${NAME} references in s. "$$" stands for "$". An unset
// variable or an unterminated reference is an error. The error names the
// variable, never its value.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ reference")
		}
		name := s[i+2 : i+2+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable name %q", name)
		}
		val, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
