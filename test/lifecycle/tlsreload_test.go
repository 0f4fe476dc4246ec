package lifecycle

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/pki"
)

// writePair replaces a certificate and key file pair: atomically (a new
// file renamed over) or in place (truncated and rewritten).
func writePair(t *testing.T, c tls.Certificate, certFile, keyFile string, atomic bool) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})},
	} {
		path := f.path
		if atomic {
			path += ".new"
		}
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if atomic {
			if err := os.Rename(path, f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func serialOf(c tls.Certificate) *big.Int {
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		panic(err)
	}
	return x.SerialNumber
}

// handshake connects to addr and returns the server certificate's serial;
// with TLS 1.3 a refused client certificate shows on the first read.
func handshake(addr string, cfg *tls.Config) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// eventually retries f until it succeeds or 15 s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLSReload rotates, without restarting anything, the certificates of
// the KMS (HTTPS and KMIP) and of the S3 node, and the KMS's client CAs:
// new connections get the new certificates, clients of a new CA are
// refused until the CA file gains it, broken files leave the old
// certificate in use, and the S3 node's KMS client trusts a KMS
// certificate from the new CA once its CA file does.
func TestTLSReload(t *testing.T) {
	st := newStack(t, options{
		kms: map[string]any{"tls": map[string]any{"reload_interval": "100ms"}, "kmip": map[string]any{"listen": freeAddr(t)}},
		s3:  map[string]any{"tls": map[string]any{"reload_interval": "100ms"}},
	})
	kmipAddr := st.kmipAddr(t)
	newCA, err := pki.NewCA("lifecycle new CA")
	if err != nil {
		t.Fatal(err)
	}
	roots := st.roots.Clone()
	roots.AddCert(newCA.Cert)
	admin, err := tls.LoadX509KeyPair(st.adminCert, st.admKey)
	if err != nil {
		t.Fatal(err)
	}
	newAdmin, err := newCA.Issue("new admin", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	client := func(c tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{c}}
	}
	issue := func(ca *pki.CA) tls.Certificate {
		c, err := ca.Issue("server", []string{"127.0.0.1", "localhost"}, false)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wantSerial := func(addr string, cfg *tls.Config, want *big.Int) func() error {
		return func() error {
			got, err := handshake(addr, cfg)
			if err != nil {
				return err
			}
			if got.Cmp(want) != 0 {
				return errors.New("serial " + got.String() + ", want " + want.String())
			}
			return nil
		}
	}

	for _, tc := range []struct {
		name   string
		addr   string
		files  [2]string
		atomic bool
	}{
		{"kms https, rename", st.kmsAddr, [2]string{st.kmsCert, st.kmsKey}, true},
		{"s3 https, in place", st.s3Addr, [2]string{st.s3Cert, st.s3Key}, false},
	} {
		b := issue(st.set.CA)
		writePair(t, b, tc.files[0], tc.files[1], tc.atomic)
		eventually(t, tc.name+": the new certificate", wantSerial(tc.addr, client(admin), serialOf(b)))
		// Broken files: the certificate in use stays.
		if err := os.WriteFile(tc.files[0], []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // several reload intervals
		if err := wantSerial(tc.addr, client(admin), serialOf(b))(); err != nil {
			t.Errorf("%s: after broken files: %v", tc.name, err)
		}
		c := issue(st.set.CA)
		writePair(t, c, tc.files[0], tc.files[1], tc.atomic)
		eventually(t, tc.name+": the repaired certificate", wantSerial(tc.addr, client(admin), serialOf(c)))
	}
	for _, p := range []*proc{st.kms, st.s3} {
		if !bytes.Contains([]byte(p.logText()), []byte("do not load")) {
			t.Errorf("%s logged no warning about the broken files:\n%s", p.name, p.logText())
		}
	}

	// Client CA rotation: a client of the new CA is refused on KMIP
	// (handshake) and unauthenticated on HTTPS (its certificate is not
	// from a client CA, so Go clients do not even send it: 401) until the
	// client CA file holds that CA too; then HTTPS verifies the
	// certificate (an identity the policy does not know: 401 saying so).
	if _, err := handshake(kmipAddr, client(newAdmin)); err == nil {
		t.Error("KMIP: client of the new CA accepted before the CA file has it")
	}
	kmsStatus := func(cert tls.Certificate) (int, string, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: client(cert)}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get("https://" + st.kmsAddr + "/v1/keys")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := kmsStatus(newAdmin); err != nil || code != http.StatusUnauthorized || !strings.Contains(body, "certificate is required") {
		t.Errorf("HTTPS: client of the new CA before the CA file has it: %d %s, %v; want 401, no certificate", code, body, err)
	}
	caPEM, err := os.ReadFile(st.set.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	both := append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newCA.Cert.Raw})...)
	if err := os.WriteFile(st.set.CAFile(), both, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "KMIP: client of the new CA accepted", func() error { _, err := handshake(kmipAddr, client(newAdmin)); return err })
	// KMIP still requires a client certificate.
	if _, err := handshake(kmipAddr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err == nil {
		t.Error("KMIP accepted a client without a certificate after the reload")
	}
	eventually(t, "HTTPS: client of the new CA verified", func() error {
		code, body, err := kmsStatus(newAdmin)
		if err == nil && (code != http.StatusUnauthorized || !strings.Contains(body, "not in the policy")) {
			err = fmt.Errorf("%d %s, want 401, not in the policy", code, body)
		}
		return err
	})
	if code, body, err := kmsStatus(admin); err != nil || code != http.StatusOK {
		t.Errorf("HTTPS: admin of the old CA: %d %s, %v", code, body, err)
	}

	// The KMS moves to a certificate of the new CA; the S3 node reloaded
	// its kms.ca_file (the same file) and trusts it. The KMS restarts so
	// that the node must make new connections.
	kmsNew := issue(newCA)
	writePair(t, kmsNew, st.kmsCert, st.kmsKey, true)
	eventually(t, "the KMS certificate of the new CA", wantSerial(st.kmsAddr, client(admin), serialOf(kmsNew)))
	st.kms.signal(t, syscall.SIGTERM)
	if code := st.kms.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("kms exit %d:\n%s", code, st.kms.logText())
	}
	st.kms = startProc(t, "kms serve", st.bin, st.kms.log, "kms", "serve", "--config", st.kmsConf)
	ctx := context.Background()
	hc := st.httpClient(false)
	mustStatus := func(want int, method, path string, body []byte, hdr map[string]string) {
		t.Helper()
		eventually(t, method+" "+path, func() error {
			req := bytes.NewReader(body)
			resp, err := st.s3DoHeaders(ctx, hc, method, path, req, int64(len(body)), hdr)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != want {
				return errors.New(resp.Status + ": " + string(b))
			}
			return nil
		})
	}
	// A new bucket needs a new root key from the KMS; SSE-S3 a data key.
	mustStatus(http.StatusOK, "PUT", "/rotated", nil, nil)
	mustStatus(http.StatusOK, "PUT", "/rotated/obj", []byte("sealed by the KMS"), map[string]string{"X-Amz-Server-Side-Encryption": "AES256"})
	mustStatus(http.StatusOK, "GET", "/rotated/obj", nil, nil)
}
