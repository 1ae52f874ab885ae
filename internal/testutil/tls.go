package testutil

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// SelfSigned returns a certificate for name and a pool that trusts it: the
// certificate of a CA made for it alone.
func SelfSigned(t testing.TB, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca := NewCA(t, name+" CA")
	return ca.Issue(t, name, CertOptions{Names: []string{name}}), ca.Pool
}
