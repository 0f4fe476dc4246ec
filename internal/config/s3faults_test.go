package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestS3Sweep(t *testing.T) {
	for _, tc := range []struct {
		name            string
		yaml            string
		grace, interval time.Duration
		wantErr         string
	}{
		{"defaults", "", time.Hour, 10 * time.Minute, ""},
		{"short", "sweep_grace: 2s\nsweep_interval: 500ms\n", 2 * time.Second, 500 * time.Millisecond, ""},
		{"zero interval", "sweep_interval: 0s\n", 0, 0, "sweep_interval"},
		{"negative interval", "sweep_interval: -1s\n", 0, 0, "sweep_interval"},
		{"zero grace", "sweep_grace: 0s\n", 0, 0, "sweep_grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s3.yaml")
			body := "listen: 127.0.0.1:0\ntls: {cert: c, key: k}\nkms: {endpoint: https://kms, ca_file: ca, cert: c, key: k}\n" + tc.yaml
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadS3(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadS3 = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SweepGrace != tc.grace || c.SweepInterval != tc.interval {
				t.Fatalf("sweep_grace %v, sweep_interval %v; want %v, %v", c.SweepGrace, c.SweepInterval, tc.grace, tc.interval)
			}
		})
	}
}

func TestS3MetadataTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"default", "", 30 * time.Second, ""},
		{"set", "metadata_timeout: 2s\n", 2 * time.Second, ""},
		{"off", "metadata_timeout: 0s\n", 0, ""},
		{"negative", "metadata_timeout: -1s\n", 0, "metadata_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s3.yaml")
			body := "listen: 127.0.0.1:0\ntls: {cert: c, key: k}\nkms: {endpoint: https://kms, ca_file: ca, cert: c, key: k}\n" + tc.yaml
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadS3(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadS3 = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.MetadataTimeout != tc.want {
				t.Fatalf("LoadS3: metadata_timeout %v, %v; want %v", c.MetadataTimeout, err, tc.want)
			}
		})
	}
}

func TestS3KMSCallTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"default: the client's", "", 0, ""},
		{"set", "  call_timeout: 2s\n", 2 * time.Second, ""},
		{"negative", "  call_timeout: -1s\n", 0, "kms.call_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s3.yaml")
			body := "listen: 127.0.0.1:0\ntls: {cert: c, key: k}\nkms:\n  endpoint: https://kms\n  ca_file: ca\n  cert: c\n  key: k\n" + tc.yaml
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadS3(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadS3 = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.KMS.CallTimeout != tc.want {
				t.Fatalf("LoadS3: kms.call_timeout %v, %v; want %v", c.KMS.CallTimeout, err, tc.want)
			}
		})
	}
}

func TestS3UsersCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"default", "", time.Minute, ""},
		{"set", "users_cache_ttl: 10s\n", 10 * time.Second, ""},
		{"zero", "users_cache_ttl: 0s\n", 0, "users_cache_ttl"},
		{"negative", "users_cache_ttl: -1s\n", 0, "users_cache_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s3.yaml")
			body := "listen: 127.0.0.1:0\ntls: {cert: c, key: k}\nkms: {endpoint: https://kms, ca_file: ca, cert: c, key: k}\n" + tc.yaml
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadS3(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadS3 = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.UsersCacheTTL != tc.want {
				t.Fatalf("users_cache_ttl = %v, want %v", c.UsersCacheTTL, tc.want)
			}
		})
	}
}
