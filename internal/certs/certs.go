// Package certs makes the TLS material of a production deployment from the
// command line (`s3kms certs ca|server|client`): a private CA, server
// certificates for the KMS and the S3 nodes, and client certificates whose
// public-key hash is the identity a KMS policy names.
//
// It issues through internal/pki (ECDSA P-256, PKCS#8 keys). What it adds
// is what an operator's tool needs: validity in days, files named after
// the certificate (DIR/NAME.crt, DIR/NAME.key; the CA is DIR/ca.crt and
// DIR/ca.key), private keys created with mode 0600 in a directory made
// 0700, and no silent overwrite: existing files are an error unless Force
// is set. It never prints or returns key material.
package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/s3kms/s3kms/internal/pki"
)

// Default validity periods, in days.
const (
	DefaultCADays   = 3650
	DefaultLeafDays = 365
)

// Files are the paths of a certificate and its private key.
type Files struct {
	Cert, Key string
}

// Request describes a certificate to issue.
type Request struct {
	// Out is the directory the files are written to (created 0700 if
	// missing).
	Out string
	// Name is the certificate's common name and the base name of its
	// files. For a CA the files are always ca.crt and ca.key.
	Name string
	// Days is the validity; 0 means the default of the kind.
	Days int
	// DNS and IPs are the server certificate's subject alternative names.
	DNS []string
	IPs []net.IP
	// Force replaces existing files.
	Force bool
}

// nameRE keeps file names plain: the name becomes DIR/NAME.crt.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validity(days, def int) (time.Duration, error) {
	if days == 0 {
		days = def
	}
	if days < 1 || days > 100*365 {
		return 0, fmt.Errorf("certs: --days %d is not between 1 and 36500", days)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// CAFiles returns the CA's files in dir.
func CAFiles(dir string) Files {
	return Files{Cert: filepath.Join(dir, "ca.crt"), Key: filepath.Join(dir, "ca.key")}
}

// NewCA creates a CA in r.Out (ca.crt, ca.key); r.Name is its common name
// ("s3kms CA" if empty).
func NewCA(r Request) (Files, error) {
	v, err := validity(r.Days, DefaultCADays)
	if err != nil {
		return Files{}, err
	}
	name := r.Name
	if name == "" {
		name = "s3kms CA"
	}
	f := CAFiles(r.Out)
	if err := prepare(r.Out, f, r.Force); err != nil {
		return Files{}, err
	}
	ca, err := pki.NewCAFor(name, v)
	if err != nil {
		return Files{}, err
	}
	if err := ca.WriteCA(f.Cert, f.Key); err != nil {
		return Files{}, fmt.Errorf("certs: %w", err)
	}
	return f, nil
}

// Server issues a server certificate (serverAuth) signed by the CA in
// caDir for r.DNS and r.IPs (at least one).
func Server(caDir string, r Request) (Files, *x509.Certificate, error) {
	if len(r.DNS) == 0 && len(r.IPs) == 0 {
		return Files{}, nil, errors.New("certs: a server certificate needs at least one --dns name or --ip address")
	}
	hosts := make([]string, 0, len(r.DNS)+len(r.IPs))
	for _, d := range r.DNS {
		if d == "" || net.ParseIP(d) != nil {
			return Files{}, nil, fmt.Errorf("certs: --dns %q is not a DNS name (use --ip for addresses)", d)
		}
		hosts = append(hosts, d)
	}
	for _, ip := range r.IPs {
		hosts = append(hosts, ip.String())
	}
	return issue(caDir, r, hosts, false)
}

// Client issues a client certificate (clientAuth) signed by the CA in
// caDir. kms.IdentityOf of the returned certificate is the identity a KMS
// policy names.
func Client(caDir string, r Request) (Files, *x509.Certificate, error) {
	return issue(caDir, r, nil, true)
}

func issue(caDir string, r Request, hosts []string, client bool) (Files, *x509.Certificate, error) {
	if !nameRE.MatchString(r.Name) || r.Name == "ca" {
		return Files{}, nil, fmt.Errorf("certs: --name %q: use letters, digits, '.', '_' and '-' (not \"ca\")", r.Name)
	}
	v, err := validity(r.Days, DefaultLeafDays)
	if err != nil {
		return Files{}, nil, err
	}
	caf := CAFiles(caDir)
	ca, err := pki.LoadCA(caf.Cert, caf.Key)
	if err != nil {
		return Files{}, nil, fmt.Errorf("certs: loading the CA from %s: %w", caDir, err)
	}
	if end := time.Now().Add(v); end.After(ca.Cert.NotAfter) {
		return Files{}, nil, fmt.Errorf("certs: a validity of %d days outlives the CA (valid until %s); lower --days", int(v.Hours()/24), ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	f := Files{Cert: filepath.Join(r.Out, r.Name+".crt"), Key: filepath.Join(r.Out, r.Name+".key")}
	if err := prepare(r.Out, f, r.Force); err != nil {
		return Files{}, nil, err
	}
	c, err := ca.IssueFor(r.Name, hosts, client, v)
	if err != nil {
		return Files{}, nil, err
	}
	if err := pki.WriteCert(c, f.Cert, f.Key); err != nil {
		return Files{}, nil, fmt.Errorf("certs: %w", err)
	}
	return f, c.Leaf, nil
}

// prepare creates dir and makes sure f's files can be written: they must
// not exist, unless force, in which case they are removed (pki writes new
// files only, so a key file is never readable with a wider mode).
func prepare(dir string, f Files, force bool) error {
	if dir == "" {
		return errors.New("certs: --out is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	for _, p := range []string{f.Cert, f.Key} {
		_, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("certs: %w", err)
		case !force:
			return fmt.Errorf("certs: %s exists (--force replaces it)", p)
		default:
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("certs: %w", err)
			}
		}
	}
	return nil
}
