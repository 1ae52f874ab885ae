package redis

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProxyTrickledMGET sends an MGET of 200,000 keys (3.4 MB) in 4 KiB
// writes, as the slow client of issue 10 did, while another client on the
// same event loop sends PINGs, and checks the merged reply and the memory
// the proxy allocated meanwhile. Decoding the unfinished request from its
// start on every read, as the proxy did, allocated in proportion to reads
// times size (the argument slots of all the keys so far, on every read):
// over a gigabyte here. Decoding it as it arrives allocates a few times its
// size, for the arguments, the per-shard requests and the merged reply.
func TestProxyTrickledMGET(t *testing.T) {
	addr, _ := startProxyLoops(t, 2, 1, nil)
	c := dial(t, addr)
	other := dial(t, addr)
	const keys = 200_000
	key := func(i int) string { return "key:" + strconv.Itoa(i) }
	for i := 0; i < keys; i += 1000 {
		c.send("SET", key(i), "v"+strconv.Itoa(i))
	}
	for i := 0; i < keys; i += 1000 {
		require.Equal(t, "OK", c.read(t))
	}
	var req []byte
	req = append(req, "*"+strconv.Itoa(1+keys)+"\r\n$4\r\nMGET\r\n"...)
	for i := range keys {
		k := key(i)
		req = append(req, "$"+strconv.Itoa(len(k))+"\r\n"+k+"\r\n"...)
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const piece = 4 << 10
	for off, n := 0, 0; off < len(req); off, n = off+piece, n+1 {
		_, err := c.c.Write(req[off:min(off+piece, len(req))])
		require.NoError(t, err)
		if n%64 == 63 {
			require.Equal(t, "PONG", other.do(t, "PING"), "a client on the same loop is served meanwhile")
		}
		time.Sleep(100 * time.Microsecond) // let the proxy read each piece on its own
	}
	readMGET(t, c, keys, func(i int) string {
		if i%1000 == 0 {
			return "v" + strconv.Itoa(i)
		}
		return ""
	})
	runtime.ReadMemStats(&after)
	require.Equal(t, "PONG", other.do(t, "PING"))

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("request of %d bytes: %d bytes allocated", len(req), allocated)
	require.Less(t, allocated, uint64(32*len(req)), "allocation grows faster than the request")
}

// readMGET reads an array reply of n bulk strings without keeping it, and
// checks element i against want(i), "" meaning a null.
func readMGET(t *testing.T, c *rc, n int, want func(i int) string) {
	t.Helper()
	line := func() []byte {
		l, err := c.r.ReadSlice('\n')
		require.NoError(t, err)
		return bytes.TrimSuffix(l, []byte("\r\n"))
	}
	require.Equal(t, "*"+strconv.Itoa(n), string(line()))
	var buf []byte
	for i := range n {
		l := line()
		if string(l) == "$-1" {
			require.Equal(t, "", want(i), "element %d", i)
			continue
		}
		size, err := strconv.Atoi(string(l[1:]))
		require.NoError(t, err, "element %d: %q", i, l)
		buf = append(buf[:0], make([]byte, size+2)...)
		_, err = io.ReadFull(c.r, buf)
		require.NoError(t, err)
		if got := string(buf[:size]); got != want(i) {
			t.Fatalf("element %d: %q, want %q", i, got, want(i))
		}
	}
}

// TestProxyHeldBackInput sends a large request in two writes, so that the
// proxy keeps its unfinished start itself, followed in the second write by
// more pipelined requests than MaxPending lets it serve at once and by EOF:
// every request gets its reply, in order, before the proxy closes.
func TestProxyHeldBackInput(t *testing.T) {
	addr, _ := startProxyLoops(t, 2, 1, func(cfg *Config) { cfg.MaxPending = 4 })
	c := dial(t, addr)
	value := strings.Repeat("v", 100_000)
	var in []byte
	in = append(in, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000\r\n"+value+"\r\n"...)
	for i := range 40 {
		if i%2 == 0 {
			in = append(in, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"...)
		} else {
			in = append(in, "PING\r\n"...)
		}
	}
	_, err := c.c.Write(in[:30_000])
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond) // let the proxy read the first part on its own
	_, err = c.c.Write(in[30_000:])
	require.NoError(t, err)
	require.NoError(t, c.c.(*net.TCPConn).CloseWrite())

	require.Equal(t, "OK", c.read(t))
	for i := range 40 {
		want := "PONG"
		if i%2 == 0 {
			want = value
		}
		require.Equal(t, want, c.read(t), "reply %d", i)
	}
	_, err = c.r.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}
