package transport_test

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/transport"
)

// A stream that keeps writing into a congested socket: every write after
// the first refused one goes through the write queue, which the loop itself
// sends from before each new write and the queue's goroutine sends from when
// the netpoller says the socket is writable. The client reads slowly, then
// fast; it must get every byte in order, then the FIN the stream asked for
// while bytes were still queued; and once the stream is done no goroutine
// of its queue is left.
func TestWriteQueueOrderWhileLoopAndGoroutineSend(t *testing.T) {
	const (
		chunk = 96 << 10
		total = 48 << 20
	)
	pattern := func(off, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte((off + i) % 251)
		}
		return b
	}
	written := make(chan int, 1)
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		off := 0
		var step func()
		step = func() {
			// Write on regardless of Writable up to 2 MiB queued, so that
			// the queue is both long and often written to from the loop.
			for off < total && s.Queued() < 2<<20 {
				n := min(chunk, total-off)
				if _, err := s.Write(pattern(off, n)); err != nil {
					written <- -1
					return
				}
				off += n
			}
			if off < total {
				transport.AfterFunc(s.Loop(), time.Millisecond, step)
				return
			}
			_ = s.CloseWrite()
			written <- off
		}
		s.SetHandler(transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				if off == 0 {
					step()
				}
				return len(p)
			},
		})
	}})
	before := runtime.NumGoroutine()
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(64<<10))
	_, err = c.Write([]byte("go"))
	require.NoError(t, err)

	r := bufio.NewReaderSize(c, 32<<10)
	buf := make([]byte, 32<<10)
	got := 0
	require.NoError(t, c.SetReadDeadline(time.Now().Add(60*time.Second)))
	for {
		if got < 4<<20 {
			time.Sleep(2 * time.Millisecond) // slow at first: the queue fills
		}
		n, err := r.Read(buf)
		if n > 0 {
			require.Equal(t, pattern(got, n), buf[:n], "bytes at offset %d", got)
			got += n
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, total, got)
	require.Equal(t, total, <-written)
	c.Close()
	// (Polled here: require.Eventually runs its condition on goroutines
	// of its own.)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind by the write queue")
}

// A client that resets its connection while the stream has bytes queued for
// it: the stream closes with the write error (the queue's goroutine or the
// loop's next write sees it) and nothing of the queue is left running.
func TestWriteQueuePeerReset(t *testing.T) {
	closed := make(chan error, 1)
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		started := false
		var step func()
		step = func() {
			for s.Queued() < 1<<20 {
				if _, err := s.Write(make([]byte, 64<<10)); err != nil {
					return
				}
			}
			transport.AfterFunc(s.Loop(), time.Millisecond, step)
		}
		s.SetHandler(transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				if !started {
					started = true
					step()
				}
				return len(p)
			},
			Closed: func(_ transport.Stream, err error) { closed <- err },
		})
	}})
	before := runtime.NumGoroutine()
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(16<<10))
	_, err = c.Write([]byte("go"))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // the queue fills: nothing is read
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
	select {
	case err := <-closed:
		require.Error(t, err, "a reset under a queued write is an error")
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not close after the peer's reset")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind by the write queue")
}
