package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFromEnvironment runs the commands that read a service
// configuration with S3KMS_KMS_CONFIG_* / S3KMS_S3_CONFIG_* variables
// (internal/config ApplyEnv; docs/config.md).
func TestConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "from-env.db")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		stdout  string // substring
		stderr  string // substring
		created string // file the command must have made
	}{
		{
			name: "s3 serve without --config says where options come from",
			args: []string{"s3", "serve"}, code: 1,
			stderr: "no --config given: options come from the defaults and S3KMS_S3_CONFIG_* environment variables",
		},
		{
			name: "kms serve: a bad value names the variable, not the value",
			args: []string{"kms", "serve"}, code: 1,
			env:    map[string]string{"S3KMS_KMS_CONFIG_CACHE_TTL": "hunter2"},
			stderr: "S3KMS_KMS_CONFIG_CACHE_TTL (cache.ttl): not a duration",
		},
		{
			name: "migrate: a misspelt variable is an error",
			args: []string{"migrate", "--config", empty}, code: 1,
			env:    map[string]string{"S3KMS_KMS_CONFIG_STORE_PAHT": db},
			stderr: "S3KMS_KMS_CONFIG_STORE_PAHT names no option",
		},
		{
			name:   "migrate: the store from the environment",
			args:   []string{"migrate", "--config", empty},
			env:    map[string]string{"S3KMS_KMS_CONFIG_STORE_PATH": db},
			stdout: "migrations applied", created: db,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, nil, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, %q, %q", code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderr)
			}
			if strings.Contains(errOut.String(), "hunter2") {
				t.Errorf("stderr %q quotes the value", errOut.String())
			}
			if tt.created != "" {
				if _, err := os.Stat(tt.created); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
