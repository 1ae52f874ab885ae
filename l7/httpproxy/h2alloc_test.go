package httpproxy_test

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// h2sock drives a codecs/http2 Conn over a socket without allocating once
// warm: what it reads is fed whole (the rest kept for the next read),
// what the Conn has to send is written after each feed.
type h2sock struct {
	nc   net.Conn
	c    *http2.Conn
	buf  []byte
	pend int
}

func newH2sock(nc net.Conn, role http2.Role, ev http2.Handler) *h2sock {
	s := &h2sock{nc: nc, buf: make([]byte, 64<<10)}
	s.c = http2.NewConn(role, http2.Config{}, ev)
	return s
}

// flush writes what the Conn has to send.
func (s *h2sock) flush() error {
	if out := s.c.Output(); len(out) > 0 {
		if _, err := s.nc.Write(out); err != nil {
			return err
		}
		s.c.ClearOutput()
	}
	return nil
}

// pump reads once and feeds what it read.
func (s *h2sock) pump() error {
	n, err := s.nc.Read(s.buf[s.pend:])
	if err != nil {
		return err
	}
	s.pend += n
	used, err := s.c.Feed(s.buf[:s.pend])
	if err != nil {
		return err
	}
	s.pend = copy(s.buf, s.buf[used:s.pend])
	return s.flush()
}

// cannedH2 answers each request with a fixed response, allocating nothing
// per request once its HPACK tables hold the fields.
type cannedH2 struct{}

var (
	cannedFields = []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}, {Name: "content-length", Value: "12"}}
	cannedBody   = []byte("hello world\n")
)

func (cannedH2) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	if end {
		_ = c.WriteResponse(id, 200, cannedFields, false)
		_, _ = c.WriteData(id, cannedBody, true)
	}
}
func (cannedH2) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	c.Consumed(id, len(p))
	if end {
		_ = c.WriteResponse(id, 200, cannedFields, false)
		_, _ = c.WriteData(id, cannedBody, true)
	}
}
func (cannedH2) OnReset(*http2.Conn, uint32, http2.ErrCode, bool) {}
func (cannedH2) OnGoAway(*http2.Conn, uint32, http2.ErrCode)      {}
func (cannedH2) OnWritable(*http2.Conn, uint32)                   {}

// cannedH2Upstream is an h2c server of cannedH2 responses.
func cannedH2Upstream(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				s := newH2sock(nc, http2.Server, cannedH2{})
				for s.pump() == nil {
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// h2client counts the responses that ended on it.
type h2client struct {
	ended  int
	status int
	body   int
}

func (a *h2client) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	a.status = h.Status
	if end {
		a.ended++
	}
}
func (a *h2client) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	a.body += len(p)
	c.Consumed(id, len(p))
	if end {
		a.ended++
	}
}
func (a *h2client) OnReset(*http2.Conn, uint32, http2.ErrCode, bool) { a.ended = -1 << 30 }
func (a *h2client) OnGoAway(*http2.Conn, uint32, http2.ErrCode)      {}
func (a *h2client) OnWritable(*http2.Conn, uint32)                   {}

// An HTTP/2 request proxied to an HTTP/2 upstream (h2c both sides, one
// multiplexed upstream connection) allocates nothing in steady state: the
// whole process is counted, with a client and an upstream that allocate
// nothing themselves; the same for an HTTP/2 request to an HTTP/1.1
// upstream and an HTTP/1.1 request to an HTTP/2 upstream. (The writes
// batched by transport.Defer cost nothing on a quiet loop; one flush in
// 64 posts a loop task, two allocations in gnet, to learn whether the
// loop has become busy: 0.03 per request, which AllocsPerRun's integer
// average does not show.)
func TestProxyH2NoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops items under it); CI runs it in the non-race pass")
	}
	for _, tc := range []struct {
		name   string
		h2in   bool
		up     string
		protos httpproxy.Protocol
	}{
		{"h2 to h2", true, cannedH2Upstream(t), httpproxy.H2C},
		{"h2 to h1", true, cannedUpstream(t), httpproxy.HTTP1},
		{"h1 to h2", false, cannedH2Upstream(t), httpproxy.H2C},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := group(t, tc.up)
			p := &httpproxy.Proxy{Upstreams: g, Logger: quiet(), UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: tc.protos}}
			srv := &httpd.Server{Handler: p, Logger: quiet()}
			tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
				transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
			require.NoError(t, err)
			t.Cleanup(tr.Stop)
			nc, err := net.Dial("tcp", tr.Addrs()[0].String())
			require.NoError(t, err)
			defer nc.Close()
			if !tc.h2in {
				if n := allocsPerRequest(t, nc); n != 0 {
					t.Errorf("%v allocations per request, want 0", n)
				}
				return
			}
			app := &h2client{}
			s := newH2sock(nc, http2.Client, app)
			req := &http2.Header{Method: "GET", Scheme: "http", Authority: "example.com", Path: "/index.html?x=1"}
			fields := []hpack.HeaderField{{Name: "user-agent", Value: "alloc-test"}, {Name: "accept", Value: "*/*"}}
			var rtErr error
			round := func() {
				if _, err := s.c.OpenStream(req, fields, true); err != nil {
					rtErr = err
					return
				}
				want := app.ended + 1
				if err := s.flush(); err != nil {
					rtErr = err
					return
				}
				for app.ended < want && app.ended >= 0 {
					if err := s.pump(); err != nil {
						rtErr = err
						return
					}
				}
				if app.ended < 0 || app.status != 200 {
					rtErr = io.ErrUnexpectedEOF
				}
			}
			for range 200 {
				round()
			}
			require.NoError(t, rtErr)
			n := testing.AllocsPerRun(2000, round)
			require.NoError(t, rtErr)
			require.Equal(t, 2201*len(cannedBody), app.body, "every response whole")
			if n != 0 {
				t.Errorf("%v allocations per request, want 0", n)
			}
		})
	}
}
