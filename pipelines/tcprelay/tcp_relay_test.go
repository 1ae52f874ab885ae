package tcprelay

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// The generated relay serves real sockets: failover past a dead endpoint,
// the whole reply after the client's half-close, and the spec's filter.
func TestGeneratedTCPRelay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Upstreams["backends"] = []string{testutil.FreePort(t, "tcp"), testutil.EchoServer(t)}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	for range 4 {
		c, err := net.Dial("tcp", tr.Addrs()[0].String())
		require.NoError(t, err)
		msg := make([]byte, 2<<20)
		go func() {
			_, _ = c.Write(msg)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Len(t, got, len(msg))
		c.Close()
	}
	require.Equal(t, uint64(4), tr.ListenerStats()[Name+" tcp://127.0.0.1:0"].Admitted)
}

// named is a TCP server that writes its name to each connection and then
// echoes.
func named(t *testing.T, name string) string {
	return testutil.TCPServer(t, func(c *net.TCPConn) {
		if _, err := io.WriteString(c, name); err == nil {
			_, _ = io.Copy(c, c)
		}
	})
}

// Swap relays new connections to the new group and judges them by the
// new filter rules; a connection relayed before keeps its upstream.
func TestSwap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Upstreams["backends"] = []string{named(t, "A")}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: cfg.Logger}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()
	greet := func(c net.Conn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		require.NoError(t, err)
		return string(b)
	}
	echo := func(c net.Conn, msg string) string {
		t.Helper()
		_, err := io.WriteString(c, msg)
		require.NoError(t, err)
		b := make([]byte, len(msg))
		_, err = io.ReadFull(c, b)
		require.NoError(t, err)
		return string(b)
	}
	old, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer old.Close()
	require.Equal(t, "A", greet(old))

	next := p.Config()
	next.Upstreams = map[string][]string{"backends": {named(t, "B")}}
	require.NoError(t, p.Swap(next))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "B", greet(c), "a new connection goes to the new group")
	require.Equal(t, "still here", echo(old, "still here"), "the old connection keeps its upstream")

	// Loopback denied: the next connection is refused before a byte is
	// read, the open ones carry on.
	denied := p.Config()
	denied.Deny = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	require.NoError(t, p.Swap(denied))
	r, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer r.Close()
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = r.Read(make([]byte, 1))
	require.Error(t, err, "a denied source gets no byte")
	require.Equal(t, "ok", echo(c, "ok"))
	require.Equal(t, uint64(1), tr.ListenerStats()[Name+" tcp://127.0.0.1:0"].Rejected[transport.ReasonDenied.String()])

	require.Error(t, p.Swap(Config{Upstreams: map[string][]string{}}), "a Config without the spec's group is refused")
	require.Equal(t, denied.Deny, p.Config().Deny)
}
