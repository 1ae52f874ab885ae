package testutil

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/internal/pki"
)

// CA is a certificate authority for tests (internal/pki's, with the test
// failing on an error): it issues server and client certificates and
// writes them as PEM files.
type CA struct{ *pki.CA }

// CertOptions shape an issued certificate; tests' certificates carry the
// organization "penstock tests" unless they name one.
type CertOptions = pki.CertOptions

// NewCA returns a new ECDSA P-256 CA named name, valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := pki.NewCA(name, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{ca}
}

// Issue returns a certificate signed by the CA, its chain being the leaf
// then the CA, as a server serves it.
func (ca *CA) Issue(t testing.TB, cn string, o CertOptions) tls.Certificate {
	t.Helper()
	if o.Organization == "" {
		o.Organization = "penstock tests"
	}
	c, err := ca.CA.Issue(cn, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WritePEM writes c's chain and key as PEM files in dir, named base.crt
// and base.key, and returns their paths.
func WritePEM(t testing.TB, dir, base string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := pki.WritePEM(dir, base, c)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
