package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// kinds has a field of every kind ApplyEnv handles, and some it does not.
type kinds struct {
	S     string        `yaml:"s"`
	B     bool          `yaml:"b"`
	I     int           `yaml:"i"`
	I8    int8          `yaml:"i8"`
	U     uint16        `yaml:"u"`
	F     float64       `yaml:"f"`
	D     time.Duration `yaml:"d"`
	L     []string      `yaml:"l"`
	LI    []int         `yaml:"li"`
	P     *bool         `yaml:"p"`
	Inner struct {
		Name string `yaml:"name_x"`
	} `yaml:"inner"`
	Inline `yaml:",inline"`
	NoTag  string
	Skip   string `yaml:"-"`
	Rules  []Rule `yaml:"rules"`
	M      map[string]string
}

type Inline struct {
	Flat string `yaml:"flat"`
}

func TestApplyEnvKinds(t *testing.T) {
	yes := true
	tests := []struct {
		name, env string
		want      func(*kinds)
		err       string // substring of the error; "" for none
	}{
		{name: "string", env: "T_S=a b=c", want: func(k *kinds) { k.S = "a b=c" }},
		{name: "empty string", env: "T_S=", want: func(k *kinds) { k.S = "" }},
		{name: "string literal, no expansion", env: "T_S=${HOME}", want: func(k *kinds) { k.S = "${HOME}" }},
		{name: "bool", env: "T_B=true", want: func(k *kinds) { k.B = true }},
		{name: "bool 0", env: "T_B=0", want: func(k *kinds) { k.B = false }},
		{name: "int", env: "T_I=-42", want: func(k *kinds) { k.I = -42 }},
		{name: "int8", env: "T_I8=127", want: func(k *kinds) { k.I8 = 127 }},
		{name: "uint", env: "T_U= 8080 ", want: func(k *kinds) { k.U = 8080 }},
		{name: "float", env: "T_F=2.5", want: func(k *kinds) { k.F = 2.5 }},
		{name: "duration", env: "T_D=1h30m", want: func(k *kinds) { k.D = 90 * time.Minute }},
		{name: "list", env: "T_L=a, b ,c", want: func(k *kinds) { k.L = []string{"a", "b", "c"} }},
		{name: "empty list", env: "T_L=", want: func(k *kinds) { k.L = []string{} }},
		{name: "int list", env: "T_LI=1,2", want: func(k *kinds) { k.LI = []int{1, 2} }},
		{name: "pointer", env: "T_P=true", want: func(k *kinds) { k.P = &yes }},
		{name: "nested", env: "T_INNER_NAME_X=n", want: func(k *kinds) { k.Inner.Name = "n" }},
		{name: "inline", env: "T_FLAT=f", want: func(k *kinds) { k.Flat = "f" }},
		{name: "untagged", env: "T_NOTAG=u", want: func(k *kinds) { k.NoTag = "u" }},
		{name: "other prefix ignored", env: "S3KMS_T=x", want: func(*kinds) {}},
		{name: "bad bool", env: "T_B=secret-yes", err: "T_B (b): not a boolean"},
		{name: "bad int", env: "T_I=secret-1", err: "T_I (i): not an integer"},
		{name: "int overflow", env: "T_I8=300", err: "T_I8 (i8): not an integer (of 8 bits)"},
		{name: "negative uint", env: "T_U=-1", err: "T_U (u): not a non-negative integer"},
		{name: "bad float", env: "T_F=secret", err: "T_F (f): not a number"},
		{name: "bad duration", env: "T_D=secret-5", err: "T_D (d): not a duration"},
		{name: "duration without unit", env: "T_D=5", err: "T_D (d): not a duration"},
		{name: "bad list item", env: "T_LI=1,secret", err: "T_LI (li): item 2: not an integer"},
		{name: "unknown", env: "T_NOPE=secret", err: "T_NOPE names no option"},
		{name: "skipped field is unknown", env: "T_SKIP=secret", err: "T_SKIP names no option"},
		{name: "struct is not an option", env: "T_INNER=secret", err: "T_INNER names no option"},
		{name: "file-only list", env: "T_RULES=secret", err: "T_RULES: rules can only be set in the configuration file"},
		{name: "file-only map", env: "T_M=secret", err: "T_M: m can only be set in the configuration file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want kinds
			applied, err := ApplyEnv(&got, "T_", []string{tt.env, "PATH=/bin", "MALFORMED"})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			name, _, _ := strings.Cut(tt.env, "=")
			if strings.HasPrefix(name, "T_") && (len(applied) != 1 || applied[0] != name) {
				t.Errorf("applied = %v, want [%s]", applied, name)
			}
		})
	}
}

