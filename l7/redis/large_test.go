package redis

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
	"github.com/stretchr/testify/require"
)

// keyOn returns a key the proxy places on shard i.
func keyOn(p *Proxy, i int, prefix string) string {
	for n := 0; ; n++ {
		if k := prefix + strconv.Itoa(n); p.pick([]byte(k)) == i {
			return k
		}
	}
}

// delivered sums, over every loop, the bytes shard i's streams handed to
// the proxy. It runs on the test's goroutine while the loops are quiet.
func delivered(p *Proxy, i int) (n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ls := range p.loops {
		done := make(chan int64)
		ls.loop.Execute(func() { done <- ls.shards[i].delivered })
		n += <-done
	}
	return n
}

// Large values go through in time linear in their size (issue 15: a 64 MB
// GET took 11 s): a reply that arrives in many reads is handed to the
// proxy once, not again with every read, and comes back byte for byte,
// alone, inside an MGET across shards, and pipelined with small replies.
func TestProxyLargeValuesLinear(t *testing.T) {
	addr, _, p := startProxyP(t, 2, 1, nil)
	c := dial(t, addr)
	_ = c.c.SetDeadline(time.Now().Add(60 * time.Second))
	const size = 8 << 20
	big := [2]string{keyOn(p, 0, "big"), keyOn(p, 1, "big")}
	// Connected shards take a large request's buffer rather than a copy.
	require.Equal(t, "(nil)", c.do(t, "GET", big[0]))
	require.Equal(t, "(nil)", c.do(t, "GET", big[1]))
	var val [2][]byte
	for i := range val {
		val[i] = make([]byte, size)
		_, _ = rand.Read(val[i])
		c.send("SET", big[i], string(val[i]))
	}
	require.Equal(t, "OK", c.read(t))
	require.Equal(t, "OK", c.read(t))
	require.Equal(t, "OK", c.do(t, "SET", "small", "s"))
	before := [2]int64{delivered(p, 0), delivered(p, 1)}

	c.send("GET", big[0])
	c.send("PING")
	c.send("MGET", big[0], "small", big[1])
	c.send("GET", big[1])
	c.send("GET", "small")
	bulk := func(want []byte) {
		t.Helper()
		line, err := c.r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("$%d\r\n", len(want)), line)
		got := make([]byte, len(want)+2)
		_, err = io.ReadFull(c.r, got)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got[:len(want)]), "the value came back different")
		require.Equal(t, "\r\n", string(got[len(want):]))
	}
	bulk(val[0])
	require.Equal(t, "PONG", c.read(t))
	line, err := c.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "*3\r\n", line)
	bulk(val[0])
	bulk([]byte("s"))
	bulk(val[1])
	bulk(val[1])
	require.Equal(t, "s", c.read(t))

	// Shard 0 sent two values, shard 1 two and "s": each was handed to
	// the proxy about once. Handing unconsumed input back with every
	// read, as before, made this grow with size times reads.
	for i := range 2 {
		got := delivered(p, i) - before[i]
		t.Logf("shard %d: %d bytes delivered for %d bytes of values", i, got, 2*size)
		require.Less(t, got, int64(3*size), "shard %d: input handed over more than once", i)
	}
}

