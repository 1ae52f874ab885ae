package redis

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/stretchr/testify/require"
)

// startProxyOn runs the proxy on one loop in front of the shards at addrs,
// trying a down shard again on every request.
func startProxyOn(t *testing.T, addrs []string, mod func(*Config)) (string, *Proxy) {
	t.Helper()
	return startProxyAt(t, addrs, 1, func(c *Config) {
		c.RetryAfter = -1
		if mod != nil {
			mod(c)
		}
	})
}

// closedSilently reads to EOF and fails unless nothing came.
func closedSilently(t *testing.T, c *rc, what string) {
	t.Helper()
	rest, err := io.ReadAll(c.r)
	require.NoError(t, err, what)
	require.Empty(t, string(rest), "%s: the proxy closes without a reply", what)
}

// twemproxy's answers the proxy keeps: QUIT, MSETNX, an empty request
// and a request it cannot place close the connection without a reply,
// after the replies to the requests before them.
func TestProxyClosesAsTwemproxy(t *testing.T) {
	addr, _ := startProxy(t, 2, nil)
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"QUIT", "*1\r\n$4\r\nQUIT\r\n"},
		{"MSETNX", "*5\r\n$6\r\nMSETNX\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{"empty line", "\r\n"},
		{"empty array", "*0\r\n"},
		{"GET without a key", "*1\r\n$3\r\nGET\r\n"},
		{"MSET with a key and no value", "*2\r\n$4\r\nMSET\r\n$1\r\nA\r\n"},
		{"MSET with an odd pair", "*4\r\n$4\r\nMSET\r\n$1\r\nA\r\n$1\r\nA\r\n$1\r\nA\r\n"},
		{"EVAL without a key", "*3\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n"},
	} {
		c := dial(t, addr)
		_, err := c.c.Write([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" + tc.raw + "PING\r\n"))
		require.NoError(t, err)
		require.Equal(t, "(nil)", c.read(t), tc.name)
		closedSilently(t, c, tc.name)
	}
	// Malformed RESP gets redis-server's protocol error before the close
	// (twemproxy closes without it): a client sees a closed connection
	// either way, and a person reading a capture sees why.
	c := dial(t, addr)
	_, _ = c.c.Write([]byte("*3\r\n*abcde\r\n"))
	reply, err := io.ReadAll(c.r)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(reply), "-ERR Protocol error"), "%q", reply)
}

// EVAL and EVALSHA go to the shard of their first key, and replies nested
// deeper than twemproxy's suite goes come back intact.
func TestProxyEval(t *testing.T) {
	addr, shards, p := startProxyP(t, 2, 1, nil)
	c := dial(t, addr)
	for i := range 2 {
		k := keyOn(p, i, "ev")
		require.Equal(t, "[(int) 1 OK]", c.do(t, "EVAL", "return {1, redis.call('set', KEYS[1], ARGV[1])}", "1", k, "v"))
		direct := dial(t, shards[i].addr)
		require.Equal(t, "v", direct.do(t, "GET", k), "the script ran on the key's shard")
	}
	deep := "return {{{{{{{{{{{{{{{{{{{{'value'}}}}}}}}}}}}}}}}}}}, 'other'}"
	require.Equal(t, "[[[[[[[[[[[[[[[[[[[[value]]]]]]]]]]]]]]]]]]] other]", c.do(t, "EVAL", deep, "1", "tmp"))
	sha := c.do(t, "SCRIPT", "LOAD", "return 1")
	require.Contains(t, sha, "unsupported command", "SCRIPT is not placed: no key")
	k := keyOn(p, 1, "sha")
	direct := dial(t, shards[1].addr)
	sha = direct.do(t, "SCRIPT", "LOAD", "return KEYS[1]")
	require.Equal(t, k, c.do(t, "EVALSHA", sha, "1", k))
	require.Contains(t, c.do(t, "EVALSHA", sha, "1", keyOn(p, 0, "sha")), "NOSCRIPT", "the other shard never loaded it")
}

