package main

// KMIP interoperability tests (issue 6): PyKMIP as a real client, and the
// OASIS KMIP 1.4 test cases replayed over the wire. They live here, not in
// a test/kmip package, because they drive the whole `s3kms dev` (startDev:
// in-process, so under -race the server is checked too) exactly as a user
// would, with the admin certificate dev.env names.
//
// `s3kms dev` serves KMIP: the tests run whatever the server supports and
// fail on any failure of it; what it does not support yet is listed in
// the log as not supported / blocked.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/test/kmip/kmipvectors"
)

const (
	pykmipScript = "../../test/kmip/pykmip_client.py"
	vectorsDir   = "../../test/kmip/kmipvectors/testdata/v1.4"
	// PyKMIP from Debian (python3-pykmip) runs only under this interpreter.
	debianPython = "/usr/bin/python3"
)

// kmipEnv returns the KMIP address (host:port) and the client settings
// (S3KMS_CLIENT_CERT, S3KMS_CLIENT_KEY, S3KMS_CA_FILE): those of the
// process environment if it sets S3KMS_KMIP_ADDR (a running dev whose
// dev.env is sourced, or another KMIP server), else those of a fresh
// `s3kms dev`. It fails if dev does not serve KMIP.
func kmipEnv(t *testing.T) (string, map[string]string) {
	t.Helper()
	var env map[string]string
	if os.Getenv("S3KMS_KMIP_ADDR") != "" {
		env = map[string]string{}
		for _, k := range []string{"S3KMS_KMIP_ADDR", "S3KMS_CLIENT_CERT", "S3KMS_CLIENT_KEY", "S3KMS_CA_FILE"} {
			env[k] = os.Getenv(k)
		}
		t.Logf("KMIP server from the environment: %s", env["S3KMS_KMIP_ADDR"])
	} else {
		env = startDev(t, t.TempDir())
	}
	addr := env["S3KMS_KMIP_ADDR"]
	if addr == "" {
		t.Fatal("`s3kms dev` wrote no S3KMS_KMIP_ADDR to dev.env: its KMIP listener is missing")
	}
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		addr = rest
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("S3KMS_KMIP_ADDR=%q: %v", env["S3KMS_KMIP_ADDR"], err)
	}
	return addr, env
}

