package transport

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every scheme reports its bound address, the real port for port 0: a
// tcp6:// or udp6:// listener reported nil before, since gnet files such
// listeners under "tcp" and "udp" once their sockets are open.
func TestAddrsOfEveryScheme(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		ln.Close()
	}
	accept := func(s Stream) { _ = s.Close() }
	lns := []Listener{
		{Addr: "tcp4://127.0.0.1:0", Accept: accept},
		{Addr: "tcp6://[::1]:0", Accept: accept},
		{Addr: "udp4://127.0.0.1:0", Accept: accept},
		{Addr: "udp6://[::1]:0", Accept: accept},
		{Addr: "unix://" + t.TempDir() + "/s.sock", Accept: accept},
	}
	tr, err := Start(Options{Loops: 1}, lns...)
	require.NoError(t, err)
	defer tr.Stop()
	for i, a := range tr.Addrs() {
		require.NotNil(t, a, lns[i].Addr)
		switch a := a.(type) {
		case *net.TCPAddr:
			require.NotZero(t, a.Port, lns[i].Addr)
			require.Equal(t, lns[i].Addr[3] == '6', a.IP.To4() == nil, lns[i].Addr)
		case *net.UDPAddr:
			require.NotZero(t, a.Port, lns[i].Addr)
			require.Equal(t, lns[i].Addr[3] == '6', a.IP.To4() == nil, lns[i].Addr)
		}
	}
	// The tcp6 listener accepts at the address it reports.
	c, err := net.Dial("tcp6", tr.Addrs()[1].String())
	require.NoError(t, err)
	c.Close()
}
