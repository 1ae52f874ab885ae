package httpproxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
	"github.com/stretchr/testify/require"
)

// seenRequest is what an upstream received.
type seenRequest struct {
	method, uri, host string
	header            http.Header
	body              string
	chunked           bool
}

// recordingUpstream is a keep-alive upstream that reads requests with
// net/http's reader, so it frames them as any server would, records them
// and answers each with its own request URI.
type recordingUpstream struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []seenRequest
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &recordingUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *recordingUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{req.Method, req.RequestURI, req.Host, req.Header, string(body),
			len(req.TransferEncoding) > 0})
		u.mu.Unlock()
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.RequestURI), req.RequestURI)
	}
}

func (u *recordingUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// startOneLoopProxy runs p on one loop, so that every client shares one
// upstream pool.
func startOneLoopProxy(t *testing.T, p *httpproxy.Proxy) string {
	t.Helper()
	p.Logger = quiet()
	srv := &httpd.Server{Handler: p, Logger: quiet()}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

// rawRoundTrip sends raw on a new connection and reads one response.
func rawRoundTrip(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

// A Connection field naming a field that frames the request (or routes
// it) must not take that field off the upstream request: a body whose
// Content-Length was dropped would become the next request on the pooled
// upstream connection, answered to another client.
func TestConnectionCannotUnframeTheRequest(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, conn := range []string{"Content-Length", "keep-alive, content-length", "Transfer-Encoding, Host",
		"close, Content-Length"} {
		t.Run(conn, func(t *testing.T) {
			up := newRecordingUpstream(t)
			addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String())})
			resp, body := rawRoundTrip(t, addr, fmt.Sprintf(
				"POST /attack HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s",
				len(smuggled), conn, smuggled))
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, "/attack", body)
			for i := range 5 {
				_, body := rawRoundTrip(t, addr, fmt.Sprintf("GET /victim%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
				require.Equal(t, fmt.Sprintf("/victim%d", i), body, "a victim got another request's response")
			}
			seen := up.requests()
			require.Len(t, seen, 6)
			require.Equal(t, "/attack", seen[0].uri)
			require.Equal(t, smuggled, seen[0].body, "the body went upstream as the body")
			require.Equal(t, "x", seen[0].host)
			for _, r := range seen {
				require.NotEqual(t, "/smuggled", r.uri)
			}
		})
	}
}

// The same with a chunked body: Transfer-Encoding is the proxy's to set.
func TestConnectionCannotUnframeAChunkedBody(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String())})
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	resp, _ := rawRoundTrip(t, addr, fmt.Sprintf(
		"POST /attack HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding, Content-Length\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		len(smuggled), smuggled))
	require.Equal(t, 200, resp.StatusCode)
	_, body := rawRoundTrip(t, addr, "GET /victim HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, "/victim", body)
	seen := up.requests()
	require.Len(t, seen, 2)
	require.Equal(t, smuggled, seen[0].body)
	require.True(t, seen[0].chunked)
}

// "Connection: Host" used to send a request with no Host; the proxy's own
// fields cannot be removed either, and a client's earlier hops stay in
// them.
func TestConnectionCannotRemoveHostOrForwardedFields(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String())})
	_, body := rawRoundTrip(t, addr, "GET /h HTTP/1.1\r\nHost: example.test\r\n"+
		"Connection: Host, X-Forwarded-For, Via, X-Forwarded-Host, X-Forwarded-Proto, X-Other\r\n"+
		"X-Forwarded-For: 10.1.1.1\r\nVia: 1.0 edge\r\nX-Other: 1\r\n\r\n")
	require.Equal(t, "/h", body)
	seen := up.requests()
	require.Len(t, seen, 1)
	r := seen[0]
	require.Equal(t, "example.test", r.host)
	require.Equal(t, "10.1.1.1, 127.0.0.1", r.header.Get("X-Forwarded-For"))
	require.Equal(t, "1.0 edge, 1.1 penstock", r.header.Get("Via"))
	require.Equal(t, "example.test", r.header.Get("X-Forwarded-Host"))
	require.Equal(t, "http", r.header.Get("X-Forwarded-Proto"))
	require.Empty(t, r.header.Get("X-Other"), "other fields named by Connection are dropped")
	require.Empty(t, r.header.Values("Connection"))
}

// Repeated Content-Length lines of one value are one field upstream: the
// proxy writes the framing from its parse, and so does not pass on a
// Content-Length a hook set either.
func TestUpstreamFramingIsTheProxys(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startOneLoopProxy(t, &httpproxy.Proxy{
		Upstreams: group(t, up.ln.Addr().String()),
		UpstreamRequestFilter: func(s *httpproxy.Session) {
			s.UpstreamHeader.Add("Content-Length", "0")
			s.UpstreamHeader.Add("Transfer-Encoding", "chunked")
		},
	})
	_, body := rawRoundTrip(t, addr, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
	require.Equal(t, "/p", body)
	_, body = rawRoundTrip(t, addr, "POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	require.Equal(t, "/z", body)
	_, body = rawRoundTrip(t, addr, "GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, "/v", body)
	seen := up.requests()
	require.Len(t, seen, 3)
	require.Equal(t, "abc", seen[0].body)
	require.Equal(t, []string{"3"}, seen[0].header.Values("Content-Length"))
	require.False(t, seen[0].chunked)
	require.Equal(t, []string{"0"}, seen[1].header.Values("Content-Length"), "an empty body keeps its Content-Length: 0")
	require.Empty(t, seen[2].header.Values("Content-Length"))
}

// An upstream response whose Connection field names Content-Length keeps
// its framing downstream.
func TestResponseConnectionCannotUnframe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello")
				}
			}()
		}
	}()
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, ln.Addr().String())})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for range 3 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, "hello", string(b))
		require.Equal(t, int64(5), resp.ContentLength)
	}
}

// An absolute-form target names the host: RFC 9112 §3.2.2 makes its
// authority replace the Host field, upstream as for routing.
func TestAbsoluteFormTargetSetsHost(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String())})
	_, body := rawRoundTrip(t, addr, "GET http://right.test:8080/p?q=1 HTTP/1.1\r\nHost: wrong.test\r\n\r\n")
	require.Equal(t, "/p?q=1", body)
	seen := up.requests()
	require.Len(t, seen, 1)
	require.Equal(t, "right.test:8080", seen[0].host)
	require.Equal(t, "right.test:8080", seen[0].header.Get("X-Forwarded-Host"))
	require.False(t, strings.Contains(fmt.Sprint(seen[0].header), "wrong.test"))
}

// CONNECT is refused without touching the upstream or its pool: passed on
// as "CONNECT /", the upstream's answer was left unread on a pooled
// connection and later requests got 502.
func TestConnectRefusedWithoutTouchingThePool(t *testing.T) {
	up := newRecordingUpstream(t)
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String())})
	_, body := rawRoundTrip(t, addr, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, "/warm", body)
	for range 50 {
		resp, _ := rawRoundTrip(t, addr, "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
		require.Equal(t, 501, resp.StatusCode)
	}
	for i := range 100 {
		resp, body := rawRoundTrip(t, addr, fmt.Sprintf("GET /after%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, fmt.Sprintf("/after%d", i), body)
	}
	for _, r := range up.requests() {
		require.NotEqual(t, "CONNECT", r.method)
	}
}
