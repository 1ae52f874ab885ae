package http2_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// recorder is a client-side Handler that keeps what arrives.
type recorder struct {
	heads    []http2.Header
	body     map[uint32][]byte
	ended    map[uint32]bool
	resets   map[uint32]http2.ErrCode
	writable []uint32
	goaway   bool
	hold     bool
}

func newRecorder() *recorder {
	return &recorder{body: map[uint32][]byte{}, ended: map[uint32]bool{}, resets: map[uint32]http2.ErrCode{}}
}

func (r *recorder) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	cp := *h
	cp.Fields = append([]hpack.HeaderField(nil), h.Fields...)
	r.heads = append(r.heads, cp)
	if end {
		r.ended[id] = true
	}
}

func (r *recorder) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	r.body[id] = append(r.body[id], p...)
	if !r.hold {
		c.Consumed(id, len(p))
	}
	if end {
		r.ended[id] = true
	}
}

func (r *recorder) OnReset(c *http2.Conn, id uint32, code http2.ErrCode, remote bool) {
	r.resets[id] = code
}
func (r *recorder) OnGoAway(*http2.Conn, uint32, http2.ErrCode) { r.goaway = true }
func (r *recorder) OnWritable(c *http2.Conn, id uint32)         { r.writable = append(r.writable, id) }

// pump moves each side's output to the other until both are quiet.
func pump(t *testing.T, a, b *http2.Conn) {
	t.Helper()
	for range 1000 {
		ao, bo := append([]byte(nil), a.Output()...), append([]byte(nil), b.Output()...)
		a.ClearOutput()
		b.ClearOutput()
		if len(ao) == 0 && len(bo) == 0 {
			return
		}
		if len(ao) > 0 {
			n, err := b.Feed(ao)
			require.NoError(t, err)
			require.Equal(t, len(ao), n)
		}
		if len(bo) > 0 {
			n, err := a.Feed(bo)
			require.NoError(t, err)
			require.Equal(t, len(bo), n)
		}
	}
	t.Fatal("pump did not settle")
}

func get(path string) *http2.Header {
	return &http2.Header{Method: "POST", Scheme: "https", Authority: "example.test", Path: path}
}

// A request body the server's consumer does not drain stops at the
// stream window: the client's WriteData takes no more, and the server
// holds no more than the window. Once drained, the window reopens and the
// client is told.
func TestFlowControlIsBackpressure(t *testing.T) {
	app := newEchoApp()
	app.hold = true
	srv := http2.NewConn(http2.Server, http2.Config{StreamWindow: 64 << 10, ConnWindow: 1 << 20}, app)
	rec := newRecorder()
	cli := http2.NewConn(http2.Client, http2.Config{}, rec)
	pump(t, cli, srv)

	id, err := cli.OpenStream(get("/upload"), nil, false)
	require.NoError(t, err)
	body := bytes.Repeat([]byte("x"), 1<<20)
	n, err := cli.WriteData(id, body, true)
	require.NoError(t, err)
	require.Equal(t, 64<<10, n, "the client sends one stream window")
	pump(t, cli, srv)
	n2, err := cli.WriteData(id, body[n:], true)
	require.NoError(t, err)
	require.Zero(t, n2, "nothing more until the server's consumer drains")
	require.Len(t, app.streams[id].body, 64<<10)

	// The consumer drains half: the window update reaches the client.
	srv.Consumed(id, 32<<10)
	pump(t, cli, srv)
	require.Equal(t, []uint32{id}, rec.writable)
	n3, err := cli.WriteData(id, body[n:], true)
	require.NoError(t, err)
	require.Equal(t, 32<<10, n3)
}

// Trailers both ways, and a reset in the middle of a response.
func TestClientServerTrailersAndReset(t *testing.T) {
	app := newEchoApp()
	srv := http2.NewConn(http2.Server, http2.Config{}, app)
	rec := newRecorder()
	cli := http2.NewConn(http2.Client, http2.Config{}, rec)
	pump(t, cli, srv)

	id, err := cli.OpenStream(get("/echo"), []hpack.HeaderField{{Name: "te", Value: "trailers"}}, false)
	require.NoError(t, err)
	_, err = cli.WriteData(id, []byte("ping"), false)
	require.NoError(t, err)
	require.NoError(t, cli.WriteTrailers(id, []hpack.HeaderField{{Name: "grpc-status", Value: "0"}}))
	pump(t, cli, srv)
	require.True(t, rec.ended[id])
	require.Equal(t, "ping", string(rec.body[id]))
	require.Len(t, rec.heads, 2)
	require.Equal(t, 200, rec.heads[0].Status)
	require.Equal(t, "4", rec.heads[0].Get("x-echo-length"))
	require.True(t, rec.heads[1].Trailers)
	require.Equal(t, "0", rec.heads[1].Get("grpc-status"))
	require.Zero(t, cli.Active())
	require.Zero(t, srv.Active())

	// The client gives up on a request: the server hears of it.
	id2, err := cli.OpenStream(get("/echo"), nil, false)
	require.NoError(t, err)
	pump(t, cli, srv)
	cli.Reset(id2, http2.ErrCodeCancel)
	pump(t, cli, srv)
	require.Equal(t, []http2.ErrCode{http2.ErrCodeCancel}, app.resets)
	require.Zero(t, srv.Active())
}

// GOAWAY: streams above the last one the server took are refused to the
// client (safe to retry elsewhere); the ones below finish.
func TestGoAwayRefusesLaterStreams(t *testing.T) {
	app := newEchoApp()
	srv := http2.NewConn(http2.Server, http2.Config{}, app)
	rec := newRecorder()
	cli := http2.NewConn(http2.Client, http2.Config{}, rec)
	pump(t, cli, srv)
	a, _ := cli.OpenStream(get("/a"), nil, false)
	pump(t, cli, srv)
	srv.GoAway(http2.ErrCodeNo, "draining")
	b, _ := cli.OpenStream(get("/b"), nil, false)
	pump(t, cli, srv)
	require.True(t, rec.goaway)
	require.Equal(t, http2.ErrCodeRefusedStream, rec.resets[b])
	_, err := cli.OpenStream(get("/c"), nil, true)
	require.ErrorIs(t, err, http2.ErrGoingAway)
	_, err = cli.WriteData(a, []byte("x"), true)
	require.NoError(t, err)
	pump(t, cli, srv)
	require.True(t, rec.ended[a], "the stream below last finished")
}

// A stream the peer holds beyond its MAX_CONCURRENT_STREAMS is refused.
func TestConcurrencyLimit(t *testing.T) {
	app := newEchoApp()
	srv := http2.NewConn(http2.Server, http2.Config{MaxConcurrentStreams: 2}, app)
	rec := newRecorder()
	cli := http2.NewConn(http2.Client, http2.Config{}, rec)
	pump(t, cli, srv)
	require.EqualValues(t, 2, cli.PeerMaxConcurrentStreams())
	_, err := cli.OpenStream(get("/1"), nil, false)
	require.NoError(t, err)
	_, err = cli.OpenStream(get("/2"), nil, false)
	require.NoError(t, err)
	_, err = cli.OpenStream(get("/3"), nil, false)
	require.ErrorIs(t, err, http2.ErrStreamLimit)
}