// pykmipResult is one line of pykmip_client.py's output.
type pykmipResult struct {
	Scenario string `json:"scenario"`
	Version  string `json:"version"`
	OK       bool   `json:"ok"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

// pykmipRequired are the scenarios the server must pass: all of them.
var pykmipRequired = []string{"discover_versions", "query", "create", "get", "locate", "get_attributes", "get_all_attributes",
	"activate", "destroy_active", "revoke", "destroy", "register", "register_secret", "register_opaque",
	"create_3des", "register_bad_algorithm", "get_missing", "check_usage", "modify_attribute", "delete_attribute",
	"rekey", "encrypt_pre_active", "encrypt_decrypt_cbc", "encrypt_decrypt_gcm"}

func TestPyKMIP(t *testing.T) {
	addr, env := kmipEnv(t)
	if err := exec.Command(debianPython, "-c", "import kmip").Run(); err != nil {
		t.Fatalf("PyKMIP is not importable by %s (%v); install it with: apt-get install python3-pykmip", debianPython, err)
	}
	host, port, _ := net.SplitHostPort(addr)
	list, err := exec.Command(debianPython, pykmipScript, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", pykmipScript, err)
	}
	scenarios := strings.Fields(string(list))
	for _, version := range []string{"1.2", "1.4", "2.0"} {
		t.Run("KMIP"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			args := []string{pykmipScript, "--host", host, "--port", port, "--version", version,
				"--cert", env["S3KMS_CLIENT_CERT"], "--key", env["S3KMS_CLIENT_KEY"], "--ca", env["S3KMS_CA_FILE"]}
			// S3KMS_PYKMIP_FLAGS adds flags, e.g. --numeric-ids to check the
			// script against PyKMIP's own server.
			args = append(args, strings.Fields(os.Getenv("S3KMS_PYKMIP_FLAGS"))...)
			cmd := exec.CommandContext(ctx, debianPython, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, runErr := cmd.Output()
			got := map[string]pykmipResult{}
			failed := false
			s := bufio.NewScanner(bytes.NewReader(out))
			for s.Scan() {
				var r pykmipResult
				if err := json.Unmarshal(s.Bytes(), &r); err != nil {
					t.Errorf("unparseable output line %q: %v", s.Text(), err)
					continue
				}
				got[r.Scenario] = r
				switch r.Status {
				case "pass":
					t.Logf("pass           %-20s %s", r.Scenario, r.Detail)
				case "not_supported", "not_applicable":
					t.Logf("%-14s %-20s %s", strings.ReplaceAll(r.Status, "_", " "), r.Scenario, r.Detail)
				default:
					failed = true
					t.Errorf("FAIL %s at KMIP %s: %s", r.Scenario, version, r.Detail)
				}
			}
			for _, name := range scenarios {
				if _, ok := got[name]; !ok {
					t.Errorf("scenario %s reported nothing", name)
				}
			}
			for _, name := range pykmipRequired {
				// A scenario may not apply to a version (GCM's tag and
				// additional data are KMIP 1.4 fields).
				if r := got[name]; r.Status != "pass" && r.Status != "not_applicable" {
					t.Errorf("scenario %s must pass (the server implements it); got %s: %s", name, r.Status, r.Detail)
				}
			}
			if runErr != nil && !failed {
				t.Errorf("pykmip_client.py: %v\nstderr: %s", runErr, stderr.String())
			}
		})
	}
}

// oasisOutOfScope are the OASIS cases the server is allowed to fail, and
// why. Every other case must pass.
var oasisOutOfScope = map[string]string{
	// The Tape Library profile is not one issue 6 names. The case wants
	// Original Creation Date and Random Number Generator in a Get
	// Attributes of every attribute; PyKMIP's decoder fails on both
	// ("No value type"), so the server sends them only when they are
	// asked for by name: a real client beats one case of an unclaimed
	// profile.
	"TL-M-3-14": "Tape Library profile; all-attributes Get Attributes breaks PyKMIP",
}

func TestOASISVectors(t *testing.T) {
	cases, err := kmipvectors.LoadDir(vectorsDir)
	if err != nil {
		t.Fatal(err)
	}
	addr, env := kmipEnv(t)
	cfg := kmipTLS(t, addr, env)
	dial := func() *kmipvectors.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := kmipvectors.Dial(ctx, addr, cfg)
		if err != nil {
			t.Fatalf("dial KMIP %s: %v", addr, err)
		}
		return c
	}
	c := dial()
	supported, err := kmipvectors.QueryOperations(c)
	c.Close()
	if err != nil {
		t.Fatalf("Query Operations: %v", err)
	}
	t.Logf("server claims %d operations: %v", len(supported), slices.Sorted(maps.Keys(supported)))
	counts := map[kmipvectors.Status]int{}
	for _, tc := range cases {
		c := dial() // a fresh connection per case: one case's failure stays its own
		res := kmipvectors.Replay(c, tc, supported)
		c.Close()
		counts[res.Status]++
		if why, ok := oasisOutOfScope[tc.Name]; ok && res.Status == kmipvectors.Fail {
			t.Logf("%v (out of scope: %s)", res, why)
		} else if res.Status == kmipvectors.Fail {
			t.Errorf("%v", res)
		} else {
			t.Logf("%v", res)
		}
	}
	t.Logf("%d test cases: %d pass, %d fail, %d blocked by unsupported operations",
		len(cases), counts[kmipvectors.Pass], counts[kmipvectors.Fail], counts[kmipvectors.Blocked])
}

// kmipTLS is the client side of the KMIP listener's mutual TLS: the dev
// admin certificate, and the dev CA for the server's certificate.
func kmipTLS(t *testing.T, addr string, env map[string]string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(env["S3KMS_CLIENT_CERT"], env["S3KMS_CLIENT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(env["S3KMS_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificates in %s", env["S3KMS_CA_FILE"])
	}
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
}
