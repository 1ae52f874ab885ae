package tcprelay

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// The generated relay serves real sockets: failover past a dead endpoint,
// the whole reply after the client's half-close, and the spec's filter.
func TestGeneratedTCPRelay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Upstreams["backends"] = []string{testutil.FreePort(t, "tcp"), testutil.EchoServer(t)}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	for range 4 {
		c, err := net.Dial("tcp", tr.Addrs()[0].String())
		require.NoError(t, err)
		msg := make([]byte, 2<<20)
		go func() {
			_, _ = c.Write(msg)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Len(t, got, len(msg))
		c.Close()
	}
	require.Equal(t, uint64(4), tr.ListenerStats()[Name+" tcp://127.0.0.1:0"].Admitted)
}
