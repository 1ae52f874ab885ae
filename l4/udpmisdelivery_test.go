package l4

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// recordingUDPEcho echoes every datagram and reports, through seen, every
// payload it received.
func recordingUDPEcho(t *testing.T, seen func(p []byte)) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	_ = c.(*net.UDPConn).SetReadBuffer(4 << 20)
	done := make(chan struct{})
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, addr, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			seen(buf[:n])
			_, _ = c.WriteTo(buf[:n], addr)
		}
	}()
	return c.LocalAddr().String()
}

// With thousands of sessions opening at once on two loops, every reply
// reaches the client that sent the datagram, and a source the listener
// denies reaches no upstream. Each session's own socket is bound to the
// listener's address before it is connected to its client, and took
// whatever the kernel gave it in between: other clients' datagrams, denied
// ones among them.
func TestUDPRelayNoMisdelivery(t *testing.T) {
	var denied atomic.Int64
	up := recordingUDPEcho(t, func(p []byte) {
		if bytes.HasPrefix(p, []byte("denied")) {
			denied.Add(1)
		}
	})
	f := &transport.Filters{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	_, addr := startUDPRelay(t, transport.Listener{Addr: "udp://" + testutil.FreePort(t, "udp"), Filters: f}, up)

	// A denied source floods the listener while the sessions open.
	stop := make(chan struct{})
	var flood sync.WaitGroup
	flood.Add(1)
	go func() {
		defer flood.Done()
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		if !assertNoErr(t, err) {
			return
		}
		defer c.Close()
		msg := []byte("denied flood")
		for i := 0; i < 2_000_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.Write(msg)
		}
	}()

	const clients = 3000
	conns := make([]*net.UDPConn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "client %d", i)
		require.NoError(t, err)
	}
	var wrong, answered atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("client %d", i)
			buf := make([]byte, 64)
			for try := 0; try < 3; try++ {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					// Lost (UDP may drop): ask again.
					_, _ = c.Write([]byte(want))
					continue
				}
				if string(buf[:n]) != want {
					wrong.Add(1)
					continue
				}
				answered.Add(1)
				return
			}
		}()
	}
	wg.Wait()
	close(stop)
	flood.Wait()
	require.Zero(t, wrong.Load(), "replies reached the wrong client")
	require.Zero(t, denied.Load(), "datagrams from a denied source reached the upstream")
	// The flood fills socket buffers, and UDP drops what they cannot
	// hold (more so under -race, whose loops run several times slower):
	// what matters is that no reply went astray, not how many were lost.
	require.Greater(t, answered.Load(), int64(clients/2), "most clients got their reply")
	require.Greater(t, f.Stats().Rejected["denied"], uint64(0), "the denied source was refused")
}
