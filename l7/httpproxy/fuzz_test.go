package httpproxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

// fuzzUpstream answers GET /ok with a fixed response and GET /fuzz with
// whatever bytes the current fuzz input holds, in pieces, and closes.
type fuzzUpstream struct {
	ln net.Listener
	mu sync.Mutex
	in []byte
}

func (u *fuzzUpstream) set(in []byte) {
	u.mu.Lock()
	u.in = in
	u.mu.Unlock()
}

func (u *fuzzUpstream) serve() {
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		go u.answer(c)
	}
}

func (u *fuzzUpstream) answer(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	if req.URL.Path == "/ok" {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		return
	}
	u.mu.Lock()
	in := u.in
	u.mu.Unlock()
	// The first byte cuts the rest into pieces, so that the proxy's
	// parser gets heads and bodies split anywhere.
	piece := len(in)
	if len(in) > 0 {
		piece = 1 + int(in[0])%64
		in = in[1:]
	}
	for len(in) > 0 {
		n := min(piece, len(in))
		if _, err := c.Write(in[:n]); err != nil {
			return
		}
		in = in[n:]
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, br) // until the proxy closes or the deadline
}

// fuzzGet sends one GET through the proxy and returns the final response
// with its body read (bodyErr is a cut-off body), or an error if no
// well-formed final response head arrived.
func fuzzGet(addr, path string) (resp *http.Response, body []byte, bodyErr error, err error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: fuzz\r\n\r\n"); err != nil {
		return nil, nil, nil, err
	}
	br := bufio.NewReader(c)
	req, _ := http.NewRequest("GET", "http://fuzz"+path, nil)
	for {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return nil, nil, nil, err
		}
		// Interim responses come before the final one.
		if resp.StatusCode >= 200 || resp.StatusCode == 101 {
			break
		}
	}
	body, bodyErr = io.ReadAll(resp.Body)
	return resp, body, bodyErr, nil
}

// FuzzUpstreamResponse drives the proxy with arbitrary upstream bytes. The
// client must always get a well-formed response head (the upstream's, or
// the proxy's 502/504), whatever the upstream sends; a cut-off body is
// allowed, since the head may have gone before the fault. After each input
// a request on another connection must still work.
func FuzzUpstreamResponse(f *testing.F) {
	for _, s := range []string{
		"\x07HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"\x03HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"\x00HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"\x20HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
		"\x01HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nraw",
		"\x3fHTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"\x3fHTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"\x3fHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"\x3fHTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"\x3fHTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
		"\x3fHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"\x3fHTTP/1.0 200 OK\r\n\r\nhttp/1.0 body",
		"\x3fNOT HTTP AT ALL\r\n\r\n",
		"\x3fHTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	up := &fuzzUpstream{}
	var err error
	if up.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	defer up.ln.Close()
	go up.serve()
	addr := startProxy(f, &httpproxy.Proxy{Upstreams: group(f, up.ln.Addr().String()), ResponseTimeout: 2 * time.Second})

	f.Fuzz(func(t *testing.T, in []byte) {
		up.set(in)
		resp, body, bodyErr, err := fuzzGet(addr, "/fuzz")
		if err != nil {
			t.Fatalf("no well-formed response head for upstream bytes %q: %v", in, err)
		}
		if len(in) <= 1 && (resp.StatusCode != 502 || resp.Header.Get("Via") != "") {
			// No upstream bytes: the proxy answers itself, without Via.
			t.Fatalf("an upstream that sends nothing gave %d with Via %q, want the proxy's own 502", resp.StatusCode, resp.Header.Get("Via"))
		}
		// The proxy's own 502 or 504 has no Via field, unlike a forwarded
		// response (an upstream may send a 502 and cut its body off too).
		if (resp.StatusCode == 502 || resp.StatusCode == 504) && resp.Header.Get("Via") == "" {
			if bodyErr != nil {
				t.Fatalf("the proxy's own %d was cut off: %v", resp.StatusCode, bodyErr)
			}
		}
		resp, body, bodyErr, err = fuzzGet(addr, "/ok")
		if err != nil || bodyErr != nil || resp.StatusCode != 200 || !bytes.Equal(body, []byte("ok")) {
			t.Fatalf("a good request after upstream bytes %q: %v %v %v %q", in, err, bodyErr, resp, body)
		}
	})
}
