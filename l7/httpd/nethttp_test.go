package httpd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/stretchr/testify/require"
)

// serveNet serves h through FromNetHTTP on a fresh server.
func serveNet(t *testing.T, h http.Handler, logger *slog.Logger) string {
	t.Helper()
	return start(t, &httpd.Server{Handler: httpd.FromNetHTTP(h), Logger: logger})
}

// logBuffer collects what a logger writes, safe from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func errorLogger(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelError}))
}

// pattern is a deterministic, non-repeating-looking byte stream of n bytes.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, &pattern{n: n})
	return [32]byte(h.Sum(nil))
}

// sendRaw dials addr and writes raw, request bytes as they go on the wire.
func sendRaw(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	return c
}

// readResponse reads one response and its whole body from c.
func readResponse(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// requirePattern reads r to its end and requires the pattern of size
// bytes.
func requirePattern(t *testing.T, r io.Reader, size int64) {
	t.Helper()
	sum := sha256.New()
	n, err := io.Copy(sum, r)
	require.NoError(t, err)
	require.Equal(t, size, n)
	require.Equal(t, patternSum(size), [32]byte(sum.Sum(nil)))
}

// readHead reads a response head from br without its body.
func readHead(t *testing.T, br *bufio.Reader) (status string, head textproto.MIMEHeader) {
	t.Helper()
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	require.NoError(t, err)
	head, err = tp.ReadMIMEHeader()
	require.NoError(t, err)
	return status, head
}

type seenRequest struct {
	Method, URL, Path, RawQuery, Proto, Host, RemoteAddr, RequestURI string
	URLHost                                                          string
	ProtoMinor                                                       int
	Header                                                           http.Header
	ContentLength                                                    int64
	Close                                                            bool
}

func reportRequest(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("X-Out", "1")
	w.Header().Add("X-Out", "2")
	_ = json.NewEncoder(w).Encode(seenRequest{
		Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Proto: r.Proto, Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI,
		URLHost: r.URL.Host, ProtoMinor: r.ProtoMinor, Header: r.Header,
		ContentLength: r.ContentLength, Close: r.Close,
	})
}

func TestNetHTTPRequestAndResponseHeads(t *testing.T) {
	addr := serveNet(t, http.HandlerFunc(reportRequest), nil)
	req, err := http.NewRequest("GET", "http://"+addr+"/a/b%20c?x=1&y=two", nil)
	require.NoError(t, err)
	req.Header.Add("X-Multi", "first")
	req.Header.Add("X-Multi", "second")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var seen seenRequest
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))

	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, []string{"1", "2"}, resp.Header["X-Out"])
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), "sniffed")
	require.NotEmpty(t, resp.Header.Get("Date"))
	require.Positive(t, resp.ContentLength, "a body finished within the buffer gets a Content-Length")

	require.Equal(t, "GET", seen.Method)
	require.Equal(t, "/a/b c", seen.Path)
	require.Equal(t, "x=1&y=two", seen.RawQuery)
	require.Equal(t, "/a/b%20c?x=1&y=two", seen.RequestURI)
	require.Equal(t, "HTTP/1.1", seen.Proto)
	require.Equal(t, 1, seen.ProtoMinor)
	require.Equal(t, addr, seen.Host)
	require.Empty(t, seen.Header["Host"], "Host moves to Request.Host")
	require.Equal(t, []string{"first", "second"}, seen.Header["X-Multi"])
	require.Equal(t, []string{"application/json"}, seen.Header["Accept"])
	host, _, err := net.SplitHostPort(seen.RemoteAddr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.Zero(t, seen.ContentLength)
	require.False(t, seen.Close)

	// An absolute-form target gives the URL and Host; lower-case names are
	// canonicalised; HTTP/1.0 without keep-alive closes.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET http://example.com:8080/abs?q=1 HTTP/1.0\r\nHost: ignored\r\nx-lower: v\r\n\r\n")
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	seen = seenRequest{}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
	require.Equal(t, "example.com:8080", seen.Host)
	require.Equal(t, "example.com:8080", seen.URLHost)
	require.Equal(t, "http://example.com:8080/abs?q=1", seen.URL)
	require.Equal(t, "/abs", seen.Path)
	require.Equal(t, "HTTP/1.0", seen.Proto)
	require.Equal(t, []string{"v"}, seen.Header["X-Lower"])
	require.True(t, seen.Close)
}

func TestNetHTTPUpload16MiB(t *testing.T) {
	const size = 16 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %d %q %x", r.ContentLength, n, r.TransferEncoding, sum.Sum(nil))
	})
	addr := serveNet(t, h, nil)
	want := patternSum(size)
	for _, chunked := range []bool{false, true} {
		req, err := http.NewRequest("POST", "http://"+addr+"/up", &pattern{n: size})
		require.NoError(t, err)
		wantCL, wantTE := int64(size), "[]"
		if chunked {
			req.ContentLength = -1
			wantCL, wantTE = -1, `["chunked"]`
		} else {
			req.ContentLength = size
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, string(b))
		require.Equal(t, fmt.Sprintf("%d %d %s %x", wantCL, size, wantTE, want), string(b), "chunked %v", chunked)
	}
}

