package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestConfigDocUpToDate fails when docs/config.md differs from what the
// generator writes from the current code.
func TestConfigDocUpToDate(t *testing.T) {
	want, err := Generate("..")
	if err != nil {
		t.Fatalf("%v\nEvery option needs a doc comment on its field: it is the option's description in docs/config.md.", err)
	}
	got, err := os.ReadFile("../../../docs/config.md")
	if err != nil {
		t.Fatalf("%v: run `make config-doc` to write it", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/config.md is out of date: run `make config-doc` (or `go generate ./internal/config`) and commit it")
	}
}

func TestGenerateRows(t *testing.T) {
	doc, err := Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `store.dsn` | string | — | `S3KMS_KMS_CONFIG_STORE_DSN` | The PostgreSQL connection string (postgres). |",
		"| `cache.ttl` | duration | `5m` | `S3KMS_KMS_CONFIG_CACHE_TTL` |",
		"| `policies[].allow[].ops` | list of string | — | file only |",
		"| `encryption.default_sse_s3` | bool | `false` | `S3KMS_S3_CONFIG_ENCRYPTION_DEFAULT_SSE_S3` |",
		"| `rewrap.rate` | float | `500` | `S3KMS_S3_CONFIG_REWRAP_RATE` |",
		"| `protector.pin_env` | string | — | `S3KMS_KMS_CONFIG_PROTECTOR_PIN_ENV` | Names an environment variable holding the user PIN. Set exactly one of `pin_file` and `pin_env`. |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs lack %q", want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[string]string{"0s": "0", "5m": "5m", "1h": "1h", "90s": "1m30s", "1h30m": "1h30m", "1.5s": "1.5s", "100ms": "100ms"} {
		d, err := time.ParseDuration(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", in, got, want)
		}
	}
}
