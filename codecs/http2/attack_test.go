package http2_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// rawClient writes frames with x/net's Framer straight into a server Conn
// and reads what the server answered.
type rawClient struct {
	t    *testing.T
	srv  *http2.Conn
	app  *echoApp
	buf  bytes.Buffer
	fr   *xhttp2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	err  error
	in   []byte
	dec  *hpack.Decoder
}

func newRawClient(t *testing.T, cfg http2.Config) *rawClient {
	r := &rawClient{t: t, app: newEchoApp()}
	r.srv = http2.NewConn(http2.Server, cfg, r.app)
	r.fr = xhttp2.NewFramer(&r.buf, nil)
	r.fr.AllowIllegalWrites = true
	r.enc = hpack.NewEncoder(&r.hbuf)
	r.dec = hpack.NewDecoder(4096, nil)
	r.buf.WriteString(http2.Preface)
	require.NoError(t, r.fr.WriteSettings())
	r.flush()
	r.frames() // the server's SETTINGS and window update
	return r
}

// flush feeds what was written to the server; it records a connection
// error.
func (r *rawClient) flush() {
	r.in = append(r.in, r.buf.Bytes()...)
	r.buf.Reset()
	if r.err != nil {
		return
	}
	n, err := r.srv.Feed(r.in)
	r.in = r.in[n:]
	r.err = err
}

// frames returns the frames the server has sent since the last call.
func (r *rawClient) frames() []xhttp2.Frame {
	out := append([]byte(nil), r.srv.Output()...)
	r.srv.ClearOutput()
	fr := xhttp2.NewFramer(nil, bytes.NewReader(out))
	fr.ReadMetaHeaders = r.dec
	var fs []xhttp2.Frame
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return fs
		}
		require.NoError(r.t, err)
		fs = append(fs, f)
	}
}

func (r *rawClient) block(fields ...string) []byte {
	r.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), r.hbuf.Bytes()...)
}

func (r *rawClient) get(id uint32, end bool) {
	b := r.block(":method", "GET", ":scheme", "http", ":authority", "example.test", ":path", "/")
	require.NoError(r.t, r.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndHeaders: true, EndStream: end}))
}

func goAwayCode(fs []xhttp2.Frame) (xhttp2.ErrCode, bool) {
	for _, f := range fs {
		if g, ok := f.(*xhttp2.GoAwayFrame); ok {
			return g.ErrCode, true
		}
	}
	return 0, false
}

func statusOf(fs []xhttp2.Frame, id uint32) string {
	for _, f := range fs {
		if h, ok := f.(*xhttp2.MetaHeadersFrame); ok && h.StreamID == id {
			return h.PseudoValue("status")
		}
	}
	return ""
}

// Rapid Reset (CVE-2023-44487): open a stream, reset it, again and again.
// Each reset reaches the application (so it can drop the work) and costs
// a glitch point; the connection ends with ENHANCE_YOUR_CALM well before
// the attacker's thousands.
func TestRapidReset(t *testing.T) {
	r := newRawClient(t, http2.Config{})
	id := uint32(1)
	for ; id < 20000 && r.err == nil; id += 2 {
		r.get(id, false)
		require.NoError(t, r.fr.WriteRSTStream(id, xhttp2.ErrCodeCancel))
		r.flush()
	}
	var ce *http2.ConnError
	require.ErrorAs(t, r.err, &ce)
	require.Equal(t, http2.ErrCodeEnhanceYourCalm, ce.Code)
	code, ok := goAwayCode(r.frames())
	require.True(t, ok)
	require.Equal(t, xhttp2.ErrCodeEnhanceYourCalm, code)
	st := r.srv.Stats()
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.PeerResets)
	require.EqualValues(t, 1, st.Calmed)
	require.Less(t, id, uint32(2*http2.DefaultMaxGlitches+10))
	require.Len(t, r.app.resets, int(st.PeerResets), "every reset reached the application")
}

// A client that cancels one request in three, over many requests that
// complete, is never cut off: completions pay the glitches back.
func TestCancelsAmongCompletedRequestsAreFine(t *testing.T) {
	r := newRawClient(t, http2.Config{})
	for id := uint32(1); id < 6000; id += 2 {
		if id%3 == 0 {
			r.get(id, false)
			require.NoError(t, r.fr.WriteRSTStream(id, xhttp2.ErrCodeCancel))
		} else {
			r.get(id, true)
		}
		r.flush()
		require.NoError(t, r.err)
		fs := r.frames()
		if id%3 != 0 {
			require.Equal(t, "200", statusOf(fs, id))
		}
		// The client reads its responses: give the connection window back.
		require.NoError(t, r.fr.WriteWindowUpdate(0, uint32(len(respBody))))
	}
	require.Zero(t, r.srv.Stats().Calmed)
}

// CONTINUATION flood (CVE-2023-45288): a header block that never ends.
// The block is decoded as it arrives (nothing is buffered), and past the
// cap the connection ends.
func TestContinuationFlood(t *testing.T) {
	r := newRawClient(t, http2.Config{})
	first := r.block(":method", "GET", ":scheme", "http", ":authority", "x", ":path", "/")
	require.NoError(t, r.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: first}))
	r.flush()
	sent := 0
	for i := 0; i < 1000 && r.err == nil; i++ {
		frag := r.block("x-filler", strings.Repeat("a", 8000))
		require.NoError(t, r.fr.WriteContinuation(1, false, frag))
		sent += len(frag)
		r.flush()
	}
	var ce *http2.ConnError
	require.ErrorAs(t, r.err, &ce)
	require.Equal(t, http2.ErrCodeEnhanceYourCalm, ce.Code)
	require.Less(t, sent, http2.DefaultMaxHeaderListSize+32<<10)
	require.EqualValues(t, 1, r.srv.Stats().HeaderBlockTooBig)
}

