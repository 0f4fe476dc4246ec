package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKMSEndpoints checks kms.endpoint and kms.endpoints: exactly one is
// set, and URLs returns what the client uses.
func TestKMSEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kms      KMSClient
		wantErr  string
		wantURLs []string
	}{
		{"endpoint", KMSClient{Endpoint: "https://a"}, "", []string{"https://a"}},
		{"endpoints", KMSClient{Endpoints: []string{"https://a", "https://b"}}, "", []string{"https://a", "https://b"}},
		{"both", KMSClient{Endpoint: "https://a", Endpoints: []string{"https://b"}}, "not both", nil},
		{"neither", KMSClient{}, "kms.endpoint (or kms.endpoints)", nil},
		{"empty entry", KMSClient{Endpoints: []string{"https://a", ""}}, "empty entry", nil},
		{"timeouts", KMSClient{Endpoint: "https://a", CallTimeout: 5 * time.Second, DownFor: time.Second}, "", []string{"https://a"}},
		{"negative timeout", KMSClient{Endpoint: "https://a", CallTimeout: -1}, "must not be negative", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultS3()
			c.TLS.Cert, c.TLS.Key = "c", "k"
			c.KMS = tc.kms
			c.KMS.CAFile, c.KMS.Cert, c.KMS.Key = "ca", "c", "k"
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
			if tc.wantURLs != nil && !slices.Equal(c.KMS.URLs(), tc.wantURLs) {
				t.Errorf("URLs = %q, want %q", c.KMS.URLs(), tc.wantURLs)
			}
		})
	}
}

// TestKMSEndpointsYAML checks the YAML names of the new fields.
func TestKMSEndpointsYAML(t *testing.T) {
	var c S3
	err := Decode([]byte("kms:\n  endpoints: [https://a:1, https://b:2]\n  call_timeout: 3s\n  down_for: 2s\n"), &c, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.KMS.Endpoints, []string{"https://a:1", "https://b:2"}) || c.KMS.CallTimeout != 3*time.Second || c.KMS.DownFor != 2*time.Second {
		t.Errorf("parsed %+v", c.KMS)
	}
}
