package redisproxy

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

func TestGeneratedRedisProxy(t *testing.T) {
	a, _, _ := testutil.RedisServer(t)
	b, _, _ := testutil.RedisServer(t)
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Servers[0].Addr, cfg.Servers[1].Addr = a, b
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()
	require.Equal(t, "OK\n", testutil.RedisCLI(t, addr, "MSET", "a", "1", "b", "2", "c", "3", "d", "4"))
	require.Equal(t, "1\n2\n3\n4\n", testutil.RedisCLI(t, addr, "MGET", "a", "b", "c", "d"))
	require.Equal(t, "4\n", testutil.RedisCLI(t, addr, "DEL", "a", "b", "c", "d"))
}
