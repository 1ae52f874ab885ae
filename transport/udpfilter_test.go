package transport

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A session socket's kernel filter passes only its client's non-empty
// datagrams: another port on the same address, another address on the
// same port and an empty datagram from the client are all dropped, over
// IPv4 and IPv6.
func TestSourceFilter(t *testing.T) {
	for _, tc := range []struct{ net, client, other string }{
		{"udp4", "127.0.0.1:0", "127.0.0.2:0"},
		{"udp6", "[::1]:0", ""},
	} {
		t.Run(tc.net, func(t *testing.T) {
			rx, err := net.ListenUDP(tc.net, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.client)))
			if err != nil && tc.net == "udp6" {
				t.Skip("no IPv6:", err)
			}
			require.NoError(t, err)
			defer rx.Close()
			to := rx.LocalAddr().(*net.UDPAddr)
			send := func(from string) *net.UDPConn {
				c, err := net.DialUDP(tc.net, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)), to)
				require.NoError(t, err)
				t.Cleanup(func() { c.Close() })
				return c
			}
			client := send(tc.client)
			samePortElsewhere := send(tc.client)
			var otherAddr *net.UDPConn
			if tc.other != "" {
				otherAddr = send(tc.other)
			}
			rc, err := rx.SyscallConn()
			require.NoError(t, err)
			var ferr error
			require.NoError(t, rc.Control(func(fd uintptr) {
				ferr = attachFilter(int(fd), sourceFilter(client.LocalAddr().(*net.UDPAddr).AddrPort()))
			}))
			require.NoError(t, ferr)

			_, _ = samePortElsewhere.Write([]byte("other port"))
			if otherAddr != nil {
				_, _ = otherAddr.Write([]byte("other address"))
			}
			_, _ = client.Write(nil)
			_, _ = client.Write([]byte("mine"))
			buf := make([]byte, 64)
			_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := rx.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			require.Equal(t, "mine", string(buf[:n]))
			require.Equal(t, client.LocalAddr().(*net.UDPAddr).AddrPort(), from)
			_ = rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _, err = rx.ReadFromUDPAddrPort(buf)
			require.Error(t, err, "nothing else passed the filter")
		})
	}
}
