package httpproxy_test

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
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
	"github.com/stretchr/testify/require"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backend is a net/http upstream that counts its connections.
type backend struct {
	*httptest.Server
	conns atomic.Int32
}

func newBackend(t *testing.T, h http.HandlerFunc, cfg ...func(*http.Server)) *backend {
	b := &backend{}
	b.Server = httptest.NewUnstartedServer(h)
	for _, f := range cfg {
		f(b.Config)
	}
	b.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.Config.ErrorLog = nil
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

func startProxy(t testing.TB, p *httpproxy.Proxy) string {
	t.Helper()
	if p.Logger == nil {
		p.Logger = quiet()
	}
	srv := &httpd.Server{Handler: p, Logger: quiet()}
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr.Addrs()[0].String()
}

func group(t testing.TB, addrs ...string) *l4.Group {
	g, err := l4.NewGroup("up", addrs...)
	require.NoError(t, err)
	return g
}

func get(t *testing.T, cl *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := cl.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

func TestForwardedHeadersAndHopByHop(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		seen.Set("X-Host", r.Host)
		seen.Set("X-URI", r.RequestURI)
		mu.Unlock()
		w.Header().Set("Connection", "X-Up-Secret")
		w.Header().Set("X-Up-Secret", "1")
		w.Header().Set("X-Up", "ok")
		fmt.Fprint(w, "hello")
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	resp, body := get(t, http.DefaultClient, "http://"+addr+"/a/b?c=d",
		"X-Forwarded-For", "10.0.0.1", "Connection", "X-Secret", "X-Secret", "1", "Via", "1.0 edge")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "hello", body)
	require.Equal(t, "ok", resp.Header.Get("X-Up"))
	require.Empty(t, resp.Header.Get("X-Up-Secret"), "hop-by-hop fields of the response are dropped")
	require.Equal(t, "1.1 penstock", resp.Header.Get("Via"))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "10.0.0.1, 127.0.0.1", seen.Get("X-Forwarded-For"))
	require.Equal(t, "http", seen.Get("X-Forwarded-Proto"))
	require.Equal(t, addr, seen.Get("X-Forwarded-Host"))
	require.Equal(t, addr, seen.Get("X-Host"), "Host is passed on")
	require.Equal(t, "/a/b?c=d", seen.Get("X-URI"))
	require.Equal(t, "1.0 edge, 1.1 penstock", seen.Get("Via"))
	require.Empty(t, seen.Get("X-Secret"), "fields named by Connection are dropped")
}

func TestUpstreamKeepAlivePool(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 50 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, fmt.Sprint("/", i), string(b))
	}
	require.Equal(t, int32(1), be.conns.Load(), "one client connection on one loop reuses one upstream connection")
}

func TestLargeBodiesBothWays(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// net/http stops reading a request body once the response has
		// started unless the handler asks for full duplex.
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, r.Body)
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	for _, size := range []int{0, 10, 1 << 20, 16 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, chunked := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = io.MultiReader(r)
			}
			resp, err := http.Post("http://"+addr+"/echo", "application/octet-stream", r)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, sha256.Sum256(body), sha256.Sum256(got), "size %d chunked %v", size, chunked)
		}
	}
}

func TestFailoverAnd502(t *testing.T) {
	dead := func() string { return testutil.DeadPort(t) }
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "alive") })
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, dead(), be.addr())})
	for range 4 {
		resp, body := get(t, http.DefaultClient, "http://"+addr+"/")
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "alive", body)
	}
	addr = startProxy(t, &httpproxy.Proxy{Upstreams: group(t, dead())})
	resp, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	require.Equal(t, 502, resp.StatusCode)
}

func TestUpstreamTimeoutIs504AndResetIs502(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		case "/reset":
			c, _, _ := w.(http.Hijacker).Hijack()
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nCont"))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		case "/garbage":
			c, _, _ := w.(http.Hijacker).Hijack()
			_, _ = c.Write([]byte("NOT HTTP AT ALL\r\n\r\n"))
			c.Close()
		}
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr()), ResponseTimeout: 300 * time.Millisecond})
	resp, _ := get(t, http.DefaultClient, "http://"+addr+"/slow")
	require.Equal(t, 504, resp.StatusCode)
	resp, _ = get(t, http.DefaultClient, "http://"+addr+"/reset")
	require.Equal(t, 502, resp.StatusCode)
	resp, _ = get(t, http.DefaultClient, "http://"+addr+"/garbage")
	require.Equal(t, 502, resp.StatusCode)
}