func TestApplyEnvAllErrors(t *testing.T) {
	var k kinds
	_, err := ApplyEnv(&k, "T_", []string{"T_D=x", "T_NOPE=y", "T_S=ok"})
	if err == nil || !strings.Contains(err.Error(), "T_D") || !strings.Contains(err.Error(), "T_NOPE") {
		t.Fatalf("error = %v, want both variables named", err)
	}
}

// TestOptionsUnique checks that no two options of a service map to the
// same environment variable (a.b_c and a_b.c would).
func TestOptionsUnique(t *testing.T) {
	k, s := DefaultKMS(), DefaultS3()
	for _, o := range append(Options(&k, KMSEnvPrefix), Options(&s, S3EnvPrefix)...) {
		if o.Env == "" && !strings.HasPrefix(o.Type, "list of ") && !strings.HasPrefix(o.Type, "map ") {
			t.Errorf("%s (%s) can be set neither from the environment nor is it a list or map", o.Path, o.Type)
		}
	}
	// Options panics on a collision; make sure it does.
	type clash struct {
		A struct {
			BC string `yaml:"b_c"`
		} `yaml:"a"`
		AB struct {
			C string `yaml:"c"`
		} `yaml:"a_b"`
	}
	defer func() {
		if recover() == nil {
			t.Error("Options accepted a.b_c and a_b.c")
		}
	}()
	Options(&clash{}, "T_")
}

// TestOptionNames pins the names the brief and the docs promise.
func TestOptionNames(t *testing.T) {
	k, s := DefaultKMS(), DefaultS3()
	names := map[string]string{}
	for _, o := range append(Options(&k, KMSEnvPrefix), Options(&s, S3EnvPrefix)...) {
		names[o.Env] = o.Path
	}
	for env, path := range map[string]string{
		"S3KMS_KMS_CONFIG_STORE_DSN":                         "store.dsn",
		"S3KMS_KMS_CONFIG_PROTECTOR_TOKEN_LABEL":             "protector.token_label",
		"S3KMS_KMS_CONFIG_CACHE_TTL":                         "cache.ttl",
		"S3KMS_S3_CONFIG_KMS_ENDPOINT":                       "kms.endpoint",
		"S3KMS_S3_CONFIG_ENCRYPTION_DEFAULT_SSE_S3":          "encryption.default_sse_s3",
		"S3KMS_S3_CONFIG_ENCRYPTION_TRUSTED_PROXIES":         "encryption.trusted_proxies",
		"S3KMS_S3_CONFIG_TLS_CERT":                           "tls.cert",
		"S3KMS_KMS_CONFIG_PROTECTOR_PREVIOUS_MASTER_KEY_IDS": "protector.previous_master_key_ids",
	} {
		if names[env] != path {
			t.Errorf("%s sets %q, want %q", env, names[env], path)
		}
	}
	// The variables the program already uses for other things must not
	// have the prefixes.
	for _, v := range []string{"S3KMS_KMS_ENDPOINT", "S3KMS_KMS_DSN", "S3KMS_S3_ENDPOINT", "S3KMS_S3_ADMIN_ENDPOINT", "S3KMS_S3_HTTP_ENDPOINT", "S3KMS_S3_DSN"} {
		if strings.HasPrefix(v, KMSEnvPrefix) || strings.HasPrefix(v, S3EnvPrefix) {
			t.Errorf("%s has an override prefix", v)
		}
	}
}

