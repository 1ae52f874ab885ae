package httpd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
	"github.com/stretchr/testify/require"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t *testing.T, srv *httpd.Server) string {
	t.Helper()
	if srv.Logger == nil {
		srv.Logger = quiet()
	}
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

// startOne is start on a single loop, for tests that wait on the
// transport's state and on that loop (see settle).
func startOne(t *testing.T, srv *httpd.Server) (*transport.Transport, transport.Loop, string) {
	t.Helper()
	if srv.Logger == nil {
		srv.Logger = quiet()
	}
	loops := make(chan transport.Loop, 1)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
			select {
			case loops <- s.Loop():
			default:
			}
			srv.Accept(s)
		}})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	addr := tr.Addrs()[0].String()
	// One connection to learn the loop, closed again before the test's own.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	var loop transport.Loop
	select {
	case loop = <-loops:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe connection was never accepted")
	}
	c.Close()
	settle(t, tr, loop, 0)
	return tr, loop, addr
}

// settle waits until the transport has open streams left and then until
// the loop has finished what it was running: the transport counts a stream
// closed just before the stream's OnClose runs, in the same loop callback,
// so once a func queued after that has run the server has seen the close.
func settle(t *testing.T, tr *transport.Transport, loop transport.Loop, open int64) {
	t.Helper()
	require.Eventually(t, func() bool { return tr.Active() == open }, 10*time.Second, time.Millisecond,
		"the server never got down to %d open streams", open)
	done := make(chan struct{})
	require.True(t, loop.Execute(func() { close(done) }))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop never ran a queued func")
	}
}

// hello answers every request with its method and path.
var hello = httpd.HandlerFunc(func(x *httpd.Exchange) {
	_ = x.Respond(200, fmt.Appendf(nil, "%s %s", x.Req.Method, x.Req.Path),
		httpd.Field{Name: []byte("X-Query"), Value: x.Req.Query})
})

// echo streams the request body back as a chunked response, pausing the
// client while the response is congested.
var echo = httpd.HandlerFunc(func(x *httpd.Exchange) {
	_ = x.WriteHead(200, httpd.Field{Name: []byte("Content-Type"), Value: []byte("application/octet-stream")})
	x.OnDrained(x.ResumeBody)
	x.ReadBody(func(p []byte, end bool) {
		_, _ = x.Write(p)
		if end {
			_ = x.End()
			return
		}
		if !x.Writable() {
			x.PauseBody()
		}
	})
})

func TestGetKeepAliveWithNetHTTP(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello})
	conns := 0
	tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		conns++
		return (&net.Dialer{}).DialContext(ctx, n, a)
	}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	for i := range 20 {
		resp, err := cl.Get(fmt.Sprintf("http://%s/path/%d?q=%d", addr, i, i))
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, fmt.Sprintf("GET /path/%d", i), string(b))
		require.Equal(t, fmt.Sprint("q=", i), resp.Header.Get("X-Query"))
	}
	require.Equal(t, 1, conns, "one keep-alive connection carries every request")
}

func TestEchoLargeBodies(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: echo})
	for _, size := range []int{0, 1, 100 << 10, 8 << 20} {
		body := bytes.Repeat([]byte("penstock"), size/8+1)[:size]
		resp, err := http.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(body))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, sha256.Sum256(body), sha256.Sum256(got), "size %d", size)
		// A chunked request body too.
		resp, err = http.Post("http://"+addr+"/echo", "application/octet-stream", io.MultiReader(bytes.NewReader(body)))
		require.NoError(t, err)
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, sha256.Sum256(body), sha256.Sum256(got), "chunked size %d", size)
	}
}

func TestPipelinedRequestsAnswerInOrder(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	var req strings.Builder
	for i := range 10 {
		fmt.Fprintf(&req, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	fmt.Fprintf(&req, "POST /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
	_, err = c.Write([]byte(req.String()))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	for i := range 10 {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, fmt.Sprintf("GET /%d", i), string(b))
	}
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "POST /last", string(b))
	require.True(t, resp.Close)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := br.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF, "the server closes after Connection: close")
}

