package udprelay

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

func TestGeneratedUDPRelay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"udp://" + testutil.FreePort(t, "udp")}
	cfg.Upstreams["dns"] = []string{testutil.UDPEchoServer(t)}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	c, err := net.Dial("udp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 70000)
	for _, size := range []int{1, 512, 65507} {
		msg := make([]byte, size)
		msg[0] = byte(size)
		var got []byte
		for try := 0; try < 5 && got == nil; try++ {
			_, err = c.Write(msg)
			require.NoError(t, err)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := c.Read(buf); err == nil {
				got = buf[:n]
			}
		}
		require.Equal(t, msg, got)
	}
}
