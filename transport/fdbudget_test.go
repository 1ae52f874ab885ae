package transport

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every admitted stream and UDP session gives its share of the descriptor
// budget back when it ends, however it ends (closed by its peer, by its
// handler, or by Stop): a leak would make later listeners of the process
// refuse everything.
func TestFDBudgetGivenBack(t *testing.T) {
	before := fdUnits.Load()
	tr, err := Start(Options{Loops: 2},
		Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s Stream) { s.SetHandler(echoHandler{}) }},
		Listener{Addr: "udp://127.0.0.1:0", Accept: func(s Stream) { s.SetHandler(echoHandler{}) }})
	require.NoError(t, err)
	tcpAddr, udpAddr := tr.Addrs()[0].String(), tr.Addrs()[1].String()
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", tcpAddr)
		require.NoError(t, err)
		_, _ = c.Write([]byte("x"))
		conns = append(conns, c)
		u, err := net.Dial("udp", udpAddr)
		require.NoError(t, err)
		_, _ = u.Write([]byte("x"))
		conns = append(conns, u)
	}
	require.Eventually(t, func() bool { return fdUnits.Load() == before+40 }, 5*time.Second, 5*time.Millisecond,
		"20 streams and 20 sessions admitted: %d", fdUnits.Load()-before)
	for i, c := range conns {
		if i%4 == 0 {
			c.Close() // some closed by the client, the rest by Stop
		}
	}
	tr.Stop()
	for _, c := range conns {
		c.Close()
	}
	require.Eventually(t, func() bool { return fdUnits.Load() == before }, 5*time.Second, 5*time.Millisecond,
		"left reserved after Stop: %d", fdUnits.Load()-before)
}

type echoHandler struct{}

func (echoHandler) OnData(s Stream, p []byte) int { _, _ = s.Write(p); return len(p) }
func (echoHandler) OnReadEOF(s Stream)            { _ = s.Close() }
func (echoHandler) OnDrained(Stream)              {}
func (echoHandler) OnClose(Stream, error)         {}
