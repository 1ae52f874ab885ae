package main

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// tlsBackend is an HTTPS upstream with a certificate from ca for
// localhost; it answers with what it saw.
func tlsBackend(t *testing.T, ca *testutil.CA) string {
	t.Helper()
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s proto=%s xfcc=%q via_tls=%v", r.URL.Path, r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Client-Cert"), r.TLS != nil)
	}))
	be.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "backend", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}})}}
	be.StartTLS()
	t.Cleanup(be.Close)
	return strings.TrimPrefix(be.URL, "https://")
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err
}

// The daemon terminates HTTPS with certificates by SNI, verifies optional
// client certificates and forwards them in a field a client cannot
// forge, originates verified TLS to the upstream, logs the TLS details,
// and reloads its certificate files when they change, refusing a broken
// one.
func TestDaemonHTTPS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	dir := t.TempDir()
	ca := testutil.NewCA(t, "penstock test CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	appCert, appKey := testutil.WritePEM(t, dir, "app", ca.Issue(t, "app v1", testutil.CertOptions{Names: []string{"app.example"}}))
	apiCert, apiKey := testutil.WritePEM(t, dir, "api", ca.Issue(t, "api", testutil.CertOptions{Names: []string{"*.api.example"}, RSA: true}))
	clientCert, clientKey := testutil.WritePEM(t, dir, "client", ca.Issue(t, "client-7", testutil.CertOptions{Client: true, URIs: []string{"spiffe://example.org/web"}}))
	other := testutil.NewCA(t, "other")
	otherFile := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherFile, other.PEM, 0o600))

	backend := tlsBackend(t, ca)
	listen := testutil.FreePort(t, "tcp")
	_, port, _ := net.SplitHostPort(listen)
	accessLog := filepath.Join(dir, "access.log")
	config := fmt.Sprintf(`version: 1
log: {level: info}
pipelines:
  - name: https
    listen: tcp://%s
    stages:
      - kind: tls
        certificates:
          - {cert: %s, key: %s}
          - {cert: %s, key: %s}
        client_auth: optional
        client_ca: %s
        alpn: [http/1.1]
        watch: 100ms
      - kind: http_proxy
        upstream: backend
        client_cert_header: X-Forwarded-Client-Cert
        access_log: %s
        routes:
          - {path_prefix: /wrong-ca/, upstream: wrong_ca}
upstreams:
  backend:
    endpoints: [%s]
    tls: {ca: %s, sni: localhost}
  wrong_ca:
    endpoints: [%s]
    tls: {ca: %s, sni: localhost}
`, listen, appCert, appKey, apiCert, apiKey, caFile, accessLog, backend, caFile, backend, otherFile)
	cfgFile := filepath.Join(dir, "penstock.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(config), 0o600))

	out, err := exec.Command(buildBinary(t), "check", "-c", cfgFile).CombinedOutput()
	require.NoError(t, err, string(out))
	d := startDaemon(t, "run", "-c", cfgFile)
	d.waitLog(t, "msg=listening")

	resolve := func(name string) []string {
		return []string{"--cacert", caFile, "--resolve", name + ":" + port + ":127.0.0.1"}
	}
	url := func(name, path string) string { return "https://" + name + ":" + port + path }

	got, err := curl(t, append(resolve("app.example"), url("app.example", "/hello"))...)
	require.NoError(t, err, got)
	require.Contains(t, got, "path=/hello proto=https")
	require.Contains(t, got, `xfcc=""`, "no client certificate: no field")
	require.Contains(t, got, "via_tls=true", "the upstream leg is TLS")

	got, err = curl(t, append(resolve("app.example"), "-H", "X-Forwarded-Client-Cert: Hash=forged", url("app.example", "/forge"))...)
	require.NoError(t, err, got)
	require.Contains(t, got, `xfcc=""`, "a client cannot forge the field")

	got, err = curl(t, append(resolve("app.example"), "--cert", clientCert, "--key", clientKey, url("app.example", "/mtls"))...)
	require.NoError(t, err, got)
	require.Contains(t, got, `Subject=\"CN=client-7,O=penstock tests\";URI=spiffe:%2F%2Fexample.org%2Fweb`)

	// The wildcard certificate (RSA) for its names, checked by curl.
	got, err = curl(t, append(resolve("v1.api.example"), url("v1.api.example", "/api"))...)
	require.NoError(t, err, got)
	require.Contains(t, got, "path=/api")

	// An upstream whose certificate the group's CA did not sign: 502.
	got, err = curl(t, append(resolve("app.example"), "-o", "/dev/null", "-w", "%{http_code}", url("app.example", "/wrong-ca/x"))...)
	require.NoError(t, err, got)
	require.Equal(t, "502", got)

	// Live reload: new files serve new handshakes.
	served := func() string {
		c, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: ca.Pool, ServerName: "app.example"})
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "app v1", served())
	v2 := ca.Issue(t, "app v2", testutil.CertOptions{Names: []string{"app.example"}})
	testutil.WritePEM(t, dir, "app", v2)
	d.waitLog(t, "TLS certificates reloaded")
	require.Eventually(t, func() bool { return served() == "app v2" }, 10*time.Second, 50*time.Millisecond)

	// A broken file is refused; v2 keeps serving.
	require.NoError(t, os.WriteFile(appKey, []byte("not a key"), 0o600))
	d.waitLog(t, "TLS reload refused")
	require.Equal(t, "app v2", served())
	// SIGHUP reloads too (after the file is fixed).
	testutil.WritePEM(t, dir, "app", ca.Issue(t, "app v3", testutil.CertOptions{Names: []string{"app.example"}}))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	d.waitLog(t, "trigger=SIGHUP")
	require.Eventually(t, func() bool { return served() == "app v3" }, 10*time.Second, 50*time.Millisecond)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	require.Contains(t, string(logged), "tls_version=\"TLS 1.3\"")
	require.Contains(t, string(logged), "client_cert_subject=\"CN=client-7,O=penstock tests\"")
	require.Contains(t, string(logged), "client_spiffe_id=spiffe://example.org/web")
	require.Contains(t, d.stderr.String(), "TLS totals")
}

