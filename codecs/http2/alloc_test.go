package http2_test

import (
	"testing"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// quietApp answers every request with a fixed head and body and keeps
// nothing: what a request costs is then the codec's own.
type quietApp struct{ got int }

var (
	respFields = []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}, {Name: "server", Value: "penstock"}}
	respBytes  = []byte("hello world\n")
)

func (a *quietApp) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	if h.Status != 0 || h.Trailers {
		a.got++
		return
	}
	_ = c.WriteResponse(id, 200, respFields, false)
	_, _ = c.WriteData(id, respBytes, true)
}
func (a *quietApp) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	c.Consumed(id, len(p))
	if end {
		a.got++
	}
}
func (a *quietApp) OnReset(*http2.Conn, uint32, http2.ErrCode, bool) {}
func (a *quietApp) OnGoAway(*http2.Conn, uint32, http2.ErrCode)      {}
func (a *quietApp) OnWritable(*http2.Conn, uint32)                   {}

// pipe moves one Conn's output into the other without allocating.
type pipe struct{ buf []byte }

func (p *pipe) move(from, to *http2.Conn) {
	p.buf = append(p.buf[:0], from.Output()...)
	from.ClearOutput()
	if len(p.buf) > 0 {
		_, _ = to.Feed(p.buf)
	}
}

// A request and its response through a client and a server Conn, once
// both HPACK tables hold the fields: the codec allocates nothing (the
// stream records are reused, the header lists decoded from the tables).
func TestNoAllocsRoundTrip(t *testing.T) {
	srvApp, cliApp := &quietApp{}, &quietApp{}
	srv := http2.NewConn(http2.Server, http2.Config{}, srvApp)
	cli := http2.NewConn(http2.Client, http2.Config{}, cliApp)
	var p pipe
	req := &http2.Header{Method: "GET", Scheme: "https", Authority: "example.test", Path: "/"}
	reqFields := []hpack.HeaderField{{Name: "accept", Value: "*/*"}, {Name: "user-agent", Value: "test"}}
	round := func() {
		id, err := cli.OpenStream(req, reqFields, true)
		if err != nil {
			t.Fatal(err)
		}
		p.move(cli, srv)
		p.move(srv, cli)
		cli.Consumed(id, len(respBytes))
		p.move(cli, srv)
	}
	for range 100 {
		round() // the tables, the buffers and the free lists fill
	}
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Fatalf("%v allocations per request and response", n)
	}
	if cliApp.got < 1100 {
		t.Fatalf("only %d responses", cliApp.got)
	}
}
