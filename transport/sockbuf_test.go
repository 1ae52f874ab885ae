package transport

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// bufSizes reads a socket's SO_SNDBUF and SO_RCVBUF.
func bufSizes(t *testing.T, fd int) [2]int {
	t.Helper()
	snd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	require.NoError(t, err)
	rcv, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	require.NoError(t, err)
	return [2]int{snd, rcv}
}

// Options.SocketSendBuffer and SocketRecvBuffer reach both kinds of
// connection a relay has: the accepted one (through its listener) and the
// upstream it dials and attaches; without them the kernel's sizes stay.
func TestSocketBufferSizes(t *testing.T) {
	const snd, rcv = 1 << 20, 768 << 10
	wantSnd, wantRcv := testutil.SocketBufferSizes(t, snd, rcv)
	want := [2]int{wantSnd, wantRcv}
	up := testutil.EchoServer(t)

	for _, tc := range []struct {
		name     string
		snd, rcv int
	}{{"set", snd, rcv}, {"unset", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			type sizes struct{ accepted, attached [2]int }
			got := make(chan sizes, 1)
			tr, err := Start(Options{Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				SocketSendBuffer: tc.snd, SocketRecvBuffer: tc.rcv},
				Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s Stream) {
					acc := bufSizes(t, s.(*loopStream).fd())
					el := s.Loop().(*EventLoop)
					go func() {
						nc, err := net.Dial("tcp", up)
						if err != nil {
							t.Error(err)
							return
						}
						el.Attach(nc, func(u Stream, err error) {
							if err != nil {
								t.Error(err)
								return
							}
							got <- sizes{acc, bufSizes(t, u.(*loopStream).fd())}
							_ = u.Close()
							_ = s.Close()
						})
					}()
				}})
			require.NoError(t, err)
			defer tr.Stop()
			c, err := net.Dial("tcp", tr.Addrs()[0].String())
			require.NoError(t, err)
			defer c.Close()
			var g sizes
			select {
			case g = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("no connection was accepted and attached")
			}
			if tc.snd > 0 {
				require.Equal(t, want, g.accepted, "accepted: SO_SNDBUF, SO_RCVBUF")
				require.Equal(t, want, g.attached, "attached: SO_SNDBUF, SO_RCVBUF")
				return
			}
			require.NotEqual(t, want, g.accepted, "the kernel's sizes, not the option's")
			require.NotEqual(t, want, g.attached, "the kernel's sizes, not the option's")
		})
	}
}

func TestSocketBufferSizesNegative(t *testing.T) {
	_, err := Start(Options{SocketSendBuffer: -1}, Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s Stream) { _ = s.Close() }})
	require.ErrorContains(t, err, "must not be negative")
}
