package l4

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// closedUDPPort returns an address where nothing listens: the kernel
// answers its datagrams with ICMP port unreachable.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return addr
}

func startFailoverRelay(t *testing.T, g *Group) string {
	t.Helper()
	r := &UDPRelay{Upstreams: g, Logger: quietLogger()}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()},
		transport.Listener{Addr: "udp://" + testutil.FreePort(t, "udp"), Accept: r.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

// askOnce sends msg once and returns the reply, or "" when none came.
func askOnce(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// An endpoint that answers with ICMP port unreachable is marked failed,
// as a refused TCP connect is, and a session that had no reply yet sends
// its datagrams again to the next endpoint: no client loses its first
// datagram to the dead endpoint, and FailTimeout keeps new sessions off
// it. Before, every session placed on the dead endpoint lost its first
// datagram and the endpoint was never marked.
func TestUDPRelayRefusedEndpointFailsOver(t *testing.T) {
	g, err := NewGroup("failover", closedUDPPort(t), testutil.UDPEchoServer(t))
	require.NoError(t, err)
	g.FailTimeout = time.Minute
	addr := startFailoverRelay(t, g)
	for i := range 6 {
		c, err := net.Dial("udp", addr)
		require.NoError(t, err)
		msg := fmt.Sprintf("first datagram of client %d", i)
		require.Equal(t, msg, askOnce(t, c, msg), "client %d: the first datagram was answered", i)
		c.Close()
	}
	require.NotZero(t, g.Endpoints[0].Failures(), "the refusing endpoint was marked failed")
	require.False(t, g.Endpoints[0].Healthy())
	require.True(t, g.Endpoints[1].Healthy())
}

// A session whose endpoint dies after answering ends: its client's next
// datagram opens a session on a live endpoint, and the dead one is marked
// failed.
func TestUDPRelayEndpointDiesMidSession(t *testing.T) {
	first, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		buf := make([]byte, 256)
		for {
			n, from, err := first.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = first.WriteTo(append([]byte("first:"), buf[:n]...), from)
		}
	}()
	g, err := NewGroup("dies", first.LocalAddr().String(), testutil.UDPEchoServer(t))
	require.NoError(t, err)
	g.FailTimeout = time.Minute
	addr := startFailoverRelay(t, g)
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "first:a", askOnce(t, c, "a"))
	require.NoError(t, first.Close())
	// The datagram that meets the dead endpoint is lost, as UDP allows;
	// the next ones reach the live one.
	var got string
	for try := 0; try < 10 && got != "b"; try++ {
		got = askOnce(t, c, "b")
	}
	require.Equal(t, "b", got)
	require.NotZero(t, g.Endpoints[0].Failures())
}