// A handler that stops reading stops the client: the body is not read into
// memory ahead of it.
func TestNetHTTPUploadBackpressure(t *testing.T) {
	const size = 16 << 20
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		<-release
		sum := sha256.New()
		sum.Write(first)
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n+1, sum.Sum(nil))
	})
	addr := serveNet(t, h, nil)
	// A small send buffer keeps the client's kernel from taking much of
	// the body itself.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 64<<10)
		})
	}}
	tr := &http.Transport{DialContext: dialer.DialContext}
	defer tr.CloseIdleConnections()
	body := &countingReader{r: &pattern{n: size}}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/up", "application/octet-stream", body)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	require.Eventually(t, func() bool { return body.n.Load() > 0 }, 10*time.Second, time.Millisecond)
	// The kernels' buffers take a few MiB at most, the adapter's 64 KiB.
	require.Never(t, func() bool { return body.n.Load() == size }, 500*time.Millisecond, 10*time.Millisecond,
		"the client sent the whole body while the handler read one byte")
	close(release)
	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, fmt.Sprintf("%d %x", size, patternSum(size)), res.body)
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A large response written in small pieces with Flushes between arrives
// whole and chunked.
func TestNetHTTPLargeResponseSmallWrites(t *testing.T) {
	const size = 4 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		src := &pattern{n: size}
		piece := make([]byte, 100)
		for i := 0; ; i++ {
			n, err := src.Read(piece)
			if err == io.EOF {
				return
			}
			if _, err := w.Write(piece[:n]); err != nil {
				return
			}
			if i%1000 == 0 {
				w.(http.Flusher).Flush()
			}
		}
	})
	addr := serveNet(t, h, nil)
	resp, err := http.Get("http://" + addr + "/big")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, int64(-1), resp.ContentLength)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	requirePattern(t, resp.Body, size)
}

// A client that does not read stops the handler's writes: the response is
// not queued in memory ahead of it. Then it reads 16 MiB, whole.
func TestNetHTTPDownloadBackpressure(t *testing.T) {
	const size = 16 << 20
	var written atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := &pattern{n: size}
		piece := make([]byte, 1024)
		for i := 1; ; i++ {
			n, err := src.Read(piece)
			if err == io.EOF {
				return
			}
			if _, err := w.Write(piece[:n]); err != nil {
				return
			}
			written.Add(int64(n))
			if i%64 == 0 {
				w.(http.Flusher).Flush()
			}
		}
	})
	addr := serveNet(t, h, nil)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(16<<10))
	_, err = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return written.Load() > 0 }, 10*time.Second, time.Millisecond)
	require.Never(t, func() bool { return written.Load() == size }, 500*time.Millisecond, 10*time.Millisecond,
		"the handler wrote the whole response to a client that read nothing")

	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	requirePattern(t, resp.Body, size)
}

func TestNetHTTPContentLengthKept(t *testing.T) {
	const size = 100_000
	tooLong := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		piece := bytes.Repeat([]byte("x"), 1000)
		for range size / len(piece) {
			if _, err := w.Write(piece); err != nil {
				return
			}
		}
		_, err := w.Write([]byte("!"))
		tooLong <- err
	})
	addr := serveNet(t, h, nil)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	status, head := readHead(t, br)
	require.Equal(t, "HTTP/1.1 200 OK", status)
	require.Equal(t, fmt.Sprint(size), head.Get("Content-Length"))
	require.Empty(t, head.Get("Transfer-Encoding"))
	body := make([]byte, size)
	_, err = io.ReadFull(br, body)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte("x"), size), body)
	require.ErrorIs(t, <-tooLong, http.ErrContentLength)
}

func TestNetHTTPHandlerWritesNothing(t *testing.T) {
	addr := serveNet(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
	resp, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, int64(0), resp.ContentLength)
	require.Empty(t, b)

	// HEAD gets the length GET would have.
	addr = serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}), nil)
	resp, err = http.Head("http://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, int64(5), resp.ContentLength)
}

func TestNetHTTPPanicAnswers500(t *testing.T) {
	var logs logBuffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			w.Header().Set("X-Lost", "yes")
			_, _ = io.WriteString(w, "buffered, never sent")
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	})
	addr := serveNet(t, h, errorLogger(&logs))
	other, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer other.Close()

	resp, err := http.Get("http://" + addr + "/panic")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 500, resp.StatusCode)
	require.Equal(t, "Internal Server Error\n", string(b))
	require.Empty(t, resp.Header.Get("X-Lost"))
	require.True(t, resp.Close)
	require.Contains(t, logs.String(), "panic=boom")
	require.Contains(t, logs.String(), "nethttp_test.go", "the stack is logged")

	for _, c := range []net.Conn{other, nil} {
		if c == nil {
			c, err = net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
		}
		_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, "ok /next", string(b))
	}
}

