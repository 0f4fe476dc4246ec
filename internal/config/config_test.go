package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExpand(t *testing.T) {
	env := lookupFrom(map[string]string{"A": "x", "DSN": "postgres://u:p@h/db", "EMPTY": ""})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "x"},
		{in: "pre-${A}-post", want: "pre-x-post"},
		{in: "${DSN}", want: "postgres://u:p@h/db"},
		{in: "${EMPTY}", want: ""},
		{in: "$$ and $ alone", want: "$ and $ alone"},
		{in: "${MISSING}", err: "MISSING is not set"},
		{in: "${A", err: "unterminated"},
		{in: "${1A}", err: "invalid variable name"},
		{in: "${}", err: "invalid variable name"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadKMS(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kms.yaml")
	const file = `
listen: 127.0.0.1:9000
tls: {cert: /c, key: /k, client_ca: /ca}
kmip: {listen: ":5696"}
store: {driver: postgres, dsn: "${TEST_S3KMS_DSN}"}
protector: {kind: software, master_key_env: S3KMS_MASTER_KEY}
cache: {size: 5, ttl: 1m}
policies:
  - name: admin
    identities: ["${TEST_S3KMS_ID}"]
    allow: [{ops: ["*"], keys: ["*"]}]
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_S3KMS_DSN", "host=/tmp dbname=kms # not: yaml")
	t.Setenv("TEST_S3KMS_ID", "123")
	cfg, err := LoadKMS(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.DSN != "host=/tmp dbname=kms # not: yaml" {
		t.Errorf("DSN = %q: the variable's content must stay one string", cfg.Store.DSN)
	}
	if cfg.Cache.TTL != time.Minute || cfg.Cache.Size != 5 || cfg.Listen != "127.0.0.1:9000" {
		t.Errorf("cache/listen = %+v %q", cfg.Cache, cfg.Listen)
	}
	if cfg.Deletion.MinDays != 7 {
		t.Errorf("defaults lost: %+v", cfg.Deletion)
	}
	if cfg.KMIP.Listen != ":5696" {
		t.Errorf("kmip.listen = %q", cfg.KMIP.Listen)
	}
	if DefaultKMS().KMIP.Listen != "" {
		t.Error("KMIP must be off by default")
	}
	if cfg.Policies[0].Identities[0] != "123" {
		t.Errorf("identities = %v", cfg.Policies[0].Identities)
	}
}

func TestLoadKMSErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"unknown field", "listen: x\nlistne: y\n", "field listne not found"},
		{"missing tls", "listen: x\npolicies: [{name: a}]\nprotector: {kind: software, master_key_file: f}\n", "tls.cert"},
		{"bad driver", "store: {driver: mysql}\n", "mysql"},
		{"unset env", "store: {dsn: \"${TEST_S3KMS_UNSET_VAR}\"}\n", "TEST_S3KMS_UNSET_VAR is not set"},
		{"bad yaml", "listen: [\n", "yaml"},
		{"two master sources", "protector: {kind: software, master_key_file: a, master_key_env: B}\n", "exactly one"},
		{"previous is current", "protector: {kind: software, master_key_file: a, previous_master_key_files: [a]}\n", "lists the current master key source"},
		{"previous twice", "protector: {kind: software, master_key_env: A, previous_master_key_envs: [B, B]}\n", `lists "B" twice`},
		{"previous empty", "protector: {kind: software, master_key_file: a, previous_master_key_files: [\"\"]}\n", "empty entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKMS(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestPolicyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kms.yaml", `
tls: {cert: /c, key: /k, client_ca: /ca}
protector: {kind: software, master_key_file: /m}
policy_file: policies.yaml
`)
	write("policies.yaml", `
policies:
  - name: s3node
    identity_certs: [/etc/s3node.crt]
    allow: [{ops: [generate, decrypt], keys: ["bucket/*"]}]
`)
	cfg, err := LoadKMS(filepath.Join(dir, "kms.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Policies) != 1 || cfg.Policies[0].Name != "s3node" {
		t.Fatalf("policies = %+v", cfg.Policies)
	}
	write("policies.yaml", "policies: [{name: x, nope: 1}]\n")
	if _, err := LoadKMS(filepath.Join(dir, "kms.yaml")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown field in policy file: %v", err)
	}
}

// TestS3Encryption checks the encryption section: proxies are addresses or
// CIDR prefixes, and the key deletion wait stays within AWS's 7–30 days.
func TestS3Encryption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enc     Encryption
		wantErr string
	}{
		{"defaults", DefaultS3().Encryption, ""},
		{"proxies", Encryption{TrustedProxies: []string{"10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8"}, BucketKeyDeletionDays: 7}, ""},
		{"bad proxy", Encryption{TrustedProxies: []string{"proxy.example"}, BucketKeyDeletionDays: 30}, "trusted_proxies"},
		{"too short", Encryption{BucketKeyDeletionDays: 6}, "bucket_key_deletion_days"},
		{"too long", Encryption{BucketKeyDeletionDays: 31}, "bucket_key_deletion_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultS3()
			c.TLS.Cert, c.TLS.Key = "c", "k"
			c.KMS = KMSClient{Endpoint: "https://kms", CAFile: "ca", Cert: "c", Key: "k"}
			c.Encryption = tc.enc
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
	p, err := Encryption{TrustedProxies: []string{"192.168.1.7", "10.1.2.3/8"}}.Proxies()
	if err != nil || len(p) != 2 || p[0].String() != "192.168.1.7/32" || p[1].String() != "10.0.0.0/8" {
		t.Fatalf("Proxies = %v, %v", p, err)
	}
}

// TestProtectorPKCS11 checks the pkcs11 protector's fields: module, token
// and exactly one PIN source are required, the master key id defaults,
// and the fields of one kind are refused with the other.
func TestProtectorPKCS11(t *testing.T) {
	const head = "tls: {cert: /c, key: /k, client_ca: /ca}\npolicies: [{name: a}]\n"
	tests := []struct {
		name, protector, wantErr string
		want                     PKCS11
	}{
		{name: "minimal", protector: "{kind: pkcs11, module: /lib/p11.so, token_label: kms, pin_file: /etc/pin}",
			want: PKCS11{Module: "/lib/p11.so", TokenLabel: "kms", PINFile: "/etc/pin", MasterKeyID: DefaultMasterKeyID}},
		{name: "all", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: PIN, master_key_id: m2, previous_master_key_ids: [m1, m0]}",
			want: PKCS11{Module: "/m.so", TokenLabel: "t", PINEnv: "PIN", MasterKeyID: "m2", PreviousMasterKeyIDs: []string{"m1", "m0"}}},
		{name: "no module", protector: "{kind: pkcs11, token_label: t, pin_env: P}", wantErr: "protector.module"},
		{name: "no token", protector: "{kind: pkcs11, module: /m.so, pin_env: P}", wantErr: "protector.token_label is required"},
		{name: "no pin", protector: "{kind: pkcs11, module: /m.so, token_label: t}", wantErr: "exactly one of protector.pin_file and protector.pin_env"},
		{name: "two pins", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, pin_file: /f}", wantErr: "exactly one of protector.pin_file"},
		{name: "software key with pkcs11", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, master_key_file: /k}", wantErr: "are for the software protector"},
		{name: "pkcs11 field with software", protector: "{kind: software, master_key_file: /k, token_label: t}", wantErr: "are for the pkcs11 protector"},
		{name: "software previous masters with pkcs11", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, previous_master_key_files: [/old]}", wantErr: "use protector.previous_master_key_ids"},
		{name: "previous is current", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, previous_master_key_ids: [s3kms-master]}", wantErr: `lists the current master key id "s3kms-master"`},
		{name: "previous twice", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, master_key_id: b, previous_master_key_ids: [a, a]}", wantErr: `lists "a" twice`},
		{name: "previous empty", protector: "{kind: pkcs11, module: /m.so, token_label: t, pin_env: P, previous_master_key_ids: [\"\"]}", wantErr: "empty entry"},
		{name: "unknown kind", protector: "{kind: tpm}", wantErr: `"tpm" is not supported (software or pkcs11)`},
		{name: "typo", protector: "{kind: pkcs11, module: /m.so, token_lable: t, pin_env: P}", wantErr: "field token_lable not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kms.yaml")
			if err := os.WriteFile(path, []byte(head+"protector: "+tt.protector+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadKMS(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Protector.PKCS11, tt.want) || cfg.Protector.Kind != "pkcs11" {
				t.Errorf("protector = %+v, want %+v", cfg.Protector, tt.want)
			}
		})
	}
}

// TestLoadPKCS11 reads the protector section alone: the rest of the file
// may be incomplete, the protector may not.
func TestLoadPKCS11(t *testing.T) {
	for _, tt := range []struct{ name, file, wantErr string }{
		{"protector only", "protector: {kind: pkcs11, module: /m.so, token_label: t, pin_file: /p}\n", ""},
		{"software", "protector: {kind: software, master_key_file: /k}\n", `protector.kind is "software", not pkcs11`},
		{"no token", "protector: {kind: pkcs11, module: /m.so, pin_file: /p}\n", "protector.token_label is required"},
		{"unknown field", "protector: {kind: pkcs11, modul: /m.so}\n", "field modul not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kms.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := LoadPKCS11(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || p.MasterKeyID != DefaultMasterKeyID || p.TokenLabel != "t" {
				t.Fatalf("LoadPKCS11 = %+v, %v", p, err)
			}
		})
	}
}

func TestS3Rewrap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rw      Rewrap
		wantErr string
	}{
		{"defaults", DefaultS3().Rewrap, ""},
		{"sweeper off", Rewrap{Rate: 1, Batch: 1, Lease: time.Second}, ""},
		{"no rate", Rewrap{Rate: 0, Batch: 250, Lease: time.Minute}, "rewrap.rate"},
		{"batch too large", Rewrap{Rate: 500, Batch: 1001, Lease: time.Minute}, "rewrap.batch"},
		{"negative sweep", Rewrap{Rate: 500, Batch: 250, SweepInterval: -time.Second, Lease: time.Minute}, "rewrap.sweep_interval"},
		{"short lease", Rewrap{Rate: 500, Batch: 250, Lease: 500 * time.Millisecond}, "rewrap.lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultS3()
			c.TLS.Cert, c.TLS.Key = "c", "k"
			c.KMS = KMSClient{Endpoint: "https://kms", CAFile: "ca", Cert: "c", Key: "k"}
			c.Rewrap = tc.rw
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
