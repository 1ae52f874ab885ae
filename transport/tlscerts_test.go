package transport_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// Certificates picks by SNI: exact over wildcard, a key type the client
// can use, the first as default; Set swaps the set for new handshakes.
func TestCertificatesBySNI(t *testing.T) {
	ca := testutil.NewCA(t, "sni CA")
	def := ca.Issue(t, "default", testutil.CertOptions{Names: []string{"default.example"}})
	wild := ca.Issue(t, "wild", testutil.CertOptions{Names: []string{"*.example.org"}})
	exact := ca.Issue(t, "exact", testutil.CertOptions{Names: []string{"api.example.org"}})
	rsaCert := ca.Issue(t, "rsa", testutil.CertOptions{Names: []string{"legacy.example.net"}, RSA: true})
	ecCert := ca.Issue(t, "ec", testutil.CertOptions{Names: []string{"legacy.example.net"}})
	certs, err := transport.NewCertificates([]tls.Certificate{def, wild, exact, rsaCert, ecCert})
	require.NoError(t, err)
	srv := &transport.TLS{Config: &tls.Config{GetCertificate: certs.GetCertificate}}
	addr, _ := tlsServer(t, srv, 1)

	served := func(name string, cfg *tls.Config) string {
		t.Helper()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.RootCAs, cfg.ServerName, cfg.InsecureSkipVerify = ca.Pool, name, cfg.InsecureSkipVerify || name == ""
		c, err := tls.Dial("tcp", addr, cfg)
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "exact", served("api.example.org", nil), "an exact name wins over the wildcard listed first")
	require.Equal(t, "wild", served("www.example.org", nil))
	require.Equal(t, "default", served("a.b.example.org", &tls.Config{InsecureSkipVerify: true}), "a wildcard covers one label")
	require.Equal(t, "default", served("", nil), "no SNI: the first certificate")
	require.Equal(t, "rsa", served("legacy.example.net", nil), "the first of the name's certificates")
	ecdsaOnly := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	require.Equal(t, "ec", served("legacy.example.net", ecdsaOnly), "a client that cannot use RSA gets the ECDSA one")

	renewed := ca.Issue(t, "renewed", testutil.CertOptions{Names: []string{"api.example.org"}})
	require.NoError(t, certs.Set([]tls.Certificate{def, renewed}))
	require.Equal(t, "renewed", served("api.example.org", nil))
	require.Error(t, certs.Set(nil))
	require.Equal(t, "renewed", served("api.example.org", nil), "a refused set leaves the old one")
}

// Ticket keys: one rotation still resumes, three do not; keys handed to
// another TLS (an upgraded process) resume its sessions.
func TestTLSTicketRotation(t *testing.T) {
	p := newPKI(t)
	cert := []tls.Certificate{p.server}
	srv := &transport.TLS{Config: &tls.Config{Certificates: cert}, TicketRotation: time.Hour}
	addr, _ := tlsServer(t, srv, 2)
	cache := tls.NewLRUClientSessionCache(4)
	dial := func(addr string) bool {
		t.Helper()
		cfg := p.client()
		cfg.ClientSessionCache = cache
		c, err := tls.Dial("tcp", addr, cfg)
		require.NoError(t, err)
		defer c.Close()
		roundTrip(t, c, []byte("x")) // takes the ticket
		return c.ConnectionState().DidResume
	}
	require.False(t, dial(addr))
	require.True(t, dial(addr))
	keys := srv.TicketKeys()
	require.Len(t, keys, 1)

	next := &transport.TLS{Config: &tls.Config{Certificates: cert}, TicketRotation: time.Hour}
	next.SetTicketKeys(keys)
	addr2, _ := tlsServer(t, next, 1)
	require.True(t, dial(addr2), "a TLS given the keys resumes the other's sessions")

	other := &transport.TLS{Config: &tls.Config{Certificates: cert}}
	addr3, _ := tlsServer(t, other, 1)
	require.False(t, dial(addr3), "without the keys: a full handshake")

	// A rotation on every handshake: the ticket of one resumes after one
	// and two rotations, not three.
	fast := &transport.TLS{Config: &tls.Config{Certificates: cert}, TicketRotation: time.Nanosecond}
	addr4, _ := tlsServer(t, fast, 1)
	fill := func() {
		c, err := tls.Dial("tcp", addr4, p.client())
		require.NoError(t, err)
		c.Close()
	}
	for _, rotations := range []int{1, 2, 3} {
		cache = tls.NewLRUClientSessionCache(4)
		require.False(t, dial(addr4))
		for range rotations - 1 {
			fill()
		}
		require.Equal(t, rotations < 3, dial(addr4), "resumed after %d rotations", rotations)
	}
}

func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(f, []byte("one"), 0o600))
	w := &transport.FileWatch{Paths: []string{f, filepath.Join(dir, "missing")}}
	require.False(t, w.Changed())
	require.False(t, w.Changed())
	require.NoError(t, os.WriteFile(f, []byte("two, longer"), 0o600))
	require.True(t, w.Changed())
	require.False(t, w.Changed())
	require.NoError(t, os.Remove(f))
	require.True(t, w.Changed())
}

// TLSFiles loads certificates, a client CA bundle and ECH keys from files;
// a Go client given the ECH config list gets its hello encrypted, and the
// server sees the inner name.
func TestTLSFilesAndECH(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCA(t, "files CA")
	cert, key := testutil.WritePEM(t, dir, "secret", ca.Issue(t, "secret", testutil.CertOptions{Names: []string{"secret.example"}}))
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	echConf, echKey, err := transport.ECHKeygen("public.example", 7)
	require.NoError(t, err)
	confFile, keyFile := filepath.Join(dir, "ech.config"), filepath.Join(dir, "ech.key")
	require.NoError(t, os.WriteFile(confFile, echConf, 0o600))
	require.NoError(t, os.WriteFile(keyFile, echKey, 0o600))

	files := transport.TLSFiles{Certificates: []transport.CertFiles{{Cert: cert, Key: key}}, ClientCA: caFile,
		ClientAuth: tls.VerifyClientCertIfGiven, ALPN: []string{"http/1.1"}, ECHKeys: []transport.ECHKeyFiles{{Config: confFile, Key: keyFile}}}
	cfg, _, err := files.Load()
	require.NoError(t, err)
	names := make(chan string, 1)
	srv := &transport.TLS{Config: cfg, Next: func(s transport.Stream) {
		cs, _ := transport.ConnectionState(s)
		names <- cs.ServerName
		s.SetHandler(tlsEcho{})
	}}
	addr, _ := tlsServer(t, srv, 1)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "secret.example",
		EncryptedClientHelloConfigList: transport.ECHConfigList(echConf), MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.ConnectionState().ECHAccepted, "the server took the encrypted hello")
	require.Equal(t, "secret.example", <-names, "the handler sees the inner name")
	roundTrip(t, c, []byte("hidden"))

	bad := files
	bad.Certificates = []transport.CertFiles{{Cert: cert, Key: filepath.Join(dir, "nope.key")}}
	_, _, err = bad.Load()
	require.ErrorContains(t, err, "nope.key")
	bad = files
	bad.ClientCA = cert + ".missing"
	_, _, err = bad.Load()
	require.ErrorContains(t, err, "CA bundle")
	bad = files
	bad.ECHKeys = []transport.ECHKeyFiles{{Config: caFile, Key: keyFile}}
	_, _, err = bad.Load()
	require.ErrorContains(t, err, "not an ECHConfig")
}
