package httpsproxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// The generated pipeline serves HTTPS from its spec's files, forwards a
// verified client certificate (and never a client's own field), passes
// TLS details to hooks, and Swap serves a new certificate.
func TestGeneratedHTTPSProxy(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s xfcc=%s group=%s", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Client-Cert"), r.Header.Get("X-Group"))
	}))
	defer be.Close()
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Upstreams = map[string][]string{"web": {strings.TrimPrefix(be.URL, "http://")}}
	p, err := New(cfg)
	require.NoError(t, err)
	p.Proxy.UpstreamRequestFilter = func(s *httpproxy.Session) {
		if info := s.TLS(); info != nil {
			s.UpstreamHeader.Set("X-Group", info.Group)
		}
	}
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: cfg.Logger}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()

	// The spec's certificate, checked against its CA.
	roots, err := transport.LoadCertPool("testdata/ca.crt")
	require.NoError(t, err)
	get := func(cfg *tls.Config, header string) string {
		t.Helper()
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer cl.CloseIdleConnections()
		req, err := http.NewRequest("GET", "https://"+addr+"/", nil)
		require.NoError(t, err)
		if header != "" {
			req.Header.Set("X-Forwarded-Client-Cert", header)
		}
		resp, err := cl.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	require.Equal(t, "proto=https xfcc= group=X25519MLKEM768", get(&tls.Config{RootCAs: roots, ServerName: "localhost"}, "Hash=forged"))

	ca := testutil.NewCA(t, "swap CA")
	dir := t.TempDir()
	cert, key := testutil.WritePEM(t, dir, "new", ca.Issue(t, "new", testutil.CertOptions{Names: []string{"localhost"}}))
	caFile, _ := testutil.WritePEM(t, dir, "clients", ca.Issue(t, "unused", testutil.CertOptions{}))
	next := p.Config()
	next.TLS.Certificates = []transport.CertFiles{{Cert: cert, Key: key}}
	next.TLS.ClientCA = caFile
	require.NoError(t, p.Swap(next))
	// The new config's client CA bundle (clients.crt ends with the test
	// CA) verifies client-7.
	client := ca.Issue(t, "client-7", testutil.CertOptions{Client: true})
	got := get(&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{client}}, "")
	require.Contains(t, got, "proto=https xfcc=Hash=")
	require.Contains(t, got, `Subject="CN=client-7,O=penstock tests"`)

	broken := p.Config()
	broken.TLS.Certificates = []transport.CertFiles{{Cert: cert, Key: cert}}
	require.ErrorContains(t, p.Swap(broken), "tls:")
	require.Contains(t, get(&tls.Config{RootCAs: ca.Pool, ServerName: "localhost"}, ""), "proto=https", "a refused Swap keeps the served certificate")
}