const envS3File = `
listen: 127.0.0.1:9443
tls: {cert: /c, key: /k}
store: {driver: postgres, dsn: "postgres://file"}
kms: {endpoint: "https://kms-from-file:7373", ca_file: /ca, cert: /nc, key: /nk}
rewrap: {rate: 100}
`

func TestLoadS3Env(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s3.yaml")
	if err := os.WriteFile(path, []byte(envS3File), 0o600); err != nil {
		t.Fatal(err)
	}
	// Variables the program uses for other purposes are not options.
	t.Setenv("S3KMS_S3_ENDPOINT", "https://127.0.0.1:1")
	t.Setenv("S3KMS_S3_ADMIN_ENDPOINT", "https://127.0.0.1:2")
	t.Setenv("S3KMS_KMS_ENDPOINT", "https://127.0.0.1:3")
	tests := []struct {
		name  string
		path  string
		env   map[string]string
		check func(t *testing.T, c S3)
		err   string
	}{
		{
			name: "file over defaults",
			path: path,
			check: func(t *testing.T, c S3) {
				if c.Listen != "127.0.0.1:9443" || c.Rewrap.Rate != 100 || c.Rewrap.Batch != 250 || c.Region != "us-east-1" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "environment over file and defaults",
			path: path,
			env: map[string]string{
				"S3KMS_S3_CONFIG_KMS_ENDPOINT":               "https://kms-from-env:7373",
				"S3KMS_S3_CONFIG_REWRAP_RATE":                "25.5",
				"S3KMS_S3_CONFIG_REWRAP_BATCH":               "10",
				"S3KMS_S3_CONFIG_ENCRYPTION_DEFAULT_SSE_S3":  "true",
				"S3KMS_S3_CONFIG_ENCRYPTION_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1",
				"S3KMS_S3_CONFIG_SWEEP_GRACE":                "2h",
			},
			check: func(t *testing.T, c S3) {
				if c.KMS.Endpoint != "https://kms-from-env:7373" || c.KMS.CAFile != "/ca" {
					t.Errorf("kms = %+v", c.KMS)
				}
				if c.Rewrap.Rate != 25.5 || c.Rewrap.Batch != 10 || c.SweepGrace != 2*time.Hour {
					t.Errorf("rewrap = %+v, sweep_grace = %v", c.Rewrap, c.SweepGrace)
				}
				if !c.Encryption.DefaultSSES3 || len(c.Encryption.TrustedProxies) != 2 {
					t.Errorf("encryption = %+v", c.Encryption)
				}
			},
		},
		{
			name: "no file: environment only",
			env: map[string]string{
				"S3KMS_S3_CONFIG_HTTP_LISTEN":  "127.0.0.1:0",
				"S3KMS_S3_CONFIG_LISTEN":       "",
				"S3KMS_S3_CONFIG_KMS_ENDPOINT": "https://kms:7373",
				"S3KMS_S3_CONFIG_KMS_CA_FILE":  "/ca",
				"S3KMS_S3_CONFIG_KMS_CERT":     "/c",
				"S3KMS_S3_CONFIG_KMS_KEY":      "/k",
			},
			check: func(t *testing.T, c S3) {
				if c.HTTPListen != "127.0.0.1:0" || c.Listen != "" || c.Store.Driver != "sqlite" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "no file, nothing set: validation names the variables",
			err:  "no --config given: options come from the defaults and S3KMS_S3_CONFIG_* environment variables",
		},
		{
			name: "validation runs after the environment",
			path: path,
			env:  map[string]string{"S3KMS_S3_CONFIG_REWRAP_BATCH": "5000"},
			err:  "rewrap.batch 5000 is not between 1 and 1000",
		},
		{
			name: "bad duration names the variable, not the value",
			path: path,
			env:  map[string]string{"S3KMS_S3_CONFIG_REWRAP_LEASE": "hunter2"},
			err:  "S3KMS_S3_CONFIG_REWRAP_LEASE (rewrap.lease): not a duration",
		},
		{
			name: "typo is an error",
			path: path,
			env:  map[string]string{"S3KMS_S3_CONFIG_KMS_ENDPIONT": "https://x"},
			err:  "S3KMS_S3_CONFIG_KMS_ENDPIONT names no option",
		},
		{
			name: "the KMS prefix does not touch the S3 configuration",
			path: path,
			env:  map[string]string{"S3KMS_KMS_CONFIG_NOPE": "x"},
			check: func(t *testing.T, c S3) {
				if c.Listen != "127.0.0.1:9443" {
					t.Errorf("got %+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := LoadS3(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadKMSEnv(t *testing.T) {
	dir := t.TempDir()
	const policies = "policies:\n  - name: admin\n    identities: [abc]\n    allow: [{ops: [\"*\"], keys: [\"*\"]}]\n"
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(policies), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kms.yaml")
	const file = `
tls: {cert: /c, key: /k, client_ca: /ca}
store: {driver: postgres, dsn: "postgres://file"}
protector: {kind: software, master_key_file: /m}
cache: {size: 5}
` + policies
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		env   map[string]string
		check func(t *testing.T, c KMS)
		err   string
	}{
		{
			name: "environment over file over defaults",
			path: path,
			env: map[string]string{
				"S3KMS_KMS_CONFIG_STORE_DSN":  "postgres://env",
				"S3KMS_KMS_CONFIG_CACHE_TTL":  "30s",
				"S3KMS_KMS_CONFIG_LOG_FORMAT": "json",
			},
			check: func(t *testing.T, c KMS) {
				if c.Store.DSN != "postgres://env" || c.Cache.Size != 5 || c.Cache.TTL != 30*time.Second || c.Log.Format != "json" || c.Listen != "127.0.0.1:7373" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "pkcs11 from the environment gets the default master key id",
			path: path,
			env: map[string]string{
				"S3KMS_KMS_CONFIG_PROTECTOR_KIND":            "pkcs11",
				"S3KMS_KMS_CONFIG_PROTECTOR_MASTER_KEY_FILE": "",
				"S3KMS_KMS_CONFIG_PROTECTOR_MODULE":          "/lib/p11.so",
				"S3KMS_KMS_CONFIG_PROTECTOR_TOKEN_LABEL":     "t",
				"S3KMS_KMS_CONFIG_PROTECTOR_PIN_ENV":         "PIN",
			},
			check: func(t *testing.T, c KMS) {
				if c.Protector.Kind != "pkcs11" || c.Protector.MasterKeyID != DefaultMasterKeyID || c.Protector.TokenLabel != "t" {
					t.Errorf("protector = %+v", c.Protector)
				}
			},
		},
		{
			name: "no file: policies from a policy file named in the environment",
			env: map[string]string{
				"S3KMS_KMS_CONFIG_TLS_CERT":                  "/c",
				"S3KMS_KMS_CONFIG_TLS_KEY":                   "/k",
				"S3KMS_KMS_CONFIG_TLS_CLIENT_CA":             "/ca",
				"S3KMS_KMS_CONFIG_PROTECTOR_MASTER_KEY_FILE": "/m",
				"S3KMS_KMS_CONFIG_POLICY_FILE":               filepath.Join(dir, "policies.yaml"),
			},
			check: func(t *testing.T, c KMS) {
				if len(c.Policies) != 1 || c.Store.Path != "kms.db" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "policies are file-only",
			path: path,
			env:  map[string]string{"S3KMS_KMS_CONFIG_POLICIES": "x"},
			err:  "S3KMS_KMS_CONFIG_POLICIES: policies can only be set in the configuration file",
		},
		{
			name: "validation runs after the environment",
			path: path,
			env:  map[string]string{"S3KMS_KMS_CONFIG_STORE_DRIVER": "mysql"},
			err:  `store.driver "mysql" is not postgres or sqlite`,
		},
		{
			name: "bad int names the variable",
			path: path,
			env:  map[string]string{"S3KMS_KMS_CONFIG_DELETION_MIN_DAYS": "hunter2"},
			err:  "S3KMS_KMS_CONFIG_DELETION_MIN_DAYS (deletion.min_days): not an integer",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := LoadKMS(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
