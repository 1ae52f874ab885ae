package main

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"github.com/penstock-proxy/penstock/internal/pki"
)

// demoTLSPlaceholder is where the embedded demo config names the
// directory of the certificates made at start-up.
const demoTLSPlaceholder = "$DEMO_TLS"

// demoTLS makes a throwaway CA and a certificate it signs for localhost,
// 127.0.0.1 and ::1 (ECDSA P-256, valid a week) in a new temporary
// directory, for the demo's HTTPS listener, and returns the directory. The
// CA's certificate is ca.crt, for curl --cacert.
func demoTLS() (string, error) {
	dir, err := os.MkdirTemp("", "penstock-demo-tls-")
	if err != nil {
		return "", err
	}
	ca, err := pki.NewCA("penstock demo CA", 7*24*time.Hour)
	if err != nil {
		return "", err
	}
	cert, err := ca.Issue("localhost", pki.CertOptions{Names: []string{"localhost", "127.0.0.1", "::1"},
		NotAfter: time.Now().Add(7 * 24 * time.Hour)})
	if err != nil {
		return "", err
	}
	if _, _, err := pki.WritePEM(dir, "localhost", cert); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o600)
}

// withDemoTLS returns the demo config with its certificate directory.
func withDemoTLS(config []byte, dir string) []byte {
	return bytes.ReplaceAll(config, []byte(demoTLSPlaceholder), []byte(dir))
}