// An upstream that closes idle keep-alive connections: the next request
// finds its pooled connection dead and is sent again on a new one.
// A pooled connection that the upstream closes as the next request
// reaches it (its idle timeout racing the request) fails that request
// before any response byte: an idempotent request is sent again on a new
// connection, once, and the client never sees the failure. The upstream
// here answers one request per connection and closes the connection on
// the second without answering, so the second request is always sent on
// a reused connection that then fails.
func TestStalePooledConnectionIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				_, _ = http.ReadRequest(br) // the next one: closed unanswered
			}()
		}
	}()
	type seen struct {
		reused  bool
		retries int
		err     error
	}
	logged := make(chan seen, 16)
	p := &httpproxy.Proxy{Upstreams: group(t, ln.Addr().String())}
	p.Logging = func(s *httpproxy.Session, err error) { logged <- seen{s.Reused, s.Retries, err} }
	addr := startOneLoopProxy(t, p)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, "request %d", i)
		require.Equal(t, "ok", string(b))
		got := <-logged
		require.NoError(t, got.err)
		if i == 0 {
			require.Zero(t, got.retries, "the first request has a fresh connection")
			continue
		}
		require.Equal(t, 1, got.retries, "request %d was sent again after its pooled connection failed", i)
		require.False(t, got.reused, "and was answered on a new connection")
	}
	require.EqualValues(t, 3, conns.Load(), "one connection per request reached the upstream")
}

func TestPhases(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Added", r.Header.Get("X-Added"))
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "path=%s body=%s", r.URL.Path, b)
	})
	var logged []string
	var mu sync.Mutex
	p := &httpproxy.Proxy{
		Upstreams: group(t, be.addr()),
		RequestFilter: func(s *httpproxy.Session) bool {
			if string(s.X.Req.Path) == "/forbidden" {
				_ = s.X.Respond(403, []byte("no\n"))
				return true
			}
			return false
		},
		UpstreamRequestFilter: func(s *httpproxy.Session) {
			s.UpstreamHeader.Set("X-Added", "yes")
			s.UpstreamPath = []byte("/rewritten")
		},
		RequestBodyFilter: func(s *httpproxy.Session, p []byte, end bool) []byte {
			return bytes.ToUpper(p)
		},
		ResponseFilter: func(s *httpproxy.Session) {
			s.Status = 201
			s.ResponseHeader.Set("X-Filtered", "1")
		},
		ResponseBodyFilter: func(s *httpproxy.Session, p []byte, end bool) []byte {
			if end {
				return append(append([]byte(nil), p...), "!"...)
			}
			return p
		},
		Logging: func(s *httpproxy.Session, err error) {
			mu.Lock()
			logged = append(logged, fmt.Sprintf("%s %d %v", s.X.Req.Path, s.Status, err))
			mu.Unlock()
		},
	}
	addr := startProxy(t, p)
	resp, body := get(t, http.DefaultClient, "http://"+addr+"/forbidden")
	require.Equal(t, 403, resp.StatusCode)
	require.Equal(t, "no\n", body)

	resp, err := http.Post("http://"+addr+"/x", "text/plain", strings.NewReader("quiet"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("X-Filtered"))
	require.Equal(t, "yes", resp.Header.Get("X-Added"))
	require.Equal(t, "path=/rewritten body=QUIET!", string(b))
	// Logging runs once the response is handed to the connection, which
	// may be a moment after the client has read it. A response that
	// RequestFilter sent is logged with its status.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logged) == 2
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"/forbidden 403 <nil>", "/x 201 <nil>"}, logged)
}

func TestRoutesByHostAndPath(t *testing.T) {
	mk := func(name string) *l4.Group {
		be := newBackend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) })
		return group(t, be.addr())
	}
	p := &httpproxy.Proxy{
		Upstreams: mk("default"),
		Routes: []httpproxy.Route{
			{Host: "api.example", PathPrefix: "/v2/", Upstreams: mk("api-v2")},
			{Host: "api.example", Upstreams: mk("api")},
			{PathPrefix: "/static/", Upstreams: mk("static")},
		},
	}
	addr := startProxy(t, p)
	for _, tc := range []struct{ host, path, want string }{
		{"api.example", "/v2/x", "api-v2"},
		{"API.example:8080", "/v1/x", "api"},
		{"www.example", "/static/a.css", "static"},
		{"www.example", "/", "default"},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.want, string(b), "%s%s", tc.host, tc.path)
	}
}

func TestWebSocketThroughProxy(t *testing.T) {
	up := websocket.Upgrader{}
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, 101, resp.StatusCode)
	for i := range 100 {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*700)
		require.NoError(t, c.WriteMessage(websocket.BinaryMessage, msg))
		_, got, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, append([]byte("echo:"), msg...), got)
	}
}

