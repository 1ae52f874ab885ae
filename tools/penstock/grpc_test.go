package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// grpcInterop returns the grpc-go interop server and client, installed by
// .ci/run into $GOPATH/grpc-interop (their names are too generic for a
// shared bin directory).
func grpcInterop(t *testing.T) (server, client string) {
	dir := os.Getenv("PENSTOCK_GRPC_INTEROP")
	if dir == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			dir = filepath.Join(string(out[:len(out)-1]), "grpc-interop")
		}
	}
	server, client = filepath.Join(dir, "server"), filepath.Join(dir, "client")
	for _, f := range []string{server, client} {
		if _, err := os.Stat(f); err != nil {
			t.Skip("grpc-go interop server/client not installed: GOBIN=$(go env GOPATH)/grpc-interop go install google.golang.org/grpc/interop/server@v1.85.0 google.golang.org/grpc/interop/client@v1.85.0 (.ci/run does)")
		}
	}
	return server, client
}

var grpcCases = []string{"empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
	"timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response", "status_code_and_message",
	"special_status_message", "custom_metadata", "unimplemented_method", "unimplemented_service"}

// grpc-go's interop client runs its cases through the daemon's HTTP proxy
// to grpc-go's interop server: cleartext (h2c both sides), and TLS (h2 by
// ALPN to the proxy, h2 over verified TLS to the server).
func TestDaemonGRPCInterop(t *testing.T) {
	serverBin, clientBin := grpcInterop(t)
	dir := t.TempDir()
	ca := testutil.NewCA(t, "grpc CA")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := testutil.WritePEM(t, dir, "site", ca.Issue(t, "site", testutil.CertOptions{Names: []string{"localhost", "127.0.0.1"}}))

	startServer := func(args ...string) string {
		port := testutil.FreePort(t, "tcp")
		_, p, _ := net.SplitHostPort(port)
		cmd := exec.Command(serverBin, append([]string{"-port", p}, args...)...)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.Eventually(t, func() bool {
			c, err := net.Dial("tcp", port)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 20*time.Second, 20*time.Millisecond)
		return port
	}
	run := func(t *testing.T, proxy string, tlsArgs ...string) {
		host, p, _ := net.SplitHostPort(proxy)
		for _, tc := range grpcCases {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			args := append([]string{"-server_host", host, "-server_port", p, "-test_case", tc}, tlsArgs...)
			out, err := exec.CommandContext(ctx, clientBin, args...).CombinedOutput()
			cancel()
			require.NoError(t, err, "%s:\n%s", tc, out)
		}
	}

	t.Run("h2c", func(t *testing.T) {
		up := startServer()
		listen := testutil.FreePort(t, "tcp")
		d := startDaemon(t, "http", "--listen", listen, "--to", up, "--upstream-protocol", "h2c")
		d.waitLog(t, "msg=listening")
		run(t, listen)
	})
	t.Run("tls", func(t *testing.T) {
		up := startServer("-use_tls", "-tls_cert_file", cert, "-tls_key_file", key)
		listen := testutil.FreePort(t, "tcp")
		d := startDaemon(t, "http", "--listen", listen, "--to", up, "--tls-cert", cert, "--tls-key", key,
			"--upstream-tls", "--upstream-ca", caFile, "--upstream-sni", "localhost", "--upstream-protocol", "h2")
		d.waitLog(t, "msg=listening")
		run(t, listen, "-use_tls", "-use_test_ca", "-ca_file", caFile, "-server_host_override", "localhost")
	})
}
