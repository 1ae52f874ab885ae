package kvproto

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/transport"
)

func frame(payload ...byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func req(op byte, key, val string) []byte {
	p := append([]byte{op, byte(len(key))}, key...)
	return frame(append(p, val...)...)
}

func readFrame(t *testing.T, c net.Conn) string {
	t.Helper()
	var hdr [4]byte
	_, err := io.ReadFull(c, hdr[:])
	require.NoError(t, err)
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err = io.ReadFull(c, b)
	require.NoError(t, err)
	return string(b)
}

func start(t *testing.T) string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(cfg, NewStore())
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: cfg.Logger}, p.Listeners()...)
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

// The generated server answers pipelined requests in order, including
// frames split over many writes.
func TestKVProtoOverSockets(t *testing.T) {
	addr := start(t)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var batch []byte
	batch = append(batch, req('s', "a", "alpha")...)
	batch = append(batch, req('g', "a", "")...)
	batch = append(batch, req('g', "b", "")...)
	batch = append(batch, req('d', "a", "")...)
	batch = append(batch, req('g', "a", "")...)
	for _, b := range batch { // one byte per write: every frame arrives in pieces
		_, err := c.Write([]byte{b})
		require.NoError(t, err)
	}
	for _, want := range []string{"+", "+alpha", "-", "+", "-"} {
		require.Equal(t, want, readFrame(t, c))
	}
}

// A frame over the spec's max closes that connection only.
func TestKVProtoBadFrameClosesOnlyItsConnection(t *testing.T) {
	addr := start(t)
	good, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer good.Close()
	bad, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer bad.Close()
	_, _ = bad.Write(binary.BigEndian.AppendUint32(nil, 1<<30))
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = bad.Read(make([]byte, 1))
	require.Error(t, err, "an oversized frame closes the connection")

	_, _ = bad.Write(nil)
	_ = good.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = good.Write(req('s', "k", "v"))
	require.NoError(t, err)
	require.Equal(t, "+", readFrame(t, good))

	unknown, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer unknown.Close()
	_, _ = unknown.Write(req('x', "k", ""))
	_ = unknown.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = unknown.Read(make([]byte, 1))
	require.Error(t, err, "a request the handler rejects closes the connection")
}
