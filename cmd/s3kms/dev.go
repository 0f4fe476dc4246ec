package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/pki"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/credentials"
)

// devOptions are the flags of `s3kms dev`.
type devOptions struct {
	dataDir     string
	kmsAddr     string
	kmipAddr    string
	s3Addr      string
	s3HTTPAddr  string
	s3AdminAddr string
	logLvl      string
	// The pkcs11 protector instead of a software master key file.
	hsmModule, hsmToken, hsmPINFile, hsmMasterID string
}

func defaultDevDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".s3kms", "dev")
	}
	return ".s3kms-dev"
}

func newDevCmd() *cobra.Command {
	o := devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process on embedded defaults (SQLite, software master key or an HSM token, self-signed TLS)",
		Long: `dev starts the KMS on embedded defaults for development and evaluation:
SQLite storage, a generated software master key, a generated CA with server
and client certificates. Everything lives in --data-dir; running dev again
on the same directory keeps the keys. DIR/dev.env holds shell exports for
the admin client:

    source DIR/dev.env
    s3kms admin key list

Not for production: the master key sits next to the data it protects.
With --hsm-module, --hsm-token and --hsm-pin-file, root keys are kept
under a master key in that PKCS#11 token instead (dev creates it if
missing); deploy/softhsm/create-token.sh makes a SoftHSM2 token for this.
A data directory stays with the protector it was created with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", defaultDevDir(), "directory for keys, certificates and databases")
	f.StringVar(&o.kmsAddr, "kms-addr", "127.0.0.1:7373", "address of the KMS HTTPS API")
	f.StringVar(&o.kmipAddr, "kmip-addr", "127.0.0.1:5696", "address of the KMIP listener (mutual TLS; empty disables KMIP)")
	f.StringVar(&o.s3Addr, "s3-addr", "127.0.0.1:9000", "address of the S3 API (HTTPS)")
	f.StringVar(&o.s3HTTPAddr, "s3-http-addr", "", "also serve the S3 API over plain HTTP on this address (off by default)")
	f.StringVar(&o.s3AdminAddr, "s3-admin-addr", "127.0.0.1:7374", "address of the S3 node's read-only admin API (rewrap jobs; mutual TLS, admin certificate; empty disables it)")
	f.StringVar(&o.logLvl, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.hsmModule, "hsm-module", "", "PKCS#11 module: use the pkcs11 protector (with --hsm-token and --hsm-pin-file)")
	f.StringVar(&o.hsmToken, "hsm-token", "", "label of the PKCS#11 token")
	f.StringVar(&o.hsmPINFile, "hsm-pin-file", "", "file holding the token's user PIN (mode 0600)")
	f.StringVar(&o.hsmMasterID, "hsm-master-key-id", config.DefaultMasterKeyID, "CKA_ID of the master key in the token")
	return cmd
}

// devConfig prepares the data directory (CA, certificates, master key) and
// returns the KMS configuration for it.
func devConfig(o devOptions) (config.KMS, *pki.Set, error) {
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return config.KMS{}, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return config.KMS{}, nil, err
	}
	set, err := pki.OpenSet(filepath.Join(dir, "tls"), "s3kms dev CA")
	if err != nil {
		return config.KMS{}, nil, err
	}
	host, _, err := splitHost(o.kmsAddr)
	if err != nil {
		return config.KMS{}, nil, err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && !contains(hosts, host) && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	if _, err := set.Ensure("kms", hosts, false); err != nil {
		return config.KMS{}, nil, err
	}
	if _, err := set.Ensure("s3", hosts, false); err != nil {
		return config.KMS{}, nil, err
	}
	if _, err := set.Ensure("admin", nil, true); err != nil {
		return config.KMS{}, nil, err
	}
	if _, err := set.Ensure("s3node", nil, true); err != nil {
		return config.KMS{}, nil, err
	}
	protector, err := devProtector(o, dir)
	if err != nil {
		return config.KMS{}, nil, err
	}
	cfg := config.DefaultKMS()
	cfg.Listen = o.kmsAddr
	cfg.KMIP.Listen = o.kmipAddr
	kmsCert, kmsKey := set.Files("kms")
	cfg.TLS = config.TLS{Cert: kmsCert, Key: kmsKey, ClientCA: set.CAFile()}
	cfg.Store = config.Store{Driver: "sqlite", Path: filepath.Join(dir, "kms.db")}
	cfg.Protector = protector
	adminCert, _ := set.Files("admin")
	s3Cert, _ := set.Files("s3node")
	cfg.Policies = []config.Policy{
		{Name: "admin", IdentityCerts: []string{adminCert}, Allow: []config.Rule{{Ops: []string{"*"}, Keys: []string{"*"}}}},
		{Name: "s3node", IdentityCerts: []string{s3Cert}, Allow: []config.Rule{
			// Bucket root keys: made at CreateBucket, scheduled for
			// deletion at DeleteBucket, used for SSE-S3.
			// read: the rewrap sweeper asks for their current version.
			{Ops: []string{"create", "generate", "decrypt", "rewrap", "read", "delete"}, Keys: []string{"bucket/*"}},
			// Named keys for SSE-KMS (s3kms admin key create ID).
			{Ops: []string{"generate", "decrypt", "rewrap", "read"}, Keys: []string{"*"}},
			// User secrets are sealed under s3node/users.
			{Ops: []string{"encrypt", "decrypt"}, Keys: []string{"s3node/*"}},
		}},
	}
	cfg.Log.Level = o.logLvl
	return cfg, set, cfg.Validate()
}

// devProtector returns the protector of the data directory dir: a
// software master key file in dir (made once), or with the --hsm flags the
// token's master key (made once with pkcs11.InitMaster). dir/hsm.token
// records the token; a directory never switches protector or token, since
// its keys would no longer open.
func devProtector(o devOptions, dir string) (config.Protector, error) {
	masterFile := filepath.Join(dir, "master.key")
	tokenFile := filepath.Join(dir, "hsm.token")
	_, masterErr := os.Stat(masterFile)
	recorded, tokenErr := os.ReadFile(tokenFile)
	if o.hsmModule == "" && o.hsmToken == "" && o.hsmPINFile == "" {
		if tokenErr == nil {
			return config.Protector{}, fmt.Errorf("%s was created with the HSM token in %s: run dev with the same --hsm-module, --hsm-token and --hsm-pin-file, or use another --data-dir", dir, tokenFile)
		}
		if os.IsNotExist(masterErr) {
			if err := software.GenerateMasterKeyFile(masterFile); err != nil {
				return config.Protector{}, err
			}
		}
		return config.Protector{Kind: "software", MasterKeyFile: masterFile}, nil
	}
	if o.hsmModule == "" || o.hsmToken == "" || o.hsmPINFile == "" {
		return config.Protector{}, errors.New("--hsm-module, --hsm-token and --hsm-pin-file go together")
	}
	if masterErr == nil {
		return config.Protector{}, fmt.Errorf("%s holds keys under the software master key %s: use another --data-dir for the HSM", dir, masterFile)
	}
	pinFile, err := filepath.Abs(o.hsmPINFile)
	if err != nil {
		return config.Protector{}, err
	}
	p := config.Protector{Kind: "pkcs11", PKCS11: config.PKCS11{
		Module: o.hsmModule, TokenLabel: o.hsmToken, PINFile: pinFile, MasterKeyID: o.hsmMasterID,
	}}
	record := fmt.Sprintf("token_label: %q\nmaster_key_id: %q\n", p.TokenLabel, p.MasterKeyID)
	switch {
	case tokenErr == nil && string(recorded) != record:
		return config.Protector{}, fmt.Errorf("%s was created with another HSM token or master key (%s): use the same --hsm-token and --hsm-master-key-id, or another --data-dir", dir, tokenFile)
	case tokenErr != nil && !os.IsNotExist(tokenErr):
		return config.Protector{}, tokenErr
	}
	cfg, err := pkcs11Config(p)
	if err != nil {
		return config.Protector{}, err
	}
	if _, err := initMaster(cfg); err != nil {
		return config.Protector{}, err
	}
	if tokenErr != nil {
		if err := os.WriteFile(tokenFile, []byte(record), 0o600); err != nil {
			return config.Protector{}, err
		}
	}
	return p, nil
}

func runDev(cmd *cobra.Command, o devOptions) error {
	cfg, set, err := devConfig(o)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, cmd.ErrOrStderr())
	rt, err := startKMS(cmd.Context(), cfg, logger)
	if err != nil {
		return err
	}
	defer rt.Close()
	dir := filepath.Dir(set.Dir)
	ctx := cmd.Context()
	s3cfg := devS3Config(o, dir, set, "https://"+dialAddr(rt.Addr()))
	if err := writeYAML(filepath.Join(dir, "s3.yaml"), s3cfg); err != nil {
		return err
	}
	// The key that seals S3 users' secrets.
	adminCert, adminKey := set.Files("admin")
	adminX509, err := pki.LoadCertificate(adminCert)
	if err != nil {
		return err
	}
	admin := kms.WithIdentity(ctx, kms.IdentityOf(adminX509))
	if _, err := rt.service.CreateKey(admin, kms.CreateKeyRequest{ID: s3cfg.UsersKey, Description: "seals S3 user secret keys"}); err != nil && kms.ErrorCode(err) != kms.EConflict {
		return err
	}
	s3rt, err := startS3(ctx, s3cfg, logger)
	if err != nil {
		return err
	}
	defer s3rt.Close()
	main, err := ensureUser(ctx, s3rt.users, devAccessKey, "dev")
	if err != nil {
		return err
	}
	alt, err := ensureUser(ctx, s3rt.users, devAltAccessKey, "alt")
	if err != nil {
		return err
	}
	s3URL := "https://" + dialAddr(s3rt.Addr())
	env := [][2]string{
		{"S3KMS_KMS_ENDPOINT", "https://" + dialAddr(rt.Addr())},
		{"S3KMS_CA_FILE", set.CAFile()},
		{"S3KMS_CLIENT_CERT", adminCert},
		{"S3KMS_CLIENT_KEY", adminKey},
		{"S3KMS_S3_ENDPOINT", s3URL},
		{"AWS_ENDPOINT_URL", s3URL},
		{"AWS_ACCESS_KEY_ID", main.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", main.SecretAccessKey},
		{"AWS_DEFAULT_REGION", s3cfg.Region},
		{"AWS_CA_BUNDLE", set.CAFile()},
		{"S3KMS_ALT_ACCESS_KEY_ID", alt.AccessKeyID},
		{"S3KMS_ALT_SECRET_ACCESS_KEY", alt.SecretAccessKey},
	}
	if a := s3rt.HTTPAddr(); a != "" {
		env = append(env, [2]string{"S3KMS_S3_HTTP_ENDPOINT", "http://" + dialAddr(a)})
	}
	if a := s3rt.AdminAddr(); a != "" {
		// The admin certificate above is an admin API client certificate.
		env = append(env, [2]string{"S3KMS_S3_ADMIN_ENDPOINT", "https://" + dialAddr(a)})
	}
	if a := rt.KMIPAddr(); a != "" {
		// host:port; the admin certificate above is a KMIP client
		// certificate too.
		env = append(env, [2]string{"S3KMS_KMIP_ADDR", dialAddr(a)})
	}
	envFile := filepath.Join(dir, "dev.env")
	if err := writeEnvFile(envFile, env); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "s3kms dev is running (data in %s)\n", dir)
	fmt.Fprintf(out, "  KMS API:  https://%s (mutual TLS)\n", dialAddr(rt.Addr()))
	fmt.Fprintf(out, "  S3 API:   %s\n", s3URL)
	if a := s3rt.AdminAddr(); a != "" {
		fmt.Fprintf(out, "  S3 admin: https://%s (rewrap jobs; mutual TLS, admin certificate)\n", dialAddr(a))
	}
	if a := rt.KMIPAddr(); a != "" {
		fmt.Fprintf(out, "  KMIP:     %s (mutual TLS, admin certificate)\n", dialAddr(a))
	}
	if p := cfg.Protector; p.Kind == "pkcs11" {
		fmt.Fprintf(out, "  Keys:     under master key %q in PKCS#11 token %q (%s)\n", p.MasterKeyID, p.TokenLabel, p.Module)
	}
	fmt.Fprintf(out, "In another shell:\n  source %s\n  aws s3 mb s3://demo && aws s3 cp README.md s3://demo/ && aws s3 ls s3://demo\n  s3kms admin key list    (or: go run ./cmd/s3kms admin key list)\n", envFile)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-cmd.Context().Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// Fixed access key ids of the two dev users, so that re-running dev on the
// same directory finds them again (their secrets are unsealed by the KMS).
const (
	devAccessKey    = "S3KMSDEVUSER0001"
	devAltAccessKey = "S3KMSDEVUSER0002"
)

// devS3Config is the S3 node's configuration under dir.
func devS3Config(o devOptions, dir string, set *pki.Set, kmsURL string) config.S3 {
	cfg := config.DefaultS3()
	cfg.Listen = o.s3Addr
	cfg.HTTPListen = o.s3HTTPAddr
	if o.s3AdminAddr != "" {
		cfg.Admin = config.S3Admin{Listen: o.s3AdminAddr, ClientCA: set.CAFile()}
	}
	cfg.TLS.Cert, cfg.TLS.Key = set.Files("s3")
	cfg.Store = config.Store{Driver: "sqlite", Path: filepath.Join(dir, "s3.db")}
	cfg.DataDir = filepath.Join(dir, "data")
	nodeCert, nodeKey := set.Files("s3node")
	cfg.KMS = config.KMSClient{Endpoint: kmsURL, CAFile: set.CAFile(), Cert: nodeCert, Key: nodeKey}
	cfg.Log.Level = o.logLvl
	return cfg
}

// ensureUser returns the user's credentials, creating the user if needed.
func ensureUser(ctx context.Context, users *credentials.Users, accessKey, name string) (credentials.Created, error) {
	_, secret, err := users.LookupUser(ctx, accessKey)
	if err == nil {
		defer clear(secret)
		return credentials.Created{AccessKeyID: accessKey, SecretAccessKey: string(secret), DisplayName: name}, nil
	}
	if s3node.ErrorCode(err) != s3node.ENotFound {
		return credentials.Created{}, err
	}
	return users.Create(ctx, accessKey, name)
}

// writeYAML writes v as YAML with mode 0600.
func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("# Written by `s3kms dev`: the S3 node's configuration.\n"), b...), 0o600)
}

// writeEnvFile writes shell export lines atomically with mode 0600.
func writeEnvFile(path string, env [][2]string) error {
	var b strings.Builder
	b.WriteString("# Written by `s3kms dev`. Use: source this file\n")
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// shellQuote quotes s for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