// The same flood with empty CONTINUATION frames: each is a glitch.
func TestEmptyContinuationFlood(t *testing.T) {
	r := newRawClient(t, http2.Config{})
	first := r.block(":method", "GET", ":scheme", "http", ":authority", "x", ":path", "/")
	require.NoError(t, r.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: first}))
	r.flush()
	for i := 0; i < 100000 && r.err == nil; i++ {
		require.NoError(t, r.fr.WriteContinuation(1, false, nil))
		r.flush()
	}
	var ce *http2.ConnError
	require.ErrorAs(t, r.err, &ce)
	require.Equal(t, http2.ErrCodeEnhanceYourCalm, ce.Code)
	require.EqualValues(t, http2.DefaultMaxGlitches+1, r.srv.Stats().EmptyFragments)
}

// An HPACK bomb: one 4000-byte value in the dynamic table, then a block of
// a few hundred bytes that names it a hundred times (400 KB decoded). The
// stream gets 431, nothing of the list is kept, and the connection goes on
// serving.
func TestHPACKBomb(t *testing.T) {
	r := newRawClient(t, http2.Config{})
	big := strings.Repeat("b", 4000)
	// Request 1 puts the value in the table (with incremental indexing).
	r.get(1, true)
	r.hbuf.Reset()
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "x"}, {Name: ":path", Value: "/"}, {Name: "x-big", Value: big}} {
		_ = r.enc.WriteField(f)
	}
	// Then the same field again and again: each is one byte, an index.
	for range 100 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: "x-big", Value: big})
	}
	bomb := append([]byte(nil), r.hbuf.Bytes()...)
	require.Less(t, len(bomb), 4300)
	require.NoError(t, r.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: bomb, EndHeaders: true, EndStream: true}))
	r.flush()
	require.NoError(t, r.err)
	fs := r.frames()
	require.Equal(t, "200", statusOf(fs, 1))
	require.Equal(t, "431", statusOf(fs, 3))
	require.EqualValues(t, 1, r.srv.Stats().HeaderListTooLarge)
	// The HPACK state stayed in step: the next request decodes.
	r.get(5, true)
	r.flush()
	require.NoError(t, r.err)
	require.Equal(t, "200", statusOf(r.frames(), 5))
}

func floodUntilCalm(t *testing.T, write func(r *rawClient, i int)) http2.Stats {
	r := newRawClient(t, http2.Config{})
	for i := 0; i < 100000 && r.err == nil; i++ {
		write(r, i)
		r.flush()
		r.frames()
	}
	var ce *http2.ConnError
	require.ErrorAs(t, r.err, &ce)
	require.Equal(t, http2.ErrCodeEnhanceYourCalm, ce.Code)
	return r.srv.Stats()
}

func TestSettingsFlood(t *testing.T) {
	st := floodUntilCalm(t, func(r *rawClient, _ int) { require.NoError(t, r.fr.WriteSettings()) })
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.SettingsFlood)
}

func TestPingFlood(t *testing.T) {
	st := floodUntilCalm(t, func(r *rawClient, _ int) { require.NoError(t, r.fr.WritePing(false, [8]byte{1})) })
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.PingFlood)
}

func TestEmptyDataFlood(t *testing.T) {
	st := floodUntilCalm(t, func(r *rawClient, i int) {
		if i == 0 {
			r.get(1, false)
		}
		require.NoError(t, r.fr.WriteData(1, false, nil))
	})
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.EmptyData)
}

func TestWindowUpdateFlood(t *testing.T) {
	st := floodUntilCalm(t, func(r *rawClient, _ int) { require.NoError(t, r.fr.WriteWindowUpdate(0, 1)) })
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.WindowUpdateFlood)
}

// MadeYouReset (CVE-2025-8671): frames wrong on purpose make the server
// reset the streams itself (here a zero WINDOW_UPDATE on an open stream),
// which the peer's own resets would have been counted for. Each stream
// error reaches the application and costs a glitch point.
func TestMadeYouReset(t *testing.T) {
	var id uint32 = 1
	st := floodUntilCalm(t, func(r *rawClient, _ int) {
		r.get(id, false)
		require.NoError(t, r.fr.WriteWindowUpdate(id, 0))
		id += 2
	})
	require.EqualValues(t, http2.DefaultMaxGlitches+1, st.StreamErrors)
}

// A peer that sends more than the window it was given is a flow-control
// error: what the server holds never exceeds its windows.
func TestBeyondTheWindowIsAnError(t *testing.T) {
	r := newRawClient(t, http2.Config{StreamWindow: 16 << 10, ConnWindow: 64 << 10})
	r.app.hold = true // the consumer drains nothing
	r.get(1, false)
	r.flush()
	chunk := make([]byte, 16<<10)
	require.NoError(t, r.fr.WriteData(1, false, chunk)) // fills the stream window
	require.NoError(t, r.fr.WriteData(1, false, chunk[:1]))
	r.flush()
	require.NoError(t, r.err, "a stream error, not the connection's")
	var rst *xhttp2.RSTStreamFrame
	for _, f := range r.frames() {
		if f, ok := f.(*xhttp2.RSTStreamFrame); ok {
			rst = f
		}
	}
	require.NotNil(t, rst)
	require.Equal(t, xhttp2.ErrCodeFlowControl, rst.ErrCode)
}