func TestBadRequestsGetStatusAndClose(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello})
	cases := []struct {
		name, req string
		status    int
	}{
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\nx", 400},
		{"obfuscated te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"gzip te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"nul in field", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400},
		{"long uri", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"huge head", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: "+strings.Repeat("b", 1000)+"\r\n", 70) + "\r\n", 431},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	}
	readBody := httpd.HandlerFunc(func(x *httpd.Exchange) {
		x.ReadBody(func(p []byte, end bool) {
			if end {
				_ = x.Respond(200, nil)
			}
		})
	})
	addr2 := start(t, &httpd.Server{Handler: readBody})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := addr
			if tc.name == "bad chunk" {
				a = addr2
			}
			c, err := net.Dial("tcp", a)
			require.NoError(t, err)
			defer c.Close()
			_, _ = c.Write([]byte(tc.req))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode)
			_, _ = io.ReadAll(resp.Body)
			_, err = br.ReadByte()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestHeadAndHTTP10(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello})
	resp, err := http.Head("http://" + addr + "/h")
	require.NoError(t, err)
	require.Equal(t, int64(len("HEAD /h")), resp.ContentLength)
	resp.Body.Close()

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Contains(t, string(all), "Connection: keep-alive\r\n")
	require.Contains(t, string(all), "GET /a")
	require.True(t, strings.HasSuffix(string(all), "GET /b"), "the 1.0 request without keep-alive ends the connection: %q", all)
}

func TestHeaderTimeout(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello, HeaderTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHo"))
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, 408, resp.StatusCode)
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	h := httpd.HandlerFunc(func(x *httpd.Exchange) {
		if string(x.Req.Path) == "/panic" {
			panic("boom")
		}
		hello(x)
	})
	addr := start(t, &httpd.Server{Handler: h})
	other, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer other.Close()
	resp, err := http.Get("http://" + addr + "/panic")
	require.NoError(t, err)
	require.Equal(t, 500, resp.StatusCode)
	resp.Body.Close()
	_, _ = other.Write([]byte("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err = http.ReadResponse(bufio.NewReader(other), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "GET /ok", string(b))
}

// A handler answers from another goroutine through the loop; the pipelined
// request behind it reaches the handler only once that answer has ended.
func TestAsyncResponseFromGoroutine(t *testing.T) {
	release := make(chan struct{})
	var inFlight, overlaps atomic.Int32
	h := httpd.HandlerFunc(func(x *httpd.Exchange) {
		if inFlight.Add(1) != 1 {
			overlaps.Add(1)
		}
		go func() {
			<-release // both requests have been sent
			x.Loop().Execute(func() {
				inFlight.Add(-1)
				hello(x)
			})
		}()
	})
	addr := start(t, &httpd.Server{Handler: h})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"))
	close(release)
	br := bufio.NewReader(c)
	for _, want := range []string{"GET /1", "GET /2"} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, want, string(b))
	}
	require.Zero(t, overlaps.Load(), "a pipelined request reached the handler before the answer ahead of it")
}

// curl sends "Expect: 100-continue" for bodies over 1 MiB and waits for the
// 100 before sending.
func TestCurlExpectContinueUpload(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	addr := start(t, &httpd.Server{Handler: echo})
	body := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	cmd := exec.Command("curl", "-sS", "--max-time", "30", "--expect100-timeout", "20",
		"-H", "Content-Type: application/octet-stream", "--data-binary", "@-", "http://"+addr+"/up")
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	require.Equal(t, sha256.Sum256(body), sha256.Sum256(out))
}

// Drain closes idle keep-alive connections at once and ends the others
// after their response.
func TestDrainClosesKeepAlive(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	h := httpd.HandlerFunc(func(x *httpd.Exchange) {
		if string(x.Req.Path) == "/slow" {
			close(arrived)
			go func() {
				<-release
				x.Loop().Execute(func() { hello(x) })
			}()
			return
		}
		hello(x)
	})
	srv := &httpd.Server{Handler: h}
	addr := start(t, srv)
	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, _ = idle.Write([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
	ibr := bufio.NewReader(idle)
	resp, err := http.ReadResponse(ibr, nil)
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)

	busy, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer busy.Close()
	_, _ = busy.Write([]byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case <-arrived: // the request is in flight when the server drains
	case <-time.After(10 * time.Second):
		t.Fatal("the /slow request never reached the handler")
	}

	srv.Drain()
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = ibr.ReadByte()
	require.ErrorIs(t, err, io.EOF, "an idle keep-alive connection closes when the server drains")

	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(10 * time.Second))
	bbr := bufio.NewReader(busy)
	resp, err = http.ReadResponse(bbr, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "GET /slow", string(b), "a request in flight is answered")
	_, err = bbr.ReadByte()
	require.ErrorIs(t, err, io.EOF, "and its connection closes after the response")
}