// A panic after the head went out cannot change the status: the connection
// closes and the client sees a truncated body. http.ErrAbortHandler does
// that without a log.
func TestNetHTTPPanicAfterWriteClosesConnection(t *testing.T) {
	var logs logBuffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("late boom")
	})
	addr := serveNet(t, h, errorLogger(&logs))
	for _, path := range []string{"/abort", "/late"} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.Error(t, err, "the chunked body must not end cleanly")
		require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, "partial", string(b))
		_, err = br.ReadByte()
		require.Error(t, err, "the connection is closed")
		require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	require.Contains(t, logs.String(), "late boom")
	require.NotContains(t, logs.String(), "abort Handler", "ErrAbortHandler is not logged")
	require.Equal(t, 1, strings.Count(logs.String(), `msg="http handler panicked"`))

	// Before anything was written, ErrAbortHandler closes without an answer.
	addr = serveNet(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), nil)
	_, err := http.Get("http://" + addr + "/")
	require.Error(t, err)
}

// The request context ends when the client goes away mid-response.
func TestNetHTTPContextCancelledOnDisconnect(t *testing.T) {
	cause := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 4096))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			cause <- context.Cause(r.Context())
		case <-time.After(10 * time.Second):
			cause <- errors.New("context not cancelled")
		}
	})
	addr := serveNet(t, h, nil)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(c, make([]byte, 12))
	require.NoError(t, err)
	// Leaving bytes unread and lingering 0 make the close a reset.
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-cause, httpd.ErrClientClosed)
}

func TestNetHTTPKeepAlive(t *testing.T) {
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RemoteAddr)
	}), nil)
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, n, a)
	}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	var peers []string
	for range 2 {
		resp, err := cl.Get("http://" + addr + "/")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		peers = append(peers, string(b))
	}
	require.Equal(t, int32(1), dials.Load())
	require.Equal(t, peers[0], peers[1], "both requests came over one connection")
}

func TestNetHTTPTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		declared := fmt.Sprint(r.Trailer)
		_, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, declared+" "+r.Trailer.Get("X-Req"))
		w.Header().Set("X-Sum", "declared")
		w.Header().Set(http.TrailerPrefix+"X-Late", "prefixed")
	})
	addr := serveNet(t, h, nil)
	req, err := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(strings.NewReader("body")))
	require.NoError(t, err)
	req.Trailer = http.Header{"X-Req": {"from client"}}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "map[X-Req:[]] from client", string(b))
	require.Equal(t, "declared", resp.Trailer.Get("X-Sum"))
	require.Equal(t, "prefixed", resp.Trailer.Get("X-Late"))
}

func TestNetHTTPInterimAndFlush(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusAccepted)
		if err := http.NewResponseController(w).Flush(); err != nil {
			return
		}
		<-release
		_, _ = io.WriteString(w, "after")
	})
	addr := serveNet(t, h, nil)
	var early []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, hdr textproto.MIMEHeader) error {
		early = append(early, fmt.Sprint(code, " ", hdr.Get("Link")))
		return nil
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	require.NoError(t, err)
	// The head arrives while the handler still waits: Flush sent it.
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	close(release)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 202, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Link"))
	require.Equal(t, []string{"103 </style.css>; rel=preload"}, early)
	require.Equal(t, "after", string(b))
}

func TestNetHTTPResponseController(t *testing.T) {
	errs := make(chan []error, 2)
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- []error{
			rc.EnableFullDuplex(),
			rc.SetWriteDeadline(time.Now().Add(time.Second)),
			rc.SetReadDeadline(time.Now().Add(time.Second)),
		}
		_, _ = io.WriteString(w, "x")
		_ = rc.Flush()
		_, _, err := rc.Hijack() // too late: the response has started
		errs <- []error{err}
	}), nil)
	resp, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	got := <-errs
	require.NoError(t, got[0])
	require.NoError(t, got[1])
	require.NoError(t, got[2])
	require.Error(t, (<-errs)[0])
}

// As with net/http, a client that shuts down its side after the request
// cancels the request's context, and a response written after that still
// reaches it.
func TestNetHTTPClientEOFCancelsContext(t *testing.T) {
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			_, _ = io.WriteString(w, "cancelled: "+context.Cause(r.Context()).Error())
		case <-time.After(10 * time.Second):
			_, _ = io.WriteString(w, "not cancelled")
		}
	}), nil)
	c := sendRaw(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	_, body := readResponse(t, c)
	require.Equal(t, "cancelled: context canceled", body)
}