// A client that reads a large reply slowly holds up neither the loop nor
// the other clients on it, and the reply is not queued whole: it is
// written a piece at a time as the client takes it.
func TestProxyLargeReplySlowReader(t *testing.T) {
	raddr, _, _ := testutil.RedisServer(t)
	p, err := New(Config{Logger: quiet(), Servers: []l4.KetamaServer{{Name: "s0", Addr: raddr, Weight: 1}}})
	require.NoError(t, err)
	streams := make(chan transport.Stream, 2)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()}, transport.Listener{Addr: "tcp://127.0.0.1:0",
		Accept: func(s transport.Stream) { streams <- s; p.Accept(s) }})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	addr := tr.Addrs()[0].String()
	c := dial(t, addr)
	slow := <-streams
	other := dial(t, addr)
	_ = c.c.SetDeadline(time.Now().Add(60 * time.Second))
	const size = 16 << 20
	val := make([]byte, size)
	_, _ = rand.Read(val)
	c.send("SET", "big", string(val))
	require.Equal(t, "OK", c.read(t))
	c.send("GET", "big")
	c.send("PING")

	// The client reads nothing while the proxy takes the whole reply in:
	// the proxy's queue for it stays near the stream's watermark rather
	// than the reply's size, and the loop serves others meanwhile.
	for delivered(p, 0) < size {
		require.Equal(t, "PONG", other.do(t, "PING"), "a client on the same loop is served meanwhile")
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, "PONG", other.do(t, "PING"))
	queued := make(chan int)
	slow.Loop().Execute(func() { queued <- slow.Queued() })
	q := <-queued
	t.Logf("queued for the stalled client: %d bytes of a %d-byte reply", q, size)
	require.Less(t, q, size/4, "the whole reply was queued")

	line, err := c.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("$%d\r\n", size), line)
	got := make([]byte, size+2)
	for off := 0; off < len(got); {
		n, err := c.r.Read(got[off:min(off+64<<10, len(got))])
		require.NoError(t, err)
		off += n
	}
	require.True(t, bytes.Equal(val, got[:size]))
	require.Equal(t, "PONG", c.read(t))
}

// Large buffers are reused between messages on a loop (the spare); a
// buffer handed back while still in use would show as one client's value
// in another's reply. Two clients on one loop pipeline large SETs, GETs
// and MGETs of different sizes across shards, and every reply is checked
// byte for byte.
func TestProxyLargeBuffersReused(t *testing.T) {
	addr, _, p := startProxyP(t, 2, 1, nil)
	const rounds = 6
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			errs <- func() error {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second))
				r := bufio.NewReaderSize(c, 1<<16)
				send := func(args ...[]byte) { _, _ = c.Write(resp.AppendCommand(nil, args...)) }
				expect := func(want string) error {
					got := make([]byte, len(want))
					if _, err := io.ReadFull(r, got); err != nil {
						return err
					}
					if string(got) != want {
						return fmt.Errorf("client %d: got %.60q..., want %.60q...", w, got, want)
					}
					return nil
				}
				bulk := func(v []byte) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) }
				for i := range rounds {
					k0, k1 := keyOn(p, 0, fmt.Sprintf("w%d-%d-", w, i)), keyOn(p, 1, fmt.Sprintf("w%d-%d-", w, i))
					v0 := bytes.Repeat([]byte{byte('a' + w*8 + i)}, (1+i%3)<<20+w*4099)
					v1 := bytes.Repeat([]byte{byte('A' + w*8 + i)}, (3-i%3)<<20+i*513)
					send([]byte("SET"), []byte(k0), v0)
					send([]byte("SET"), []byte(k1), v1)
					send([]byte("GET"), []byte(k0))
					send([]byte("MGET"), []byte(k1), []byte(k0))
					send([]byte("GET"), []byte(k1))
					want := "+OK\r\n+OK\r\n" + bulk(v0) + "*2\r\n" + bulk(v1) + bulk(v0) + bulk(v1)
					if err := expect(want); err != nil {
						return fmt.Errorf("round %d: %w", i, err)
					}
				}
				return nil
			}()
		}()
	}
	for range 2 {
		require.NoError(t, <-errs)
	}
}

// A large reply that meets a client's queue already past its high
// watermark (many small replies the client has not read) waits for the
// queue to drain and then goes out: it is not forgotten until some other
// event comes.
func TestProxyLargeReplyAfterFullQueue(t *testing.T) {
	addr, _ := startProxy(t, 1, nil)
	c := dial(t, addr)
	small := strings.Repeat("s", 4000) // under takeOver: queued in out
	big := strings.Repeat("B", 1<<20)
	require.Equal(t, "OK", c.do(t, "SET", "small", small))
	require.Equal(t, "OK", c.do(t, "SET", "big", big))
	var req []byte
	for range 3000 { // under MaxPending: the client is not paused
		req = append(req, "*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n"...)
	}
	req = append(req, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"...)
	_, err := c.c.Write(req)
	require.NoError(t, err)
	// 12 MB of small replies: more than the sockets hold, so the proxy
	// queues the rest, past its watermark, before the large one comes.
	time.Sleep(300 * time.Millisecond)
	for i := range 3000 {
		require.Equal(t, small, c.read(t), "reply %d", i)
	}
	require.Equal(t, big, c.read(t))
}