// Drain reaches every idle connection still open after others opened and
// closed around them (the server links its open connections in a list).
func TestDrainAfterChurn(t *testing.T) {
	srv := &httpd.Server{Handler: hello}
	tr, loop, addr := startOne(t, srv)
	var open []*bufio.Reader
	for i := 0; i < 7; i++ {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		if i%3 == 0 { // the first, a middle one and the last
			_ = c.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		open = append(open, br)
	}
	settle(t, tr, loop, int64(len(open))) // the closes reach the server first
	srv.Drain()
	for i, br := range open {
		_, err := br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "idle connection %d closes when the server drains", i)
	}
}

// A request with "Connection: close" that was read whole is answered and the
// connection closed at once, without waiting for the client's FIN (no
// lingering close); one followed by more bytes lingers instead, so the
// client still reads its response rather than a reset.
func TestConnectionCloseEndsAtOnce(t *testing.T) {
	srv := &httpd.Server{Handler: hello}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	addr := tr.Addrs()[0].String()

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Contains(t, string(b), "GET /a")
	// The client has not closed its side, yet the server's stream is gone.
	require.Eventually(t, func() bool { return tr.Active() == 0 }, 5*time.Second, 5*time.Millisecond)

	// Pipelined bytes after the closing request: the server lingers, the
	// whole response arrives.
	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Write([]byte("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err = io.ReadAll(c2)
	require.NoError(t, err)
	require.Contains(t, string(b), "GET /b")
	require.NotContains(t, string(b), "GET /c")
}

// A 204 or 304 with a Content-Length keeps the connection alive (the field
// is dropped from a 204), and a status outside 100-999 is an error, not a
// panic.
func TestNoBodyStatusesKeepAlive(t *testing.T) {
	bad := make(chan error, 1)
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		switch string(x.Req.Path) {
		case "/204":
			_ = x.WriteHead(204, httpd.Field{Name: []byte("Content-Length"), Value: []byte("5")})
			_ = x.End()
		case "/304":
			_ = x.WriteHead(304, httpd.Field{Name: []byte("Content-Length"), Value: []byte("5")})
			_ = x.End()
		default:
			bad <- x.WriteHead(42)
			_ = x.Respond(200, []byte("ok"))
		}
	})}
	addr := start(t, srv)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/204", "/304", "/bad"} {
		_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		require.NoError(t, err, path)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.False(t, resp.Close, "%s closed the connection", path)
		if path == "/204" {
			require.Empty(t, resp.Header.Get("Content-Length"))
		}
	}
	require.Error(t, <-bad)
}

// A client that stops reading a large response is closed after
// SendTimeout, and the handler hears of it through OnAbort.
func TestSendTimeoutClosesStalledClient(t *testing.T) {
	aborted := make(chan error, 1)
	big := bytes.Repeat([]byte("x"), 64<<10)
	srv := &httpd.Server{SendTimeout: 300 * time.Millisecond, Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		x.OnAbort(func(err error) { aborted <- err })
		_ = x.WriteHead(200)
		var pump func()
		pump = func() {
			for x.Writable() {
				if _, err := x.Write(big); err != nil {
					return
				}
			}
		}
		x.OnDrained(pump)
		pump()
	})}
	addr := start(t, srv)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	// Read nothing: the server's queue fills, then the send timeout ends it.
	select {
	case err := <-aborted:
		require.ErrorIs(t, err, httpd.ErrClientClosed)
	case <-time.After(20 * time.Second):
		t.Fatal("a client that reads nothing was never closed")
	}
}

// A request body that turns out malformed ends the exchange at once: the
// handler's OnAbort runs with the parse error, not after the lingering
// close.
func TestBadBodyAbortsExchange(t *testing.T) {
	aborted := make(chan error, 1)
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		x.OnAbort(func(err error) { aborted <- err })
		x.ReadBody(func(p []byte, end bool) {})
	})}
	addr := start(t, srv)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"))
	require.NoError(t, err)
	select {
	case err := <-aborted:
		// The parse error itself, not the close that ends the linger.
		require.Error(t, err)
		require.NotErrorIs(t, err, httpd.ErrClientClosed)
	case <-time.After(20 * time.Second):
		t.Fatal("the handler did not hear of the bad body")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	require.Contains(t, string(b), "400")
}

