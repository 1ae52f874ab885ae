package l4

import (
	"bytes"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// The same relay (Pipe) runs over every kind of virtual stream. Each case
// sends 2 MiB through the relay to an echo, half-closes, and expects the
// same bytes back followed by EOF.
func TestPipeOverEachStreamKind(t *testing.T) {
	const size = 2 << 20
	cases := map[string]func(t *testing.T) []byte{
		"loop to loop": func(t *testing.T) []byte {
			return socketRoundTrip(t, startRelay(t, nil, testutil.EchoServer(t)), size)
		},
		"detached to detached": func(t *testing.T) []byte {
			loop := transport.NewSerialLoop()
			echo := testutil.EchoServer(t)
			addr := testutil.TCPServer(t, func(c *net.TCPConn) {
				up, err := net.Dial("tcp", echo)
				if err != nil {
					t.Error(err)
					return
				}
				done := make(chan struct{})
				a := transport.NewDetachedStream(loop, c, transport.Watermarks{})
				b := transport.NewDetachedStream(loop, up, transport.Watermarks{})
				loop.Execute(func() {
					Pipe(a, b, PipeOptions{Done: func(error, PipeStats) { close(done) }})
				})
				<-done
			})
			return socketRoundTrip(t, addr, size)
		},
		"loop to detached on the same event loop": func(t *testing.T) []byte {
			echo := testutil.EchoServer(t)
			tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()}, transport.Listener{
				Addr: "tcp://127.0.0.1:0",
				Accept: func(s transport.Stream) {
					up, err := net.Dial("tcp", echo) // a test may block its loop briefly
					if err != nil {
						t.Error(err)
						_ = s.Close()
						return
					}
					Pipe(s, transport.NewDetachedStream(s.Loop(), up, transport.Watermarks{}), PipeOptions{})
				},
			})
			require.NoError(t, err)
			t.Cleanup(tr.Stop)
			return socketRoundTrip(t, tr.Addrs()[0].String(), size)
		},
		"memory to memory": func(t *testing.T) []byte {
			loop := transport.NewSerialLoop()
			client, a := transport.NewPipe(loop, loop, transport.Watermarks{})
			b, server := transport.NewPipe(loop, loop, transport.Watermarks{})
			got := make(chan []byte, 1)
			data := payload(size)
			loop.Execute(func() {
				server.SetHandler(transport.HandlerFuncs{
					Data: func(s transport.Stream, p []byte) int {
						_, _ = s.Write(p)
						return len(p)
					},
					ReadEOF: func(s transport.Stream) { _ = s.CloseWrite() },
				})
				Pipe(a, b, PipeOptions{})
				var buf []byte
				client.SetHandler(transport.HandlerFuncs{
					Data: func(_ transport.Stream, p []byte) int {
						buf = append(buf, p...)
						return len(p)
					},
					Closed: func(transport.Stream, error) { got <- buf },
				})
				_, _ = client.Write(data)
				_ = client.CloseWrite()
			})
			select {
			case b := <-got:
				require.Equal(t, data, b)
				return b
			case <-time.After(20 * time.Second):
				t.Fatal("memory relay did not finish")
				return nil
			}
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			require.Len(t, run(t), size)
		})
	}
	t.Run("udp session to udp socket", func(t *testing.T) {
		_, addr := startUDPRelay(t, transport.Listener{}, testutil.UDPEchoServer(t))
		c, err := net.Dial("udp", addr)
		require.NoError(t, err)
		defer c.Close()
		buf := make([]byte, 2048)
		for i := range 50 {
			msg := payload(100 + i)
			_, err := c.Write(msg)
			require.NoError(t, err)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			require.NoError(t, err)
			require.True(t, bytes.Equal(msg, buf[:n]), "datagram %d", i)
		}
	})
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// socketRoundTrip writes size random bytes to addr, half-closes, and returns
// what came back before EOF after checking it equals what was sent.
func socketRoundTrip(t *testing.T, addr string, size int) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	data := payload(size)
	go func() {
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got bytes.Buffer
	_, err = got.ReadFrom(c)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got.Bytes()), "round trip mismatch: %d of %d bytes", got.Len(), size)
	return got.Bytes()
}