// http.ResponseController's write deadline cuts off a response the client
// does not take, and the connection closes.
func TestNetHTTPWriteDeadline(t *testing.T) {
	errc := make(chan error, 2)
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.URL.Path == "/past" {
			_ = rc.SetWriteDeadline(time.Now().Add(-time.Second))
			_, err := io.WriteString(w, strings.Repeat("x", 64<<10))
			errc <- err
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		chunk := make([]byte, 32<<10)
		for range 8 << 10 { // at most 256 MiB: the client reads nothing
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}), nil)
	for _, path := range []string{"/stalled", "/past"} {
		c := sendRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		err := <-errc
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, path)
		// The connection closes: whatever was sent ends in EOF or a reset.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.Copy(io.Discard, c)
		require.NotErrorIs(t, err, os.ErrDeadlineExceeded, path)
		c.Close()
	}
}

// http.ResponseController's read deadline fails a body read that waits
// too long; cleared, the next read gets the rest of the body.
func TestNetHTTPReadDeadline(t *testing.T) {
	timedOut := make(chan error, 1)
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 10)
		n, err := io.ReadFull(r.Body, buf)
		timedOut <- err
		if err == nil {
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		m, err := io.ReadFull(r.Body, buf[n:])
		if err != nil {
			w.WriteHeader(500)
			return
		}
		_, _ = w.Write(buf[:n+m])
	}), nil)
	c := sendRaw(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	require.ErrorIs(t, <-timedOut, os.ErrDeadlineExceeded)
	_, err := io.WriteString(c, "defghij")
	require.NoError(t, err)
	resp, body := readResponse(t, c)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "abcdefghij", body)
}

// A net/http WebSocket handler (gorilla/websocket's Upgrader, which
// hijacks the connection) runs unchanged under FromNetHTTP.
func TestNetHTTPHijackWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}), nil)
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	require.NoError(t, err)
	defer ws.Close()
	require.Equal(t, 101, resp.StatusCode)
	for i := range 50 {
		msg := fmt.Sprintf("m%d", i)
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(msg)))
		_, got, err := ws.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, "echo:"+msg, string(got))
	}
}

// With "Expect: 100-continue" the client sends its body only once the
// handler reads it; a handler that answers first spares the upload.
func TestNetHTTPExpectContinue(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			http.Error(w, "no", http.StatusRequestEntityTooLarge)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	addr := serveNet(t, h, nil)
	tr := &http.Transport{ExpectContinueTimeout: 20 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	for _, path := range []string{"/echo", "/reject"} {
		body := &countingReader{r: strings.NewReader("payload")}
		var got100 atomic.Bool
		ctx := httptrace.WithClientTrace(context.Background(),
			&httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }})
		req, err := http.NewRequestWithContext(ctx, "PUT", "http://"+addr+path, body)
		require.NoError(t, err)
		req.Header.Set("Expect", "100-continue")
		resp, err := cl.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if path == "/echo" {
			require.Equal(t, "payload", string(b))
			require.True(t, got100.Load(), "the 100 came when the handler read")
		} else {
			require.Equal(t, 413, resp.StatusCode)
			require.False(t, got100.Load())
			require.Zero(t, body.n.Load(), "the body was not sent")
		}
	}
}

// A body read still waiting for the client when the handler returns (from
// a goroutine the handler left behind) returns, as with net/http, instead
// of waiting forever.
func TestNetHTTPBodyReadAfterHandlerReturns(t *testing.T) {
	readErr := make(chan error, 1)
	addr := serveNet(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(r.Body, make([]byte, 3)) // what the client sent
			first <- err
			if err != nil {
				return
			}
			_, err = io.ReadAll(r.Body) // waits for the 7 bytes still owed
			readErr <- err
		}()
		if err := <-first; err != nil {
			t.Error("the first body read:", err)
			return
		}
		// Return once the goroutine is blocked in its next Read.
		deadline := time.Now().Add(10 * time.Second)
		for !goroutineWaitingIn("TestNetHTTPBodyReadAfterHandlerReturns.func", "(*netBody).Read") {
			if time.Now().After(deadline) {
				t.Error("the body read never waited for the client")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}), nil)
	sendRaw(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	select {
	case err := <-readErr:
		require.Error(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the body read never returned")
	}
}

// goroutineWaitingIn reports whether a goroutine whose stack holds a
// function named fn (a substring of the name) is blocked (neither running
// nor runnable) with a frame named in on its stack: a test's way to know
// that a goroutine it started waits where it should.
func goroutineWaitingIn(fn, in string) bool {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		if strings.Contains(head, "[running]") || strings.Contains(head, "[runnable]") {
			continue
		}
		if strings.Contains(g, fn) && strings.Contains(g, in) {
			return true
		}
	}
	return false
}