// A handler that rejects an "Expect: 100-continue" upload without reading
// it says "Connection: close", so the client does not send the body.
func TestExpectRejectedSaysClose(t *testing.T) {
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		_ = x.Respond(413, nil)
	})}
	addr := start(t, srv)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode)
	require.True(t, resp.Close, "no Connection: close on a rejected Expect request")
}

// OnClientEOF runs when the client shuts down its side after a whole
// request (a pipelined request before it is answered first, since the EOF
// comes after its bytes), or at once if the EOF was read already; the
// responses still reach the half-closed client.
func TestOnClientEOF(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		path := string(x.Req.Path)
		if path == "/1" {
			_ = x.Respond(200, []byte("first"))
			return
		}
		register := func() { x.OnClientEOF(func() { _ = x.Respond(200, []byte("eof "+path)) }) }
		if path == "/late" {
			// Most likely after the EOF was read: fn runs at once.
			time.AfterFunc(50*time.Millisecond, func() { x.Loop().Execute(register) })
			return
		}
		register()
	})})
	for _, reqs := range [][]string{{"/2"}, {"/1", "/2"}, {"/late"}} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		var raw string
		for _, p := range reqs {
			raw += "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n"
		}
		_, err = io.WriteString(c, raw)
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		for _, p := range reqs {
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			want := "eof " + p
			if p == "/1" {
				want = "first"
			}
			require.Equal(t, want, string(b))
		}
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF)
		c.Close()
	}
}

// RetractHead takes back a head that waits for its body, and nothing once
// body bytes have gone.
func TestRetractHead(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		_ = x.WriteHead(200, httpd.Field{Name: []byte("Content-Length"), Value: []byte("5")})
		if string(x.Req.Path) == "/sent" {
			_, _ = x.Write([]byte("he"))
			if x.RetractHead() {
				_ = x.Stream().Close() // the client would see no 200
				return
			}
			_, _ = x.Write([]byte("llo"))
			_ = x.End()
			return
		}
		if !x.RetractHead() || x.RetractHead() {
			_ = x.Stream().Close()
			return
		}
		_ = x.Respond(502, []byte("bad gateway"))
	})})
	for path, want := range map[string]string{"/": "502 bad gateway", "/sent": "200 hello"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, want, fmt.Sprintf("%d %s", resp.StatusCode, b), path)
	}
}

// OnReject hears of each request the server answers itself, with its status.
func TestOnRejectSeesServerAnswers(t *testing.T) {
	type reject struct {
		remote net.Addr
		status int
		err    error
	}
	got := make(chan reject, 4)
	srv := &httpd.Server{Handler: hello, OnReject: func(remote net.Addr, status int, err error) {
		got <- reject{remote, status, err}
	}}
	addr := start(t, srv)
	for _, tc := range []struct {
		req    string
		status int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 64<<10) + "\r\n\r\n", 431},
	} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, _ = c.Write([]byte(tc.req))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode)
		c.Close()
		select {
		case r := <-got:
			require.Equal(t, tc.status, r.status)
			require.Error(t, r.err)
			require.Equal(t, c.LocalAddr().String(), r.remote.String())
		case <-time.After(5 * time.Second):
			t.Fatalf("OnReject did not run for a %d", tc.status)
		}
	}
	select {
	case r := <-got:
		t.Fatalf("unexpected OnReject: %+v", r)
	default:
	}
}

func TestCloneCopiesEverySetting(t *testing.T) {
	testutil.RequireCloned(t, (*httpd.Server).Clone, func(s *httpd.Server) { s.Handler = &cloneHandler{} })
}

// cloneHandler is a Handler that DeepEqual can compare.
type cloneHandler struct{ _ int }

func (*cloneHandler) ServeHTTP(*httpd.Exchange) {}

// A connection whose first request is still arriving when the server
// drains (a client that connected just before a config reload) gets it
// answered, with Connection: close, rather than a close without an
// answer; one that has said nothing is closed (after a short grace, not
// the header timeout).
func TestDrainSparesAConnectionBeforeItsFirstRequest(t *testing.T) {
	srv := &httpd.Server{Handler: hello}
	tr, loop, addr := startOne(t, srv)
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("GET /a HT"))
	settle(t, tr, loop, 2) // accepted, and the first bytes read
	srv.Drain()
	settle(t, tr, loop, 2) // the drain's task has run on the loop
	_, _ = c.Write([]byte("TP/1.1\r\nHost: x\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	require.True(t, resp.Close, "the response closes the connection")
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the silent connection is closed")
}
