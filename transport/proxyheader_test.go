package transport_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/codecs/proxyproto"
	"github.com/penstock-proxy/penstock/transport"
)

// A trusted load balancer's PROXY header becomes the stream's RemoteAddr;
// an untrusted source's "header" is just data; a trusted source that sends
// a bad header is closed.
func TestProxyHeader(t *testing.T) {
	seen := make(chan string, 4)
	ph := &transport.ProxyHeader{
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Timeout: 500 * time.Millisecond,
		Logger:  quiet(),
		Next: func(s transport.Stream) {
			s.SetHandler(transport.HandlerFuncs{Data: func(s transport.Stream, p []byte) int {
				seen <- s.RemoteAddr().String() + " " + string(p)
				_ = s.CloseWrite()
				return len(p)
			}})
		},
	}
	tr := start(t, transport.Listener{Addr: "tcp://0.0.0.0:0", Accept: ph.Accept})
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.Addrs()[0].(*net.TCPAddr).Port)).String()

	hdr, err := proxyproto.AppendV2(nil, &proxyproto.Header{Command: proxyproto.Proxy, Family: proxyproto.FamilyIPv4,
		Transport: proxyproto.TransportStream, Source: netip.MustParseAddrPort("203.0.113.7:4242"),
		Destination: netip.MustParseAddrPort("198.51.100.1:443")})
	require.NoError(t, err)

	send := func(src string, b []byte) net.Conn {
		c, err := dialFrom(t, src, addr)
		require.NoError(t, err)
		_, _ = c.Write(b)
		return c
	}
	c := send("127.0.0.1", append(hdr, "hello"...))
	require.Equal(t, "203.0.113.7:4242 hello", <-seen, "the client's address comes from the trusted header")
	c.Close()

	c = send("127.0.0.2", append(hdr, "hello"...))
	got := <-seen
	require.Contains(t, got, "127.0.0.2:", "an untrusted source keeps its own address")
	require.Contains(t, got, "hello")
	c.Close()

	c = send("127.0.0.1", []byte("GET / HTTP/1.1\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = io.ReadAll(c)
	require.NoError(t, err, "closed cleanly")
	c.Close()
	select {
	case s := <-seen:
		t.Fatalf("a trusted source without a header reached the handler: %s", s)
	default:
	}
}
