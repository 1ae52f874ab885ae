package httpd

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/penstock-proxy/penstock/transport"
)

// fuzzStream plays the transport for a conn driven by hand: it keeps the
// bytes OnData left unconsumed and offers them again ahead of new input,
// stops offering while paused, and reports Close to the handler once.
type fuzzStream struct {
	fakeStream
	pending []byte
	paused  bool
	closed  bool
}

func (f *fuzzStream) PauseRead()  { f.paused = true }
func (f *fuzzStream) ResumeRead() { f.paused = false }
func (f *fuzzStream) Close() error {
	if !f.closed {
		f.closed = true
		f.h.OnClose(f, nil)
	}
	return nil
}

func (f *fuzzStream) deliver() {
	for !f.closed && !f.paused && len(f.pending) > 0 {
		n := f.h.OnData(f, f.pending)
		if n <= 0 {
			return
		}
		f.pending = f.pending[n:]
	}
}

var quietLogger = slog.New(slog.DiscardHandler)

// fuzzHandler answers in the ways handlers do, chosen by the path's
// length: at once, streaming the request body back, or after reading it.
var fuzzHandler = HandlerFunc(func(x *Exchange) {
	switch len(x.Req.Path) % 3 {
	case 0:
		_ = x.Respond(200, x.Req.Path)
	case 1:
		_ = x.WriteHead(200)
		x.ReadBody(func(p []byte, end bool) {
			_, _ = x.Write(p)
			if end {
				_ = x.End()
			}
		})
	default:
		x.ReadBody(func(p []byte, end bool) {
			if end {
				_ = x.Respond(204, nil)
			}
		})
	}
})

// FuzzServerConn feeds arbitrary bytes, cut into pieces of arbitrary size,
// to one server connection: whatever arrives, the server must not panic,
// and everything it writes is HTTP/1.1 responses.
func FuzzServerConn(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /ab HTTP/1.1\r\nHost: a\r\n\r\nGET /abc HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /ab HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n",
		"PUT /abc HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.0\r\n\r\n",
		"HEAD /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		srv := &Server{Handler: fuzzHandler, Logger: quietLogger}
		st := &fuzzStream{fakeStream: fakeStream{loop: transport.NewSerialLoop()}}
		srv.Accept(st)
		step := int(cut%16) + 1
		for off := 0; off < len(data) && !st.closed; off += step {
			st.pending = append(st.pending, data[off:min(off+step, len(data))]...)
			st.deliver()
		}
		if !st.closed {
			st.h.OnReadEOF(st)
		}
		_ = st.Close()
		out := st.out.Bytes()
		if len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			t.Fatalf("output does not start with a status line: %q", out[:min(len(out), 64)])
		}
	})
}
