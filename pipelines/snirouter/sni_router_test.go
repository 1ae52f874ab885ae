package snirouter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/proxyproto"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// tlsBackend terminates TLS behind the router: it reads the PROXY v2
// header, then serves TLS with cert and answers its name.
func tlsBackend(t *testing.T, cert tls.Certificate, clients chan<- string) string {
	return testutil.TCPServer(t, func(c *net.TCPConn) {
		buf := make([]byte, 0, 512)
		var h proxyproto.Header
		for {
			tmp := make([]byte, 1)
			if _, err := c.Read(tmp); err != nil {
				return
			}
			buf = append(buf, tmp...)
			if n, err := proxyproto.Decode(buf, &h); err == nil && n == len(buf) {
				break
			} else if err != nil && !errors.Is(err, codecs.ErrNeedMore) {
				t.Errorf("PROXY header: %v", err)
				return
			}
		}
		clients <- h.Source.String()
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_, _ = tc.Write([]byte(cert.Leaf.DNSNames[0]))
		_ = tc.Close()
	})
}

func isNeedMore(err error) bool {
	return err != nil && err.Error() == "penstock/codecs: need more bytes"
}

func TestGeneratedSNIRouter(t *testing.T) {
	orgCert, orgPool := testutil.SelfSigned(t, "www.example.org")
	apiCert, apiPool := testutil.SelfSigned(t, "api.example.net")
	clients := make(chan string, 4)
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Upstreams["org"] = []string{tlsBackend(t, orgCert, clients)}
	cfg.Upstreams["api"] = []string{tlsBackend(t, apiCert, clients)}
	cfg.Upstreams["ssh"] = []string{testutil.TCPServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		_, _ = c.Write(b[len(b)-len("SSH-2.0-test\r\n"):])
	})}
	cfg.Upstreams["fallback"] = []string{testutil.FreePort(t, "tcp")}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()

	for _, tc := range []struct {
		name string
		pool *x509.CertPool
	}{{"www.example.org", orgPool}, {"api.example.net", apiPool}} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.name, RootCAs: tc.pool})
		require.NoError(t, err, tc.name)
		require.Equal(t, tls.X25519MLKEM768, c.ConnectionState().CurveID, "post-quantum key exchange end to end")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, tc.name, string(b))
		require.Equal(t, c.LocalAddr().String(), <-clients, "PROXY v2 carried the client's address")
		c.Close()
	}

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = c.Write([]byte("SSH-2.0-test\r\n"))
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	require.Equal(t, "SSH-2.0-test\r\n", string(b))
	c.Close()
}
