package http2_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// echoApp is the test servers' application: GET answers a body of
// respBody; a request with a body gets it back, with the request's
// trailers as response trailers; "x-respond-status" picks the status.
type echoApp struct {
	mu      sync.Mutex // only for the stats a test reads from another goroutine
	streams map[uint32]*echoStream
	resets  []http2.ErrCode
	hold    bool // never give request body bytes back (a stalled consumer)
}

type echoStream struct {
	method   string
	body     []byte
	pending  []byte
	trailers []hpack.HeaderField
	ended    bool
}

var respBody = bytes.Repeat([]byte("hello, world\n"), 20)

func newEchoApp() *echoApp { return &echoApp{streams: map[uint32]*echoStream{}} }

func (a *echoApp) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	if h.Trailers {
		s := a.streams[id]
		for _, f := range h.Fields {
			s.trailers = append(s.trailers, hpack.HeaderField{Name: f.Name, Value: f.Value})
		}
		a.respond(c, id)
		return
	}
	s := &echoStream{method: h.Method}
	a.streams[id] = s
	status := 200
	if v := h.Get("x-respond-status"); v != "" {
		status, _ = strconv.Atoi(v)
	}
	if end {
		if status != 200 {
			_ = c.WriteResponse(id, status, nil, true)
			delete(a.streams, id)
			return
		}
		s.pending = respBody
		_ = c.WriteResponse(id, 200, []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}}, false)
		a.send(c, id)
	}
}

func (a *echoApp) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	s := a.streams[id]
	s.body = append(s.body, p...)
	if !a.hold {
		c.Consumed(id, len(p))
	}
	if end {
		a.respond(c, id)
	}
}

func (a *echoApp) respond(c *http2.Conn, id uint32) {
	s := a.streams[id]
	s.pending = s.body
	_ = c.WriteResponse(id, 200, []hpack.HeaderField{{Name: "x-echo-length", Value: strconv.Itoa(len(s.body))}}, false)
	a.send(c, id)
}

func (a *echoApp) send(c *http2.Conn, id uint32) {
	s := a.streams[id]
	if s == nil || s.ended {
		return
	}
	n, err := c.WriteData(id, s.pending, s.trailers == nil)
	if err != nil {
		delete(a.streams, id)
		return
	}
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.ended = true
		if s.trailers != nil {
			_ = c.WriteTrailers(id, s.trailers)
		}
		delete(a.streams, id)
	}
}

func (a *echoApp) OnReset(c *http2.Conn, id uint32, code http2.ErrCode, remote bool) {
	delete(a.streams, id)
	a.mu.Lock()
	a.resets = append(a.resets, code)
	a.mu.Unlock()
}

func (a *echoApp) OnGoAway(*http2.Conn, uint32, http2.ErrCode) {}

func (a *echoApp) OnWritable(c *http2.Conn, id uint32) { a.send(c, id) }

// serveH2C serves h2c with prior knowledge on a loopback listener, one
// goroutine per connection driving a Conn: what the event loop will do,
// in test form. It returns the address and, per connection, the Conn's
// stats once the connection is over.
func serveH2C(t *testing.T, cfg http2.Config) (string, <-chan http2.Stats) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats := make(chan http2.Stats, 1024)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				stats <- drive(nc, cfg, newEchoApp())
			}()
		}
	}()
	return ln.Addr().String(), stats
}

// drive runs one server connection until the peer or the Conn ends it.
func drive(nc net.Conn, cfg http2.Config, app http2.Handler) http2.Stats {
	defer nc.Close()
	c := http2.NewConn(http2.Server, cfg, app)
	flush := func() error {
		if out := c.Output(); len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return err
			}
			c.ClearOutput()
		}
		return nil
	}
	in := make([]byte, 0, 64<<10)
	buf := make([]byte, 32<<10)
	for {
		if flush() != nil {
			return c.Stats()
		}
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := nc.Read(buf)
		in = append(in, buf[:n]...)
		k, ferr := c.Feed(in)
		in = in[:copy(in, in[k:])]
		if ferr != nil {
			_ = flush()
			// Let the peer read the GOAWAY before the close.
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			_ = nc.SetReadDeadline(time.Now().Add(time.Second))
			_, _ = io.Copy(io.Discard, nc)
			return c.Stats()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = flush()
			}
			return c.Stats()
		}
	}
}