// redis_auth: clients authenticate to the proxy, which authenticates its
// own shard connections; answers are twemproxy's and Redis 6's.
func TestProxyAuth(t *testing.T) {
	a0, _, _ := testutil.RedisServer(t, "--requirepass", "hellopasswd")
	a1, _, _ := testutil.RedisServer(t, "--requirepass", "hellopasswd")
	shards := []string{a0, a1}

	addr, _ := startProxyOn(t, shards, func(c *Config) { c.Password = "hellopasswd" })
	c := dial(t, addr)
	require.Equal(t, "NOAUTH Authentication required.", c.do(t, "PING"))
	require.Equal(t, "NOAUTH Authentication required.", c.do(t, "SET", "k", "v"))
	require.Equal(t, "NOAUTH Authentication required.", c.do(t, "KEYS", "*"), "before knowing the command")
	require.Contains(t, c.do(t, "AUTH", "badpasswd"), "WRONGPASS")
	require.Equal(t, "OK", c.do(t, "AUTH", "hellopasswd"))
	require.Equal(t, "OK", c.do(t, "SET", "k", "v"), "the proxy authenticated its shard connection")
	require.Equal(t, "PONG", c.do(t, "PING"))
	require.Equal(t, "v", c.do(t, "GET", "k"))
	require.Contains(t, c.do(t, "AUTH", "badpasswd"), "WRONGPASS")
	require.Equal(t, "NOAUTH Authentication required.", c.do(t, "GET", "k"), "a failed AUTH undoes the earlier one, as in twemproxy")
	// Redis 6's AUTH username password: the default user, as redis-server
	// treats requirepass.
	require.Equal(t, "OK", c.do(t, "AUTH", "default", "hellopasswd"))
	require.Equal(t, "v", c.do(t, "GET", "k"))
	require.Contains(t, c.do(t, "AUTH", "alice", "hellopasswd"), "WRONGPASS")
	require.Equal(t, "NOAUTH Authentication required.", c.do(t, "GET", "k"))
	require.Equal(t, "OK", c.do(t, "AUTH", "hellopasswd"))
	// A client that never authenticates cannot reach the shards, however
	// it pipelines.
	other := dial(t, addr)
	_, _ = other.c.Write([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nx\r\n"))
	require.Equal(t, "NOAUTH Authentication required.", other.read(t))
	require.Equal(t, "NOAUTH Authentication required.", other.read(t))
	require.Equal(t, "v", c.do(t, "GET", "k"))

	// No redis_auth on the proxy: twemproxy's refusal, and the shards'
	// own NOAUTH passes through.
	addr, _ = startProxyOn(t, shards, nil)
	c = dial(t, addr)
	require.Equal(t, "PONG", c.do(t, "PING"))
	require.Contains(t, c.do(t, "SET", "k", "v"), "NOAUTH")
	require.Equal(t, "ERR Client sent AUTH, but no password is set", c.do(t, "AUTH", "anypasswd"))

	// A wrong redis_auth: clients authenticate to the proxy with it, and
	// the shards answer NOAUTH; the proxy logs why.
	addr, _ = startProxyOn(t, shards, func(c *Config) { c.Password = "badpasswd" })
	c = dial(t, addr)
	require.Equal(t, "OK", c.do(t, "AUTH", "badpasswd"))
	require.Equal(t, "PONG", c.do(t, "PING"))
	require.Contains(t, c.do(t, "GET", "k"), "NOAUTH")
}

// An ACL user and a database: the proxy sends AUTH user password and
// SELECT on each shard connection before any client request.
func TestProxyAuthUserAndDB(t *testing.T) {
	a0, _, _ := testutil.RedisServer(t, "--user", "proxy", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off")
	addr, _ := startProxyOn(t, []string{a0}, func(c *Config) { c.Password, c.User, c.DB = "s3cret", "proxy", 3 })
	c := dial(t, addr)
	require.Equal(t, "OK", c.do(t, "AUTH", "s3cret"), "the proxy has one credential: the password alone passes")
	require.Contains(t, c.do(t, "AUTH", "default", "s3cret"), "WRONGPASS", "with a user set, only that user")
	require.Equal(t, "OK", c.do(t, "AUTH", "proxy", "s3cret"))
	require.Equal(t, "OK", c.do(t, "SET", "k", "in-db-3"))
	direct := dial(t, a0)
	require.Equal(t, "OK", direct.do(t, "AUTH", "proxy", "s3cret"))
	require.Equal(t, "(nil)", direct.do(t, "GET", "k"))
	require.Equal(t, "OK", direct.do(t, "SELECT", "3"))
	require.Equal(t, "in-db-3", direct.do(t, "GET", "k"))
}

// Errors from shards are worded as twemproxy words them, which its
// clients match: a refused connect, a lost one, and a split command that
// meets an error reply ("Invalid argument").
func TestProxyShardErrorWording(t *testing.T) {
	addr, shards, p := startProxyP(t, 2, 1, func(c *Config) { c.RetryAfter = -1 })
	c := dial(t, addr)
	k0, k1 := keyOn(p, 0, "k"), keyOn(p, 1, "k")
	require.Equal(t, "(nil)", c.do(t, "GET", k0))
	shards[0].stop()
	require.Equal(t, "ERR Connection refused", c.do(t, "GET", k0))
	require.Equal(t, "ERR Connection refused", c.do(t, "MGET", k1, k0))
	require.Equal(t, "ERR Connection refused", c.do(t, "DEL", k0, k1))
	require.Equal(t, "(nil)", c.do(t, "GET", k1))
	shards[0].restart()
	require.Equal(t, "(nil)", c.do(t, "GET", k0), "retried at once (RetryAfter < 0)")

	// A replica refuses writes: a single key gets its error as it is, a
	// split command twemproxy's EINVAL with the shard's words after it.
	direct := dial(t, shards[0].addr)
	host, port, _ := net.SplitHostPort(shards[1].addr)
	require.Equal(t, "OK", direct.do(t, "REPLICAOF", host, port))
	t.Cleanup(func() { direct.do(t, "REPLICAOF", "NO", "ONE") })
	require.Contains(t, c.do(t, "DEL", k0), "READONLY")
	got := c.do(t, "DEL", k0, k1)
	require.True(t, strings.HasPrefix(got, "ERR Invalid argument: READONLY"), got)
}

// Config.Timeout is twemproxy's timeout: a shard that does not answer in
// time fails what is in flight on its connection with "Connection timed
// out", and the next request gets a fresh connection.
func TestProxyShardTimeout(t *testing.T) {
	shard, _, _ := testutil.RedisServer(t, "--enable-debug-command", "yes")
	addr, _ := startProxyOn(t, []string{shard}, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	c := dial(t, addr)
	require.Equal(t, "OK", c.do(t, "SET", "k", "v"))
	slow := dial(t, shard)
	slow.send("DEBUG", "SLEEP", "2")
	// Wait until redis-server sleeps: a PING on another connection then
	// gets no answer.
	probe := dial(t, shard)
	for {
		probe.send("PING")
		_ = probe.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := probe.r.ReadString('\n'); err != nil {
			break
		}
	}
	c.send("GET", "k")
	c.send("PING")
	require.Equal(t, "ERR Connection timed out", c.read(t))
	require.Equal(t, "PONG", c.read(t))
	require.Equal(t, "OK", slow.read(t))
	require.Equal(t, "v", c.do(t, "GET", "k"), "a new connection serves once the shard answers")
}

// Modula places keys as twemproxy's modula (checked against nutcracker in
// package l4); through the proxy they land where it says.
func TestProxyModula(t *testing.T) {
	addr, shards, p := startProxyP(t, 3, 1, func(c *Config) { c.Distribution = "modula" })
	c := dial(t, addr)
	for i := range 30 {
		k := fmt.Sprintf("key-%d", i)
		require.Equal(t, "OK", c.do(t, "SET", k, "x"))
		direct := dial(t, shards[p.pick([]byte(k))].addr)
		require.Equal(t, "x", direct.do(t, "GET", k), k)
	}
	_, err := New(Config{Servers: []l4.KetamaServer{{Addr: "127.0.0.1:1", Weight: 1}}, Distribution: "maglev"})
	require.ErrorContains(t, err, "want ketama, modula or random")
}

// proto-max-bulk-len: an argument past Limits.MaxBulk gets redis-server's
// protocol error, then the close.
func TestProxyMaxBulk(t *testing.T) {
	addr, _ := startProxy(t, 1, func(c *Config) { c.Limits.MaxBulk = 1000 })
	c := dial(t, addr)
	require.Equal(t, "OK", c.do(t, "SET", "k", strings.Repeat("v", 1000)))
	c.send("SET", "k", strings.Repeat("v", 1001))
	reply, err := io.ReadAll(c.r)
	require.NoError(t, err)
	require.Equal(t, "-ERR Protocol error: invalid bulk length\r\n", string(reply))
}