// The one-liners: HTTPS in front of an HTTPS upstream, and a TCP relay
// that terminates TLS and relays plaintext, each with its flags alone.
func TestDaemonTLSOneLiners(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	dir := t.TempDir()
	ca := testutil.NewCA(t, "one-liner CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := testutil.WritePEM(t, dir, "site", ca.Issue(t, "site", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}}))

	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "http", "--listen", listen, "--to", tlsBackend(t, ca), "--tls-cert", cert, "--tls-key", key,
		"--upstream-tls", "--upstream-ca", caFile, "--upstream-sni", "localhost")
	d.waitLog(t, "msg=listening")
	got, err := curl(t, "--cacert", caFile, "https://"+listen+"/one")
	require.NoError(t, err, got)
	require.Contains(t, got, "path=/one proto=https")
	require.Contains(t, got, "via_tls=true")
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))

	tcpListen := testutil.FreePort(t, "tcp")
	d = startDaemon(t, "tcp", "--listen", tcpListen, "--to", testutil.EchoServer(t), "--tls-cert", cert, "--tls-key", key)
	d.waitLog(t, "msg=listening")
	c, err := tls.Dial("tcp", tcpListen, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	require.NoError(t, err)
	_, err = c.Write([]byte("plaintext behind"))
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, b, len("plaintext behind"))
	require.Equal(t, "plaintext behind", string(b[:n]))
	c.Close()

	// A missing key file is named; a flag of another mode is refused.
	out, err := exec.Command(buildBinary(t), "http", "--listen", testutil.FreePort(t, "tcp"), "--to", "127.0.0.1:1",
		"--tls-cert", cert, "--tls-key", filepath.Join(dir, "missing.key")).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "missing.key")
	out, err = exec.Command(buildBinary(t), "udp", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1", "--tls-cert", cert).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "flag provided but not defined: -tls-cert")
}

// ech-keygen's files serve ECH in a tls stage, and the list it prints is
// what a Go client needs.
func TestDaemonECH(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(buildBinary(t), "ech-keygen", "--public-name", "public.example", "--out", filepath.Join(dir, "ech")).CombinedOutput()
	require.NoError(t, err, string(out))
	i := strings.Index(string(out), "(base64): ")
	require.Positive(t, i)
	list, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out[i+len("(base64): "):])))
	require.NoError(t, err)

	ca := testutil.NewCA(t, "ech CA")
	testutil.WritePEM(t, dir, "site", ca.Issue(t, "site", testutil.CertOptions{Names: []string{"secret.example", "public.example"}}))
	listen := testutil.FreePort(t, "tcp")
	runConfig(t, filepath.Join(dir, "ech.yaml"), fmt.Sprintf(`version: 1
pipelines:
  - name: ech
    listen: tcp://%s
    stages:
      - kind: tls
        certificates: [{cert: site.crt, key: site.key}]
        ech_keys: [{config: ech.config, key: ech.key}]
      - {kind: relay, upstream: echo}
upstreams:
  echo: {endpoints: [%s]}
`, listen, testutil.EchoServer(t)))
	c, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: ca.Pool, ServerName: "secret.example", EncryptedClientHelloConfigList: list})
	require.NoError(t, err)
	require.True(t, c.ConnectionState().ECHAccepted)
	c.Close()
}

// The Redis proxy behind a tls stage: redis-cli over TLS (when it was built
// with TLS) and a Go client get answers from a real shard.
func TestDaemonRedisOverTLS(t *testing.T) {
	addr, stop, _ := testutil.RedisServer(t)
	defer stop()
	dir := t.TempDir()
	ca := testutil.NewCA(t, "redis CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	testutil.WritePEM(t, dir, "site", ca.Issue(t, "localhost", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}}))
	listen := testutil.FreePort(t, "tcp")
	runConfig(t, filepath.Join(dir, "redis.yaml"), fmt.Sprintf(`version: 1
pipelines:
  - name: redis-tls
    listen: tcp://%s
    stages:
      - kind: tls
        certificates: [{cert: site.crt, key: site.key}]
      - {kind: redis_proxy, upstream: shards}
upstreams:
  shards: {endpoints: [%s]}
`, listen, addr))
	c, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(c, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9\r\nover-tls!\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	require.NoError(t, err)
	want := "+OK\r\n$9\r\nover-tls!\r\n"
	got := make([]byte, len(want))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, want, string(got))

	if out, err := exec.Command("redis-cli", "--help").CombinedOutput(); err == nil && strings.Contains(string(out), "--tls") {
		host, port, _ := net.SplitHostPort(listen)
		out, err := exec.Command("redis-cli", "--tls", "--cacert", caFile, "--sni", "localhost", "-h", host, "-p", port, "GET", "k").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, "over-tls!\n", string(out))
	}
}