func TestCurlThroughProxy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Forwarded-For"))
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "http://"+addr+"/one", "http://"+addr+"/two").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "GET /one 127.0.0.1GET /two 127.0.0.1", string(out))
}

// wrk drives keep-alive load through the proxy: every response must be a
// 200 and no socket error may occur. Its rate is not asserted.
func TestWrkThroughProxy(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed: apt-get install -y wrk")
	}
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello world\n") })
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	out, err := exec.Command("wrk", "-t1", "-c16", "-d2s", "--timeout", "5s", "http://"+addr+"/").CombinedOutput()
	require.NoError(t, err, string(out))
	s := string(out)
	require.Contains(t, s, "requests in")
	require.NotContains(t, s, "Non-2xx", s)
	require.NotContains(t, s, "Socket errors", s)
	require.Regexp(t, `[1-9][0-9]* requests in`, s)
}

// heapPeak samples the heap in use until stop is closed and returns the
// highest reading above the one at the start.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- peak - base
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	return out
}

// A body far larger than any buffer crosses the proxy between a fast sender
// and a reader that stops for a while, both ways: backpressure reaches the
// sender, so the proxy's memory stays bounded (the heap of this whole
// process, backend and clients included, grows by a few MiB, not by the
// 96 MiB the body would take if the proxy kept reading it).
func TestSlowReaderBoundsMemory(t *testing.T) {
	const size = 96 << 20
	const bound = 24 << 20
	chunk := make([]byte, 64<<10)
	var uploaded atomic.Int64
	readerPaused := make(chan struct{})
	resumeReader := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			// Upload: read 1 MiB, stop until told, then read the rest.
			buf := make([]byte, 64<<10)
			n, _ := io.ReadFull(r.Body, make([]byte, 1<<20))
			close(readerPaused)
			<-resumeReader
			total := int64(n)
			for {
				k, err := r.Body.Read(buf)
				total += int64(k)
				if err != nil {
					break
				}
			}
			uploaded.Store(total)
			w.WriteHeader(204)
			return
		}
		// Download: write as fast as the connection takes it.
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})

	t.Run("download", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
		require.NoError(t, err)
		br := bufio.NewReaderSize(c, 64<<10)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, int64(size), resp.ContentLength)
		_, err = io.ReadFull(resp.Body, make([]byte, 1<<20))
		require.NoError(t, err)
		stop := make(chan struct{})
		peak := heapPeak(stop)
		time.Sleep(500 * time.Millisecond) // the reader stops; the backend does not
		got, err := io.Copy(io.Discard, resp.Body)
		close(stop)
		require.NoError(t, err)
		require.Equal(t, int64(size-(1<<20)), got)
		p := <-peak
		t.Logf("download: heap peak +%.1f MiB", float64(p)/(1<<20))
		require.Less(t, p, uint64(bound), "the proxy kept reading from the upstream")
	})

	t.Run("upload", func(t *testing.T) {
		stop := make(chan struct{})
		var peak <-chan uint64
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-readerPaused
			peak = heapPeak(stop)
			time.Sleep(500 * time.Millisecond) // the backend stops reading; the client does not
			close(resumeReader)
		}()
		body := io.LimitReader(zeros{}, size)
		resp, err := http.Post("http://"+addr+"/up", "application/octet-stream", body)
		require.NoError(t, err)
		resp.Body.Close()
		<-done
		close(stop)
		require.Equal(t, 204, resp.StatusCode)
		require.Equal(t, int64(size), uploaded.Load())
		p := <-peak
		t.Logf("upload: heap peak +%.1f MiB", float64(p)/(1<<20))
		require.Less(t, p, uint64(bound), "the proxy kept reading from the client")
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// An upstream's 103 Early Hints reaches the client before the final
// response, without hop-by-hop fields; an HTTP/1.0 client gets no 1xx.
func TestInterimResponsesForwarded(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(103)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "final")
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})

	var interim []int
	var link string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		interim = append(interim, code)
		link = h.Get("Link")
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+"/", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "final", string(body))
	require.Equal(t, []int{103}, interim)
	require.Equal(t, "</style.css>; rel=preload; as=style", link)

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := io.ReadAll(c)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), "HTTP/1.1 200 "), "%q", raw)
	require.NotContains(t, string(raw), "103")
}

func TestCloneCopiesEverySetting(t *testing.T) {
	testutil.RequireCloned(t, (*httpproxy.Proxy).Clone, nil)
}
