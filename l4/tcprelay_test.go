package l4

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/codecs/proxyproto"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// relayModes are the two ways a relay moves bytes: on the event loop only,
// and moving to splice(2) after the first 64 KiB.
var relayModes = []struct {
	name   string
	splice int64
}{{"loop", -1}, {"splice", 64 << 10}}

// eachMode runs a relay test once per relay mode; startRelay reads the mode.
func eachMode(t *testing.T, test func(t *testing.T)) {
	for _, m := range relayModes {
		t.Run(m.name, func(t *testing.T) {
			spliceAfter.Store(m.splice)
			test(t)
		})
	}
}

var spliceAfter atomic.Int64

// startRelay runs a TCP relay on a loopback port to the given upstreams.
func startRelay(t *testing.T, f *transport.Filters, upstreams ...string) string {
	t.Helper()
	g, err := NewGroup("test", upstreams...)
	require.NoError(t, err)
	r := &TCPRelay{Upstreams: g, DialTimeout: time.Second, Logger: quietLogger(), SpliceAfter: spliceAfter.Load()}
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quietLogger()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: r.Accept, Filters: f})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

func TestTCPRelayEcho(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		addr := startRelay(t, nil, testutil.EchoServer(t))
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				echoCheck(t, addr, 2<<20)
			}()
		}
		wg.Wait()
	})
}

// echoCheck sends n random bytes, half-closes, and checks the echo and EOF.
func echoCheck(t *testing.T, addr string, n int) {
	c, err := net.Dial("tcp", addr)
	if !assertNoErr(t, err) {
		return
	}
	defer c.Close()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	assertNoErr(t, err)
	assertNoErr(t, <-errc)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("echo mismatch: got %d bytes, want %d", len(got), len(data))
	}
}

func assertNoErr(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// A client that shuts down its write side still gets the whole reply: the
// backend reads to EOF, then answers and closes.
func TestTCPRelayHalfClose(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		backend := testutil.TCPServer(t, func(c *net.TCPConn) {
			n, _ := io.Copy(io.Discard, c)
			reply := bytes.Repeat([]byte("r"), int(n))
			_, _ = c.Write(reply)
		})
		addr := startRelay(t, nil, backend)
		for _, size := range []int{1, 330_000, 8 << 20} {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, err = c.Write(bytes.Repeat([]byte("q"), size))
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			require.Equal(t, size, len(got), "reply after half-close")
			c.Close()
		}
	})
}

// The backend writes 32 MiB and closes at once; the slow client still gets
// every byte and then EOF.
func TestTCPRelayFullDeliveryOnClose(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		const size = 32 << 20
		data := make([]byte, size)
		_, _ = rand.Read(data)
		backend := testutil.TCPServer(t, func(c *net.TCPConn) {
			_, _ = c.Write(data)
		})
		addr := startRelay(t, nil, backend)
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		time.Sleep(300 * time.Millisecond) // let the relay fill and park
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
	})
}

// A client pushing as fast as it can into a backend that reads slowly
// keeps the relay's memory bounded: the backpressure reaches the client.
func TestTCPRelayBackpressure(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		const rate = 4 << 20 // bytes per second the backend reads
		received := make(chan int64, 1)
		backend := testutil.TCPServer(t, func(c *net.TCPConn) {
			_ = c.SetReadBuffer(64 << 10)
			var total int64
			buf := make([]byte, 64<<10)
			start := time.Now()
			for {
				n, err := c.Read(buf)
				total += int64(n)
				if err != nil {
					received <- total
					return
				}
				if ahead := time.Duration(float64(total)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		})
		addr := startRelay(t, nil, backend)
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		buf := make([]byte, 64<<10)
		var sent int64
		deadline := time.Now().Add(2 * time.Second)
		_ = c.SetWriteDeadline(deadline)
		for time.Now().Before(deadline) {
			n, err := c.Write(buf)
			sent += int64(n)
			if err != nil {
				break
			}
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		got := <-received
		c.Close()
		require.Equal(t, sent, got, "every byte the client wrote reached the backend")
		growth := int64(after.HeapInuse) - int64(before.HeapInuse)
		t.Logf("sent %d MiB in 2s, heap growth %d KiB", sent>>20, growth>>10)
		require.Less(t, growth, int64(32<<20), "relay memory must stay bounded")
		require.Less(t, sent, int64(64<<20), "the client must be slowed down")
	})
}

func TestTCPRelayFailover(t *testing.T) {
	dead := testutil.DeadPort(t)
	addr := startRelay(t, nil, dead, testutil.EchoServer(t))
	for range 4 {
		echoCheck(t, addr, 1000)
	}
}

func TestTCPRelayNoUpstreamClosesClient(t *testing.T) {
	addr := startRelay(t, nil, testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp"))
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 10))
	require.Equal(t, 0, n)
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "client must be closed, not left hanging")
}

