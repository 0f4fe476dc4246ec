package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	const kmsBase = "tls: {cert: /c, key: /k, client_ca: /ca%s}\nprotector: {kind: software, master_key_file: f}\npolicies: [{name: a, identities: [\"1\"], allow: [{ops: [\"*\"], keys: [\"*\"]}]}]\n"
	const s3Base = "tls: {cert: /c, key: /k%s}\nkms: {endpoint: https://kms, ca_file: ca, cert: c, key: k}\n"
	for _, tc := range []struct {
		name, tls, extra string
		timeout, delay   time.Duration
		reload           time.Duration
		wantErr          string
	}{
		{name: "defaults", timeout: 30 * time.Second, reload: 5 * time.Second},
		{name: "set", tls: ", reload_interval: 1m", extra: "shutdown_timeout: 2m\nshutdown_delay: 5s\n",
			timeout: 2 * time.Minute, delay: 5 * time.Second, reload: time.Minute},
		{name: "polling off", tls: ", reload_interval: 0s", timeout: 30 * time.Second},
		{name: "zero timeout", extra: "shutdown_timeout: 0s\n", wantErr: "shutdown_timeout"},
		{name: "negative delay", extra: "shutdown_delay: -1s\n", wantErr: "shutdown_delay"},
		{name: "negative reload", tls: ", reload_interval: -1s", wantErr: "tls.reload_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, svc := range []string{"kms", "s3"} {
				path := filepath.Join(t.TempDir(), svc+".yaml")
				base := kmsBase
				if svc == "s3" {
					base = s3Base
				}
				file := strings.Replace(base, "%s", tc.tls, 1) + tc.extra
				if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
					t.Fatal(err)
				}
				var l Lifecycle
				var reload time.Duration
				var err error
				if svc == "kms" {
					var c KMS
					c, err = LoadKMS(path)
					l, reload = c.Lifecycle, c.TLS.ReloadInterval
				} else {
					var c S3
					c, err = LoadS3(path)
					l, reload = c.Lifecycle, c.TLS.ReloadInterval
				}
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("%s: err = %v, want %q", svc, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", svc, err)
				}
				if l.ShutdownTimeout != tc.timeout || l.ShutdownDelay != tc.delay || reload != tc.reload {
					t.Errorf("%s: %+v reload %v; want timeout %v delay %v reload %v", svc, l, reload, tc.timeout, tc.delay, tc.reload)
				}
			}
		})
	}
}
