package deploy

import (
	"strings"
	"testing"

	"github.com/s3kms/s3kms/internal/config"
)

// exampleConfigs are every configuration file under deploy/, by kind.
var exampleConfigs = []struct {
	path string
	kms  bool
}{
	{"examples/kms.yaml", true},
	{"examples/kms-pkcs11.yaml", true},
	{"examples/s3.yaml", false},
	{"kms.example.yaml", true},
	{"kms.pkcs11.example.yaml", true},
	{"s3.example.yaml", false},
	{"compose/kms.yaml", true},
	{"compose/s3.yaml", false},
	{"k8s/config/kms.yaml", true},
	{"k8s/config/s3.yaml", false},
}

// dummyEnv sets every variable the example configurations read.
func dummyEnv(t *testing.T) {
	for _, v := range []string{"S3KMS_KMS_DSN", "S3KMS_S3_DSN"} {
		t.Setenv(v, "postgres://user:pw@db.example.com:5432/db?sslmode=verify-full")
	}
}

// TestExampleConfigsLoad loads every example configuration with the
// loader the services use (strict: an unknown or misspelt option fails).
func TestExampleConfigsLoad(t *testing.T) {
	dummyEnv(t)
	for _, c := range exampleConfigs {
		t.Run(c.path, func(t *testing.T) {
			if c.kms {
				cfg, err := config.LoadKMS(c.path)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Store.Driver != "postgres" || len(cfg.Policies) == 0 {
					t.Errorf("store %q, %d policies: production examples use postgres and policies", cfg.Store.Driver, len(cfg.Policies))
				}
				return
			}
			cfg, err := config.LoadS3(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Driver != "postgres" || !strings.HasPrefix(cfg.KMS.Endpoint, "https://") {
				t.Errorf("store %q, kms %q: production examples use postgres and an https KMS", cfg.Store.Driver, cfg.KMS.Endpoint)
			}
		})
	}
}
