package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// The http one-liner serves HTTP/2 by default: h2 by ALPN behind
// --tls-cert (curl --http2, Go's client, h2spec over TLS) and h2c with
// prior knowledge in cleartext, to an HTTP/1.1 upstream; --no-http2 turns
// both off.
func TestDaemonHTTP2(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "path=%s up_proto=%s fwd=%s body=%d", r.URL.Path, r.Proto, r.Header.Get("X-Forwarded-Proto"), len(body))
	}))
	t.Cleanup(be.Close)
	up := strings.TrimPrefix(be.URL, "http://")
	dir := t.TempDir()
	ca := testutil.NewCA(t, "h2 CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := testutil.WritePEM(t, dir, "site", ca.Issue(t, "site", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}}))

	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "http", "--listen", listen, "--to", up, "--tls-cert", cert, "--tls-key", key)
	d.waitLog(t, "msg=listening")
	got, err := curl(t, "--http2", "--cacert", caFile, "-w", " http_version=%{http_version}", "https://"+listen+"/tls")
	require.NoError(t, err, got)
	require.Contains(t, got, "path=/tls up_proto=HTTP/1.1 fwd=https")
	require.Contains(t, got, "http_version=2")

	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: true}}
	resp, err := cl.Post("https://"+listen+"/go", "text/plain", strings.NewReader(strings.Repeat("x", 300000)))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)
	require.Equal(t, "path=/go up_proto=HTTP/1.1 fwd=https body=300000", string(b))

	t.Run("h2spec over TLS through the proxy", func(t *testing.T) { testutil.H2spec(t, listen, "-t", "-k") })

	plain := testutil.FreePort(t, "tcp")
	d = startDaemon(t, "http", "--listen", plain, "--to", up)
	d.waitLog(t, "msg=listening")
	got, err = curl(t, "--http2-prior-knowledge", "-w", " http_version=%{http_version}", "http://"+plain+"/h2c")
	require.NoError(t, err, got)
	require.Contains(t, got, "path=/h2c up_proto=HTTP/1.1 fwd=http")
	require.Contains(t, got, "http_version=2")

	off := testutil.FreePort(t, "tcp")
	d = startDaemon(t, "http", "--listen", off, "--to", up, "--tls-cert", cert, "--tls-key", key, "--no-http2")
	d.waitLog(t, "msg=listening")
	got, err = curl(t, "--http2", "--cacert", caFile, "-w", " http_version=%{http_version}", "https://"+off+"/off")
	require.NoError(t, err, got)
	require.Contains(t, got, "http_version=1.1")
}
