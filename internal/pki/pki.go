// Package pki makes the TLS material s3kms needs when an operator has none
// yet: a private CA, server certificates and client certificates. `s3kms
// dev` uses it for its self-signed set-up; production deployments may use
// it through `s3kms certs` or bring their own PKI.
//
// Keys are ECDSA P-256 (fast handshakes, supported by every TLS client we
// care about: Go, aws-cli/OpenSSL, PyKMIP). Private keys are written PKCS#8
// PEM with mode 0600 and never overwritten.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority able to issue certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Validity periods.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 2 * 365 * 24 * time.Hour
)

// NewCA creates a self-signed CA valid for CAValidity.
func NewCA(commonName string) (*CA, error) {
	return NewCAFor(commonName, CAValidity)
}

// NewCAFor creates a self-signed CA valid for validity.
func NewCAFor(commonName string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(commonName, validity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

// Issue issues a certificate for a new key. hosts (DNS names or IP
// addresses) make it a server certificate; client makes it usable for
// client authentication. Both may be set. It is valid for LeafValidity.
func (ca *CA) Issue(commonName string, hosts []string, client bool) (tls.Certificate, error) {
	return ca.IssueFor(commonName, hosts, client, LeafValidity)
}

// IssueFor is Issue with a validity period.
func (ca *CA) IssueFor(commonName string, hosts []string, client bool, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl, err := template(commonName, validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func template(cn string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"s3kms"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
	}, nil
}

// WriteCA writes the CA's certificate and key to certFile and keyFile.
func (ca *CA) WriteCA(certFile, keyFile string) error {
	return writePair(certFile, keyFile, ca.Cert.Raw, ca.key)
}

// WriteCert writes a certificate issued by Issue and its key.
func WriteCert(c tls.Certificate, certFile, keyFile string) error {
	key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return errors.New("pki: not an ECDSA key")
	}
	return writePair(certFile, keyFile, c.Certificate[0], key)
}

func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeNew writes data to a new file, fsynced; it never overwrites.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadCA reads a CA written by WriteCA.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not an ECDSA key", keyFile)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, key: key}, nil
}

// LoadCertificate reads the first certificate of a PEM file.
func LoadCertificate(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("pki: %s: no certificate found", file)
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// Set is the material of a small deployment, kept in one directory:
// ca.crt/ca.key, <name>.crt/<name>.key per server or client.
type Set struct {
	Dir string
	CA  *CA
}

// OpenSet loads the CA in dir, creating it if the directory has none.
func OpenSet(dir, caName string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	ca, err := LoadCA(certFile, keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, err = NewCA(caName); err != nil {
			return nil, err
		}
		if err := ca.WriteCA(certFile, keyFile); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return &Set{Dir: dir, CA: ca}, nil
}

// CAFile is the path of the CA certificate.
func (s *Set) CAFile() string { return filepath.Join(s.Dir, "ca.crt") }

// Files returns the certificate and key paths for name.
func (s *Set) Files(name string) (certFile, keyFile string) {
	return filepath.Join(s.Dir, name+".crt"), filepath.Join(s.Dir, name+".key")
}

// Ensure returns the certificate name, issuing it if it does not exist
// yet. An existing certificate is kept as it is, so identities (public-key
// hashes) stay stable across restarts.
func (s *Set) Ensure(name string, hosts []string, client bool) (tls.Certificate, error) {
	certFile, keyFile := s.Files(name)
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, err
	}
	c, err = s.CA.Issue(name, hosts, client)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteCert(c, certFile, keyFile); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}