func TestTCPRelayDeniedSourceGetsNothing(t *testing.T) {
	var mu sync.Mutex
	accepted := 0
	backend := testutil.TCPServer(t, func(c *net.TCPConn) {
		mu.Lock()
		accepted++
		mu.Unlock()
		_, _ = io.Copy(c, c)
	})
	f := &transport.Filters{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	addr := startRelay(t, f, backend)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("hello"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(make([]byte, 10))
	require.Equal(t, 0, n)
	require.Error(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 0, accepted, "a denied client must not reach the upstream")
	require.Equal(t, uint64(1), f.Stats().Rejected["denied"])
}

// A client that writes but never reads, against an echo backend, congests
// both directions at once; the relay's memory stays bounded and TCP blocks
// the client.
func TestTCPRelayBothDirectionsCongested(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		addr := startRelay(t, nil, testutil.EchoServer(t))
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		buf := make([]byte, 64<<10)
		var sent int64
		deadline := time.Now().Add(2 * time.Second)
		_ = c.SetWriteDeadline(deadline)
		for time.Now().Before(deadline) {
			n, err := c.Write(buf)
			sent += int64(n)
			if err != nil {
				break
			}
		}
		runtime.ReadMemStats(&after)
		growth := int64(after.HeapInuse) - int64(before.HeapInuse)
		t.Logf("client wrote %d MiB before TCP blocked it; heap growth %d KiB", sent>>20, growth>>10)
		require.Less(t, sent, int64(256<<20), "the client must be blocked")
		require.Less(t, growth, int64(32<<20))
	})
}

// An upstream that finishes while its side is parked (the client has
// half-closed and reads slowly through a small buffer) still delivers
// everything, then EOF.
// smallWindowDialer sets a 16 KiB receive buffer before connecting, so the
// window the client advertises matches what it can hold. Shrinking it after
// the handshake (SetReadBuffer on a connected socket) makes Linux's loopback
// drop segments it advertised room for; a closed (orphaned) sender socket
// then stalls in its persist timer with data the client never gets, whoever
// the sender is.
var smallWindowDialer = net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
	})
	return errors.Join(err, serr)
}}

func TestTCPRelaySlowReaderHalfClosed(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		const size = 4 << 20
		data := payload(size)
		backend := testutil.TCPServer(t, func(c *net.TCPConn) {
			_, _ = c.Write(data)
			_ = c.CloseWrite()
			_, _ = io.Copy(io.Discard, c)
		})
		addr := startRelay(t, nil, backend)
		for range 3 {
			c, err := smallWindowDialer.Dial("tcp", addr)
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			time.Sleep(300 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				out, _ := exec.Command("ss", "-tnoie").CombinedOutput()
				t.Logf("got %d bytes; ss:\n%s", len(got), out)
			}
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
			c.Close()
		}
	})
}

func TestTCPRelayIdleTimeout(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		g, err := NewGroup("idle", testutil.EchoServer(t))
		require.NoError(t, err)
		closed := make(chan error, 1)
		r := &TCPRelay{Upstreams: g, Idle: time.Second, Logger: quietLogger(), SpliceAfter: spliceAfter.Load()}
		tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()},
			transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: r.Accept})
		require.NoError(t, err)
		defer tr.Stop()
		c, err := net.Dial("tcp", tr.Addrs()[0].String())
		require.NoError(t, err)
		defer c.Close()
		// Traffic keeps it open past the idle time; then silence closes it.
		big := payload(256 << 10)
		for range 4 {
			_, err = c.Write(big)
			require.NoError(t, err)
			_, err = io.ReadFull(c, make([]byte, len(big)))
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond) // well inside the idle time, even on a loaded machine
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Read(make([]byte, 1))
			closed <- err
		}()
		start := time.Now()
		err = <-closed
		require.Error(t, err)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "closed by the relay, not by the test's deadline")
		require.Less(t, time.Since(start), 9*time.Second)
	})
}

