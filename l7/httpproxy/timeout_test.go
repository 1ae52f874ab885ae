package httpproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// The wait for upstream body bytes is bounded: an upstream that sends a
// head announcing 100 bytes and 3 of them, then nothing, has the client's
// connection closed after ReadTimeout (the one way to say the body is
// incomplete), where before the client was held until the upstream died.
func TestStalledUpstreamBodyClosesTheClient(t *testing.T) {
	up := testutil.StallingHTTPServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up), ReadTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	// A bound for the test, far past the timeout: the proxy must close first.
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.Equal(t, "abc", string(body))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the client learns the body is incomplete by the close")
}

// The wait for the response head's next byte is bounded by ReadTimeout
// too, inside the longer ResponseTimeout: a head that stops half way is a
// 504.
func TestStalledUpstreamHeadIs504(t *testing.T) {
	up := testutil.StallingHTTPServer(t, "HTTP/1.1 200 OK\r\nContent-")
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up),
		ReadTimeout: 300 * time.Millisecond, ResponseTimeout: time.Hour})
	resp, _ := rawRoundTripWithin(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 20*time.Second)
	require.Equal(t, 504, resp.StatusCode)
}

// A client slow to take a response is not an upstream that stalls: while
// the proxy has stopped reading the upstream because the client's side is
// full, ReadTimeout does not run, and a client that comes back after
// longer than it gets the whole body.
func TestSlowClientIsNotAnUpstreamReadTimeout(t *testing.T) {
	const size = 16 << 20
	up := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "16777216")
		_, _ = io.CopyN(w, zeros{}, size)
	})
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, up.addr()), ReadTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
	require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	time.Sleep(time.Second) // five times ReadTimeout, the proxy's side full
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.EqualValues(t, size, n)
}

// The downstream request body is bounded the same way: a client that
// announces 100 bytes, sends 3 and stalls gets 408 after the server's
// BodyTimeout, and the upstream request is cut off rather than left open.
func TestStalledClientBodyIs408(t *testing.T) {
	up := newRecordingUpstream(t)
	p := &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String()), Logger: quiet()}
	var mu sync.Mutex
	var logged []error
	var status int
	p.Logging = func(s *httpproxy.Session, err error) {
		mu.Lock()
		logged = append(logged, err)
		status = s.Status
		mu.Unlock()
	}
	srv := &httpd.Server{Handler: p, Logger: quiet(), BodyTimeout: 300 * time.Millisecond}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	resp, _ := rawRoundTripWithin(t, tr.Addrs()[0].String(),
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", 20*time.Second)
	require.Equal(t, 408, resp.StatusCode)
	require.True(t, resp.Close, "the connection closes")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logged) == 1 && errors.Is(logged[0], httpd.ErrBodyTimeout) && status == 408
	}, 10*time.Second, 10*time.Millisecond, "the session ends with the body timeout, logged with its status")
}

// rawRoundTripWithin is rawRoundTrip with a deadline of d.
func rawRoundTripWithin(t *testing.T, addr, raw string, d time.Duration) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(d)))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// An upstream that takes none of a request body stalls the proxy as
// surely as one that sends nothing: once the proxy cannot write more, the
// wait is bounded by ReadTimeout and ends in 504, while a client that is
// slow with its body is bounded by its own BodyTimeout, not by this.
func TestUpstreamThatTakesNoBodyIs504(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			mu.Lock()
			held = append(held, c) // never read
			mu.Unlock()
		}
	}()
	addr := startOneLoopProxy(t, &httpproxy.Proxy{Upstreams: group(t, ln.Addr().String()),
		ReadTimeout: 300 * time.Millisecond, ResponseTimeout: time.Hour})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	const size = 64 << 20
	go func() {
		_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n")
		_, _ = io.CopyN(c, zeros{}, size)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, 504, resp.StatusCode)
}
