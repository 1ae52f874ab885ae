package httpd

import (
	"bytes"
	"net"
	"testing"
	"unsafe"

	"github.com/penstock-proxy/penstock/transport"
)

// fakeStream is a Stream that keeps what is written, for driving a conn
// by hand.
type fakeStream struct {
	loop transport.Loop
	h    transport.Handler
	out  bytes.Buffer
}

func (f *fakeStream) Loop() transport.Loop           { return f.loop }
func (f *fakeStream) SetHandler(h transport.Handler) { f.h = h }
func (f *fakeStream) Write(p []byte) (int, error)    { return f.out.Write(p) }
func (f *fakeStream) Queued() int                    { return 0 }
func (f *fakeStream) Writable() bool                 { return true }
func (f *fakeStream) PauseRead()                     {}
func (f *fakeStream) ResumeRead()                    {}
func (f *fakeStream) CloseWrite() error              { return nil }
func (f *fakeStream) Close() error                   { return nil }
func (f *fakeStream) LocalAddr() net.Addr            { return fakeAddr }
func (f *fakeStream) RemoteAddr() net.Addr           { return fakeAddr }

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

// A keep-alive request answered with Respond allocates nothing in steady
// state: the head copy, the exchange and the output buffer are reused.
func TestServeRequestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops items under it); CI runs it in the non-race pass")
	}
	body := []byte("hello")
	ct := []Field{{Name: []byte("Content-Type"), Value: []byte("text/plain")}}
	srv := &Server{Handler: HandlerFunc(func(x *Exchange) {
		_ = x.Respond(200, body, ct...)
	})}
	st := &fakeStream{loop: transport.NewSerialLoop()}
	srv.Accept(st)
	req := []byte("GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
	for range 3 {
		st.h.OnData(st, req)
	}
	st.out.Reset()
	n := testing.AllocsPerRun(1000, func() {
		if got := st.h.OnData(st, req); got != len(req) {
			t.Fatalf("consumed %d of %d", got, len(req))
		}
		st.out.Reset()
	})
	if n != 0 {
		t.Errorf("%v allocs per request", n)
	}
}

// TestIdleConnSize guards what an idle connection holds in this package: the
// conn with its Timer embedded fits the 112-byte size class.
func TestIdleConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 112 {
		t.Errorf("conn is %d bytes, want <= 112", n)
	}
}