// Unix sockets work on both sides: a unix listener relays to a unix
// upstream.
func TestTCPRelayUnixSockets(t *testing.T) {
	dir := t.TempDir()
	upPath := filepath.Join(dir, "up.sock")
	l, err := net.Listen("unix", upPath)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.UnixConn).CloseWrite()
			}()
		}
	}()
	g, err := NewGroup("unix", "unix:"+upPath)
	require.NoError(t, err)
	r := &TCPRelay{Upstreams: g, Logger: quietLogger()}
	lnPath := filepath.Join(dir, "relay.sock")
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()},
		transport.Listener{Addr: "unix://" + lnPath, Accept: r.Accept})
	require.NoError(t, err)
	defer tr.Stop()
	c, err := net.Dial("unix", lnPath)
	require.NoError(t, err)
	defer c.Close()
	msg := payload(3 << 20)
	go func() {
		_, _ = c.Write(msg)
		_ = c.(*net.UnixConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.True(t, bytes.Equal(msg, got))
}

// Connections are spread round robin over the endpoints.
func TestTCPRelayRoundRobin(t *testing.T) {
	named := func(name string) string {
		return testutil.TCPServer(t, func(c *net.TCPConn) {
			_, _ = c.Write([]byte(name))
		})
	}
	addr := startRelay(t, nil, named("a"), named("b"), named("c"))
	counts := map[string]int{}
	for range 9 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		c.Close()
		counts[string(b)]++
	}
	require.Equal(t, map[string]int{"a": 3, "b": 3, "c": 3}, counts)
}

// A client that writes and closes at once (no half-close, no read) still
// has every byte delivered upstream.
func TestTCPRelayClientClosesRightAfterWriting(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		got := make(chan [32]byte, 1)
		backend := testutil.TCPServer(t, func(c *net.TCPConn) {
			h := sha256.New()
			_, _ = io.Copy(h, c)
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			got <- sum
		})
		addr := startRelay(t, nil, backend)
		data := payload(4 << 20)
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write(data)
		require.NoError(t, err)
		require.NoError(t, c.Close())
		select {
		case sum := <-got:
			require.Equal(t, sha256.Sum256(data), sum)
		case <-time.After(20 * time.Second):
			t.Fatal("upstream never saw EOF")
		}
	})
}

// SendProxy gives the upstream the client's address in a PROXY header, v1
// or v2, before the client's first byte.
func TestTCPRelaySendProxy(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			got := make(chan proxyproto.Header, 1)
			rest := make(chan string, 1)
			backend := testutil.TCPServer(t, func(c *net.TCPConn) {
				b, _ := io.ReadAll(c)
				var h proxyproto.Header
				n, err := proxyproto.Decode(b, &h)
				if err != nil {
					t.Errorf("decode: %v", err)
					return
				}
				got <- h
				rest <- string(b[n:])
			})
			g, err := NewGroup("pp", backend)
			require.NoError(t, err)
			r := &TCPRelay{Upstreams: g, SendProxy: version, Logger: quietLogger()}
			tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()},
				transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: r.Accept})
			require.NoError(t, err)
			defer tr.Stop()
			c, err := net.Dial("tcp", tr.Addrs()[0].String())
			require.NoError(t, err)
			_, _ = c.Write([]byte("hello"))
			_ = c.(*net.TCPConn).CloseWrite()
			h := <-got
			require.Equal(t, version, h.Version)
			require.Equal(t, c.LocalAddr().String(), h.Source.String(), "the upstream learns the client's address")
			require.Equal(t, tr.Addrs()[0].String(), h.Destination.String())
			require.Equal(t, "hello", <-rest)
			c.Close()
		})
	}
}
