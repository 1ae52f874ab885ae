package redis

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type shardProc struct {
	addr          string
	stop, restart func()
}

// startProxy runs the proxy in front of n real redis-servers.
func startProxy(t *testing.T, n int, mod func(*Config)) (string, []shardProc) {
	t.Helper()
	return startProxyLoops(t, n, 2, mod)
}

// startProxyLoops is startProxy with the proxy on the given number of event
// loops; with one, every client shares it.
func startProxyLoops(t testing.TB, n, loops int, mod func(*Config)) (string, []shardProc) {
	t.Helper()
	addr, shards, _ := startProxyP(t, n, loops, mod)
	return addr, shards
}

// startProxyP is startProxyLoops that also returns the Proxy.
func startProxyP(t testing.TB, n, loops int, mod func(*Config)) (string, []shardProc, *Proxy) {
	t.Helper()
	var shards []shardProc
	var addrs []string
	for range n {
		addr, stop, restart := testutil.RedisServer(t)
		shards = append(shards, shardProc{addr, stop, restart})
		addrs = append(addrs, addr)
	}
	addr, p := startProxyAt(t, addrs, loops, func(c *Config) {
		c.RetryAfter = 200 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
	return addr, shards, p
}

// startProxyAt runs the proxy on loops event loops in front of the shards
// at addrs, named shard0, shard1, ...
func startProxyAt(t testing.TB, addrs []string, loops int, mod func(*Config)) (string, *Proxy) {
	t.Helper()
	cfg := Config{Logger: quiet()}
	for i, a := range addrs {
		cfg.Servers = append(cfg.Servers, l4.KetamaServer{Name: fmt.Sprintf("shard%d", i), Addr: a, Weight: 1})
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: loops, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: p.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String(), p
}

// rc is a tiny RESP client for the tests.
type rc struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rc {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rc{c, bufio.NewReader(c)}
}

func (r *rc) send(args ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, _ = r.c.Write([]byte(b.String()))
}

// read returns one reply in a compact text form: "OK", "ERR ...", "(int) 3",
// "value", "(nil)", or "[a b (nil)]" for arrays.
func (r *rc) read(t *testing.T) string {
	line, err := r.r.ReadString('\n')
	require.NoError(t, err)
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '+':
		return line[1:]
	case '-':
		return line[1:]
	case ':':
		return "(int) " + line[1:]
	case '$':
		var n int
		fmt.Sscanf(line[1:], "%d", &n)
		if n < 0 {
			return "(nil)"
		}
		buf := make([]byte, n+2)
		_, err := io.ReadFull(r.r, buf)
		require.NoError(t, err)
		return string(buf[:n])
	case '*':
		var n int
		fmt.Sscanf(line[1:], "%d", &n)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = r.read(t)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	t.Fatalf("bad reply line %q", line)
	return ""
}

func (r *rc) do(t *testing.T, args ...string) string {
	r.send(args...)
	return r.read(t)
}

// Keys land on the shard ketama picks, and a pipeline of mixed commands is
// answered in order, multi-key commands merged across shards.
func TestProxyPlacementPipelineAndSplit(t *testing.T) {
	addr, shards := startProxy(t, 3, nil)
	c := dial(t, addr)
	const n = 200
	for i := range n {
		c.send("SET", fmt.Sprintf("key:%d", i), fmt.Sprintf("v%d", i))
	}
	for range n {
		require.Equal(t, "OK", c.read(t))
	}
	// Every key is on exactly one shard, the one the proxy's ketama picks.
	p, err := New(Config{Servers: []l4.KetamaServer{{Name: "shard0", Addr: shards[0].addr, Weight: 1},
		{Name: "shard1", Addr: shards[1].addr, Weight: 1}, {Name: "shard2", Addr: shards[2].addr, Weight: 1}}})
	require.NoError(t, err)
	per := make([]int, 3)
	direct := make([]*rc, len(shards))
	for s, sh := range shards {
		direct[s] = dial(t, sh.addr)
	}
	for i := range n {
		key := fmt.Sprintf("key:%d", i)
		want := p.pick([]byte(key))
		per[want]++
		for s := range shards {
			got := direct[s].do(t, "EXISTS", key)
			require.Equal(t, map[bool]string{true: "(int) 1", false: "(int) 0"}[s == want], got, "key %s on shard %d", key, s)
		}
	}
	t.Logf("keys per shard: %v", per)
	for _, k := range per {
		require.NotZero(t, k, "every shard holds keys")
	}

	c.send("MGET", "key:1", "key:2", "nokey", "key:3", "key:150")
	c.send("EXISTS", "key:1", "key:2", "nokey", "key:3")
	c.send("MSET", "a", "1", "b", "2", "c", "3")
	c.send("MGET", "a", "b", "c")
	c.send("DEL", "a", "b", "c", "d")
	c.send("PING")
	c.send("GET", "key:7")
	require.Equal(t, "[v1 v2 (nil) v3 v150]", c.read(t))
	require.Equal(t, "(int) 3", c.read(t))
	require.Equal(t, "OK", c.read(t))
	require.Equal(t, "[1 2 3]", c.read(t))
	require.Equal(t, "(int) 3", c.read(t))
	require.Equal(t, "PONG", c.read(t))
	require.Equal(t, "v7", c.read(t))
}

func TestProxyUnsupportedAndBadInput(t *testing.T) {
	addr, _ := startProxy(t, 2, nil)
	c := dial(t, addr)
	require.Contains(t, c.do(t, "KEYS", "*"), "ERR unsupported command 'KEYS'")
	require.Equal(t, "OK", c.do(t, "SET", "x", "1"), "the connection goes on after an unsupported command")

	// A command with arguments the proxy cannot place closes the
	// connection without a reply to it, as twemproxy does; the replies
	// before it still go out.
	for _, args := range [][]string{{"GET"}, {"GET", "a", "b"}, {"MSET", "a"}, {"MSET", "a", "a", "a"}, {"EVAL", "return 1", "0"}, {"QUIT", "x"}, {"AUTH"}} {
		w := dial(t, addr)
		w.send("PING")
		w.send(args...)
		w.send("PING")
		require.Equal(t, "PONG", w.read(t), "%q", args)
		rest, err := io.ReadAll(w.r)
		require.NoError(t, err)
		require.Empty(t, string(rest), "%q: closed without a reply", args)
	}

	// Garbage gets a protocol error and a close; another client is untouched.
	bad := dial(t, addr)
	_, _ = bad.c.Write([]byte("*2\r\n$3\r\nGET\r\n$-7\r\n"))
	reply, _ := io.ReadAll(bad.r)
	require.Contains(t, string(reply), "-ERR Protocol error")
	require.Equal(t, "1", c.do(t, "GET", "x"))

	// Inline commands work as with redis-server.
	_, _ = c.c.Write([]byte("PING\r\n"))
	require.Equal(t, "PONG", c.read(t))
}

// A shard that goes down answers its keys with errors, the others go on,
// and it serves again once it is back.
func TestProxyShardDownAndBack(t *testing.T) {
	addr, shards := startProxy(t, 2, nil)
	c := dial(t, addr)
	p, err := New(Config{Servers: []l4.KetamaServer{{Name: "shard0", Addr: shards[0].addr, Weight: 1}, {Name: "shard1", Addr: shards[1].addr, Weight: 1}}})
	require.NoError(t, err)
	var on0, on1 string
	for i := 0; on0 == "" || on1 == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		if p.pick([]byte(k)) == 0 {
			on0 = k
		} else {
			on1 = k
		}
	}
	require.Equal(t, "OK", c.do(t, "SET", on0, "a"))
	require.Equal(t, "OK", c.do(t, "SET", on1, "b"))
	shards[0].stop()
	require.Contains(t, c.do(t, "GET", on0), "ERR")
	require.Equal(t, "b", c.do(t, "GET", on1), "the other shard still serves")
	require.Contains(t, c.do(t, "MGET", on0, on1), "ERR", "a split command with a key on the dead shard fails")
	shards[0].restart()
	require.Eventually(t, func() bool { return c.do(t, "SET", on0, "c") == "OK" }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "c", c.do(t, "GET", on0))
}

// Real clients: redis-cli and redis-benchmark work through the proxy.
func TestProxyWithRedisTools(t *testing.T) {
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		t.Skip("redis-benchmark not installed (apt-get install -y redis-tools)")
	}
	addr, _ := startProxy(t, 2, nil)
	require.Equal(t, "OK\n", testutil.RedisCLI(t, addr, "SET", "hello", "world"))
	require.Equal(t, "world\n", testutil.RedisCLI(t, addr, "GET", "hello"))
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "set,get", "-n", "5000", "-c", "10", "-P", "16", "-q").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "SET:")
	require.Contains(t, string(out), "GET:")
	require.NotContains(t, strings.ToLower(string(out)), "error")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			for j := range 50 {
				k := fmt.Sprintf("c%d-%d", i, j)
				if got := c.do(t, "SET", k, k); got != "OK" {
					t.Errorf("SET %s: %s", k, got)
				}
				if got := c.do(t, "GET", k); got != k {
					t.Errorf("GET %s: %s", k, got)
				}
			}
		}()
	}
	wg.Wait()
}
