package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// CertFiles names a certificate chain (the leaf first, then the
// intermediates, served whole) and its private key, as PEM files.
type CertFiles struct {
	Cert, Key string
}

// LoadCertificates reads each pair of PEM files and checks that each key
// matches its certificate. The errors name the files. Safe from any
// goroutine.
func LoadCertificates(files []CertFiles) ([]tls.Certificate, error) {
	var out []tls.Certificate
	var errs []error
	for _, f := range files {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %s, key %s: %w", f.Cert, f.Key, err))
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Certificates picks the certificate a server presents from several, by
// the ClientHello: a certificate whose names include the SNI exactly wins
// over one that matches it by wildcard; among those, the first whose key
// the client can use (ECDSA or RSA, by its signature algorithms); with no
// name match (or no SNI), the first certificate, the default. Set its
// GetCertificate as a tls.Config's.
//
// Set replaces the whole set at once, so a reload serves new handshakes
// with the new certificates while open connections keep theirs. A
// Certificates is safe from any goroutine.
type Certificates struct {
	cur atomic.Pointer[certSet]
}

type certSet struct {
	certs []*tls.Certificate
	// exact and wild map a lower-case name (wild: the part after "*.") to
	// the certificates that carry it, in order.
	exact, wild map[string][]*tls.Certificate
}

// NewCertificates returns a set of certs (at least one). Safe from any
// goroutine.
func NewCertificates(certs []tls.Certificate) (*Certificates, error) {
	c := &Certificates{}
	if err := c.Set(certs); err != nil {
		return nil, err
	}
	return c, nil
}

// Set makes certs the set new handshakes choose from. Each must have its
// leaf parsed or parsable. Safe from any goroutine.
func (c *Certificates) Set(certs []tls.Certificate) error {
	if len(certs) == 0 {
		return errors.New("penstock/transport: no certificate")
	}
	certs = append([]tls.Certificate(nil), certs...)
	s := &certSet{exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}}
	for i := range certs {
		cert := &certs[i]
		if cert.Leaf == nil {
			if len(cert.Certificate) == 0 {
				return fmt.Errorf("penstock/transport: certificate %d is empty", i)
			}
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return fmt.Errorf("penstock/transport: certificate %d: %w", i, err)
			}
			cert.Leaf = leaf
		}
		s.certs = append(s.certs, cert)
		names := cert.Leaf.DNSNames
		if len(names) == 0 && cert.Leaf.Subject.CommonName != "" {
			names = []string{cert.Leaf.Subject.CommonName}
		}
		for _, ip := range cert.Leaf.IPAddresses {
			names = append(names, ip.String())
		}
		for _, n := range names {
			n = strings.ToLower(n)
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				s.wild[rest] = append(s.wild[rest], cert)
			} else {
				s.exact[n] = append(s.exact[n], cert)
			}
		}
	}
	c.cur.Store(s)
	return nil
}

// Leaves returns the leaf certificates of the set in force, in order.
// Safe from any goroutine.
func (c *Certificates) Leaves() []*x509.Certificate {
	s := c.cur.Load()
	out := make([]*x509.Certificate, len(s.certs))
	for i, cert := range s.certs {
		out[i] = cert.Leaf
	}
	return out
}

// GetCertificate chooses the certificate for a handshake (a
// tls.Config.GetCertificate). Safe from any goroutine.
func (c *Certificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := c.cur.Load()
	if s == nil {
		return nil, errors.New("penstock/transport: no certificate")
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if cert := pickCert(hello, s.exact[name]); cert != nil {
			return cert, nil
		}
		// Only the left-most label is a wildcard's: a.b.example.org
		// matches *.b.example.org, not *.example.org.
		if i := strings.IndexByte(name, '.'); i > 0 && i+1 < len(name) {
			if cert := pickCert(hello, s.wild[name[i+1:]]); cert != nil {
				return cert, nil
			}
		}
	}
	if cert := pickDefault(hello, s.certs); cert != nil {
		return cert, nil
	}
	return s.certs[0], nil
}

// pickCert returns the first of certs, all carrying the client's name,
// that the client supports (crypto/tls's own check: signature schemes,
// curves, and in TLS 1.2 the cipher suites).
func pickCert(hello *tls.ClientHelloInfo, certs []*tls.Certificate) *tls.Certificate {
	for _, cert := range certs {
		if hello.SupportsCertificate(cert) == nil {
			return cert
		}
	}
	return nil
}

// pickDefault returns the first of certs whose key type the client can
// verify, whatever its names.
func pickDefault(hello *tls.ClientHelloInfo, certs []*tls.Certificate) *tls.Certificate {
	for _, cert := range certs {
		if supportsKey(hello, cert) {
			return cert
		}
	}
	return nil
}

// supportsKey reports whether the client can verify a signature of the
// certificate's key type.
func supportsKey(hello *tls.ClientHelloInfo, cert *tls.Certificate) bool {
	if len(hello.SignatureSchemes) == 0 {
		return true
	}
	for _, s := range hello.SignatureSchemes {
		switch cert.PrivateKey.(type) {
		case *ecdsa.PrivateKey:
			if s == tls.ECDSAWithP256AndSHA256 || s == tls.ECDSAWithP384AndSHA384 || s == tls.ECDSAWithP521AndSHA512 || s == tls.ECDSAWithSHA1 {
				return true
			}
		case *rsa.PrivateKey:
			switch s {
			case tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512, tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512, tls.PKCS1WithSHA1:
				return true
			}
		case ed25519.PrivateKey:
			if s == tls.Ed25519 {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// FileWatch reports when any of a list of files changes (its size or
// modification time, or whether it exists), for reloading certificates.
// Check compares against the last Check; it is safe from one goroutine at
// a time.
type FileWatch struct {
	Paths []string
	last  []fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
	ok   bool
}

// Changed reports whether a file changed since the last call (the first
// call records and reports false).
func (w *FileWatch) Changed() bool {
	now := make([]fileStamp, len(w.Paths))
	for i, p := range w.Paths {
		if st, err := os.Stat(p); err == nil {
			now[i] = fileStamp{size: st.Size(), mod: st.ModTime(), ok: true}
		}
	}
	first := w.last == nil
	changed := false
	if !first {
		for i := range now {
			if now[i] != w.last[i] {
				changed = true
			}
		}
	}
	w.last = now
	return changed
}
