package main

import (
	"encoding/json"
	"fmt"
	"net"
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

// haproxyTLS runs HAProxy as an HTTPS server with cert (chain and key in
// one PEM, as HAProxy takes them) and returns its address; it answers with
// the protocol and SNI it saw.
func haproxyTLS(t *testing.T, dir, name string, cert, key string) string {
	return haproxyTLSWith(t, dir, name, cert, key, "")
}

// haproxyTLSWith is haproxyTLS with more bind options (client
// certificates).
func haproxyTLSWith(t *testing.T, dir, name string, cert, key, bindOpts string) string {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed: apt-get install -y haproxy")
	}
	c, err := os.ReadFile(cert)
	require.NoError(t, err)
	k, err := os.ReadFile(key)
	require.NoError(t, err)
	pem := filepath.Join(dir, name+".haproxy.pem")
	require.NoError(t, os.WriteFile(pem, append(c, k...), 0o600))
	addr := testutil.FreePort(t, "tcp")
	cfg := filepath.Join(dir, name+".haproxy.cfg")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  log stderr local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind %s ssl crt %s %s
  http-request return status 200 content-type text/plain lf-string "haproxy %%[ssl_fc_protocol] sni=%%[ssl_fc_sni] resumed=%%[ssl_fc_is_resumed] client=%%[ssl_c_s_dn(CN)]"
`, addr, pem, bindOpts)), 0o600))
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	out := &syncBuffer{} // written by exec's copier while the test reads it
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "haproxy did not start: %s", out.String())
	return addr
}

// HAProxy as the TLS upstream: penstock verifies its certificate and name
// (on by default), and refuses one its CA did not sign or one that has
// expired, answering 502.
func TestDaemonOriginatesTLSToHAProxy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	dir := t.TempDir()
	ca := testutil.NewCA(t, "upstream CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := testutil.WritePEM(t, dir, "good", ca.Issue(t, "haproxy", testutil.CertOptions{Names: []string{"backend.internal"}}))
	good := haproxyTLS(t, dir, "good", cert, key)
	cert, key = testutil.WritePEM(t, dir, "expired",
		ca.Issue(t, "old", testutil.CertOptions{Names: []string{"backend.internal"}, NotAfter: time.Now().Add(-time.Hour)}))
	expired := haproxyTLS(t, dir, "expired", cert, key)

	for _, tc := range []struct {
		name, to, ca, want string
	}{
		{"verified", good, caFile, "haproxy TLSv1.3 sni=backend.internal resumed=0 client="},
		{"wrong CA", good, filepath.Join(dir, "other.pem"), "502"},
		{"expired", expired, caFile, "502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ca != caFile {
				require.NoError(t, os.WriteFile(tc.ca, testutil.NewCA(t, "other").PEM, 0o600))
			}
			listen := testutil.FreePort(t, "tcp")
			d := startDaemon(t, "http", "--listen", listen, "--to", tc.to, "--upstream-ca", tc.ca, "--upstream-sni", "backend.internal")
			d.waitLog(t, "msg=listening")
			args := []string{"http://" + listen + "/"}
			if tc.want == "502" {
				args = append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, args...)
			}
			got, err := curl(t, args...)
			require.NoError(t, err, got)
			require.Equal(t, tc.want, got)

			require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, d.wait(t))
			if tc.want == "502" {
				require.Contains(t, d.stderr.String(), "certificate")
			}
		})
	}
}

// mTLS upstream: HAProxy requires a client certificate signed by its CA;
// the group's cert and key give it one, and a second connection resumes
// the session.
func TestDaemonUpstreamMTLSToHAProxy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	dir := t.TempDir()
	ca := testutil.NewCA(t, "mtls CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := testutil.WritePEM(t, dir, "server", ca.Issue(t, "haproxy", testutil.CertOptions{Names: []string{"backend.internal"}}))
	up := haproxyTLSWith(t, dir, "mtls", cert, key, "ca-file "+caFile+" verify required")
	clientCert, clientKey := testutil.WritePEM(t, dir, "proxy", ca.Issue(t, "penstock-proxy", testutil.CertOptions{Client: true}))
	for _, withCert := range []bool{true, false} {
		listen := testutil.FreePort(t, "tcp")
		certKeys := ""
		if withCert {
			certKeys = fmt.Sprintf(", cert: %s, key: %s", clientCert, clientKey)
		}
		d := runConfig(t, filepath.Join(dir, "mtls.yaml"), fmt.Sprintf(`version: 1
pipelines:
  - name: mtls
    listen: tcp://%s
    stages: [{kind: http_proxy, upstream: up, max_idle: -1}]  # a new upstream connection a request
upstreams:
  up:
    endpoints: [%s]
    tls: {ca: %s, sni: backend.internal%s}
`, listen, up, caFile, certKeys))
		got, err := curl(t, "-w", " %{http_code}", "http://"+listen+"/")
		require.NoError(t, err, got)
		if withCert {
			require.Equal(t, "haproxy TLSv1.3 sni=backend.internal resumed=0 client=penstock-proxy 200", got)
			// The next connection resumes the session (the group's cache).
			got, err = curl(t, "-w", " %{http_code}", "http://"+listen+"/")
			require.NoError(t, err, got)
			require.Equal(t, "haproxy TLSv1.3 sni=backend.internal resumed=1 client=penstock-proxy 200", got)
		} else {
			require.True(t, strings.HasSuffix(got, " 502"), got)
		}
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
		require.Equal(t, 0, d.wait(t))
	}
}

// testssl.sh finds no protocol below TLS 1.2, no weak cipher and no known
// vulnerability on penstock's HTTPS listener.
func TestTestsslFindsNothing(t *testing.T) {
	if _, err := exec.LookPath("testssl"); err != nil {
		t.Skip("testssl.sh not installed: apt-get install -y testssl.sh")
	}
	dir := t.TempDir()
	ca := testutil.NewCA(t, "testssl CA")
	cert, key := testutil.WritePEM(t, dir, "site", ca.Issue(t, "localhost", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}}))
	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "http", "--listen", listen, "--to", "127.0.0.1:9", "--tls-cert", cert, "--tls-key", key)
	d.waitLog(t, "msg=listening")
	out := filepath.Join(dir, "testssl.json")
	// Protocols, cipher categories, forward secrecy and the vulnerability
	// checks; not the certificate (a test CA's).
	cmd := exec.Command("testssl", "--quiet", "--color", "0", "--warnings", "off", "--ip", "one", "-p", "-s", "-f", "-U",
		"--jsonfile", out, listen)
	o, err := cmd.CombinedOutput()
	require.NoError(t, err, string(o))
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var findings []struct{ ID, Severity, Finding string }
	require.NoError(t, json.Unmarshal(data, &findings))
	require.NotEmpty(t, findings)
	byID := map[string]string{}
	for _, f := range findings {
		byID[f.ID] = f.Finding
		switch f.Severity {
		case "LOW", "MEDIUM", "HIGH", "CRITICAL":
			t.Errorf("testssl: %s (%s): %s", f.ID, f.Severity, f.Finding)
		}
	}
	for _, id := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1"} {
		require.Contains(t, byID[id], "not offered", id)
	}
	require.Contains(t, byID["TLS1_3"], "offered")
	for _, id := range []string{"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"} {
		require.Contains(t, byID[id], "not offered", id)
	}
	for _, id := range []string{"heartbleed", "CCS", "ticketbleed", "secure_client_renego", "CRIME_TLS", "POODLE_SSL", "SWEET32", "FREAK", "LOGJAM", "BEAST", "LUCKY13", "RC4"} {
		if f, ok := byID[id]; ok {
			require.NotContains(t, strings.ToLower(f), "vulnerable ", id+": "+f)
		}
	}
}
