package httpproxy_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// cannedUpstream is testutil.CannedHTTP: an upstream that allocates
// nothing per request.
func cannedUpstream(t testing.TB) string { return testutil.CannedHTTP(t) }

// roundTrip sends req on c and reads one response with a 12-byte body into
// buf, allocating nothing.
func roundTrip(c net.Conn, req, buf []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 && n >= i+4+12 {
			if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) || n != i+4+12 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if n == len(buf) {
			return io.ErrShortBuffer
		}
	}
}

// A keep-alive request proxied over a pooled upstream connection allocates
// nothing in steady state: the whole process is counted, with a client and
// an upstream that allocate nothing themselves.
func TestProxyKeepAliveNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops items under it); CI runs it in the non-race pass")
	}
	up := cannedUpstream(t)
	p := &httpproxy.Proxy{Upstreams: group(t, up), Logger: quiet()}
	srv := &httpd.Server{Handler: p, Logger: quiet()}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	n := allocsPerRequest(t, c)
	if n != 0 {
		t.Errorf("%v allocations per proxied keep-alive request, want 0", n)
	}
}

// allocsPerRequest warms c up, then counts the allocations of the whole
// process per keep-alive request on it.
func allocsPerRequest(t *testing.T, c net.Conn) float64 {
	t.Helper()
	req := []byte("GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: alloc-test\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	for range 200 {
		require.NoError(t, roundTrip(c, req, buf))
	}
	var rtErr error
	n := testing.AllocsPerRun(2000, func() {
		if err := roundTrip(c, req, buf); err != nil && rtErr == nil {
			rtErr = err
		}
	})
	require.NoError(t, rtErr)
	return n
}

// The same over TLS: the records are read and written on the loop, and a
// keep-alive HTTPS request proxied to a pooled upstream allocates only
// what stock crypto/tls does: one 32-byte reader for each read it takes
// from its connection (crypto/tls's readFromUntil), once in the proxy and
// once in the Go client, which is counted too. The proxy gives crypto/tls
// whole records and counts them, so it never makes the read that would
// only find nothing left (that one cost an allocation too).
func TestProxyKeepAliveTLSNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops items under it); CI runs it in the non-race pass")
	}
	up := cannedUpstream(t)
	p := &httpproxy.Proxy{Upstreams: group(t, up), Logger: quiet()}
	srv := &httpd.Server{Handler: p, Logger: quiet()}
	ca := testutil.NewCA(t, "alloc CA")
	term := &transport.TLS{Config: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "localhost", testutil.CertOptions{Names: []string{"localhost"}})}},
		Next: srv.Accept, Logger: quiet()}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: term.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	c, err := tls.Dial("tcp", tr.Addrs()[0].String(), &tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	require.NoError(t, err)
	defer c.Close()
	n := allocsPerRequest(t, c)
	if n > 2 {
		t.Errorf("%v allocations per proxied keep-alive HTTPS request, want crypto/tls's 2 (one a side)", n)
	}
}
