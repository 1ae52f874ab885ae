package redis

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/codecs/resp"
)

// TestProxyRequestLimits sends requests past each limit of Config.Limits
// and checks that the client gets redis-server's protocol error after the
// replies to its earlier requests, then EOF, and that the request reaches
// no shard, while another client on the same event loop is served
// throughout.
func TestProxyRequestLimits(t *testing.T) {
	addr, _ := startProxyLoops(t, 2, 1, func(cfg *Config) {
		cfg.Limits = resp.Limits{MaxBulk: 1 << 20, MaxArgs: 1000, MaxRequest: 4 << 20, MaxInline: 1 << 10}
	})
	other := dial(t, addr)
	require.Equal(t, "OK", other.do(t, "SET", "x", "1"))

	// mset is an MSET of five keys with values of 1,000,000 bytes: no
	// argument is over MaxBulk, but the request is over MaxRequest from
	// its fifth value on.
	var mset strings.Builder
	fmt.Fprintf(&mset, "*11\r\n$4\r\nMSET\r\n")
	for i := range 5 {
		fmt.Fprintf(&mset, "$2\r\nk%d\r\n$1000000\r\n%s\r\n", i, strings.Repeat("v", 1000000))
	}
	tests := []struct {
		name  string
		in    string
		reply string
	}{
		{"bulk over MaxBulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"arguments over MaxArgs", "*1001\r\n$4\r\nMGET\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"request over MaxRequest", mset.String(), "-ERR Protocol error: too big request\r\n"},
		{"inline request over MaxInline", "ECHO " + strings.Repeat("x", 2000), "-ERR Protocol error: too big inline request\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send("SET", "before", "1")
			// Write in pieces, as the request arrives over many reads,
			// while reading the replies.
			wrote := make(chan error, 1)
			go func() {
				in := []byte(tt.in)
				for off := 0; off < len(in); off += 64 << 10 {
					if _, err := c.c.Write(in[off:min(off+64<<10, len(in))]); err != nil {
						wrote <- err
						return
					}
				}
				wrote <- nil
			}()
			got, err := io.ReadAll(c.r)
			require.NoError(t, err)
			require.Equal(t, "+OK\r\n"+tt.reply, string(got), "the reply to the earlier request, the protocol error, then EOF")
			require.NoError(t, <-wrote, "the proxy reads and drops the rest")

			require.Equal(t, "PONG", other.do(t, "PING"))
			require.Equal(t, "1", other.do(t, "GET", "x"))
			require.Equal(t, "(nil)", other.do(t, "GET", "k0"), "no part of the refused request reached a shard")
		})
	}
}

// TestProxyRequestLimitDefault checks the default MaxRequest, redis-server's
// client-query-buffer-limit of 1 GiB: an array request whose header
// announces an argument that would end past it is refused at once, before
// the proxy buffers any of it. MaxBulk is raised so that only MaxRequest
// applies.
func TestProxyRequestLimitDefault(t *testing.T) {
	addr, _ := startProxyLoops(t, 2, 1, func(cfg *Config) { cfg.Limits.MaxBulk = 2 << 30 })
	other := dial(t, addr)
	c := dial(t, addr)
	_ = c.c.SetDeadline(time.Now().Add(5 * time.Second)) // a proxy without the limit waits for the data
	_, err := c.c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741800\r\n"))
	require.NoError(t, err)
	got, err := io.ReadAll(c.r)
	require.NoError(t, err, "the proxy answers and closes rather than wait for 1 GiB")
	require.Equal(t, "-ERR Protocol error: too big request\r\n", string(got))
	require.Equal(t, "PONG", other.do(t, "PING"))
}
