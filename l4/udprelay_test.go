package l4

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

func startUDPRelay(t *testing.T, ln transport.Listener, upstreams ...string) (*transport.Transport, string) {
	t.Helper()
	g, err := NewGroup("udp-test", upstreams...)
	require.NoError(t, err)
	r := &UDPRelay{Upstreams: g, Logger: quietLogger()}
	if ln.Addr == "" {
		ln.Addr = "udp://" + testutil.FreePort(t, "udp")
	}
	ln.Accept = r.Accept
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quietLogger()}, ln)
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr, tr.Addrs()[0].String()
}

// Every client gets its own replies, and datagrams up to 64 KiB arrive
// intact.
func TestUDPRelayClientsAndSizes(t *testing.T) {
	_, addr := startUDPRelay(t, transport.Listener{}, testutil.UDPEchoServer(t))
	sizes := []int{1, 64, 1500, 9000, 65507}
	var wg sync.WaitGroup
	for client := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", addr)
			if !assertNoErr(t, err) {
				return
			}
			defer c.Close()
			_ = c.(*net.UDPConn).SetReadBuffer(1 << 20)
			buf := make([]byte, 65536)
			for _, size := range sizes {
				msg := make([]byte, size)
				_, _ = rand.Read(msg)
				copy(msg, fmt.Sprintf("client-%d", client))
				var got []byte
				for try := 0; try < 5 && got == nil; try++ {
					_, err := c.Write(msg)
					if !assertNoErr(t, err) {
						return
					}
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					n, err := c.Read(buf)
					if err == nil {
						got = buf[:n]
					}
				}
				if !bytes.Equal(got, msg) {
					t.Errorf("client %d size %d: reply mismatch (got %d bytes)", client, size, len(got))
				}
			}
		}()
	}
	wg.Wait()
}

func TestUDPRelaySessionCapAndIdle(t *testing.T) {
	f := &transport.Filters{}
	tr, addr := startUDPRelay(t, transport.Listener{MaxSessions: 2, SessionIdle: time.Second, Filters: f},
		testutil.UDPEchoServer(t))
	ping := func(c net.Conn) bool {
		_, _ = c.Write([]byte("ping"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 16))
		return err == nil
	}
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("udp", addr)
		require.NoError(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	// The two loops each see some of the clients; the cap is global.
	ok := 0
	for _, c := range conns {
		if ping(c) {
			ok++
		}
	}
	require.Equal(t, 2, ok, "only MaxSessions sessions are served")
	require.Equal(t, uint64(1), f.Stats().Rejected["session_cap"])
	require.Eventually(t, func() bool { return tr.Sessions() == 0 }, 5*time.Second, 20*time.Millisecond, "idle sessions expire")
	require.True(t, ping(conns[2]), "after expiry a new session is admitted")
}

// Bursts of datagrams, which queue up on the relay's sockets and are
// drained several per readiness event, come back whole and in order. An
// empty datagram is dropped (see transport's dropEmptyDatagrams) and
// does not cut the flow.
func TestUDPRelayBurstsInOrder(t *testing.T) {
	_, addr := startUDPRelay(t, transport.Listener{}, testutil.UDPEchoServer(t))
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.(*net.UDPConn).SetReadBuffer(1<<20))
	// The first datagram makes the session.
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(buf)
	require.NoError(t, err)
	const burst = 30
	for b := range 5 {
		var sent [][]byte
		for i := range burst {
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
			copy(msg, fmt.Sprintf("burst %d seq %d:", b, i))
			if i == 7 {
				msg = []byte{}
			}
			sent = append(sent, msg)
			_, err := c.Write(msg)
			require.NoError(t, err)
		}
		for i := range burst {
			if len(sent[i]) == 0 {
				continue
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			require.NoError(t, err, "burst %d: reply %d", b, i)
			require.Equal(t, sent[i], buf[:n], "burst %d: reply %d", b, i)
		}
	}
}
