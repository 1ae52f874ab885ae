package webproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// backend is a net/http upstream that names itself in X-Backend, reports
// the path, Host and X-Pipeline it saw, and answers a body's length and
// SHA-256.
func backend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Seen-Path", r.URL.Path)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Pipeline", r.Header.Get("X-Pipeline"))
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Body-Length", strconv.FormatInt(n, 10))
		w.Header().Set("X-Body-Sha256", hex.EncodeToString(h.Sum(nil)))
		_, _ = io.WriteString(w, "hello from "+name)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestDefaultConfigIsTheSpec(t *testing.T) {
	cfg := DefaultConfig()
	require.Equal(t, []string{"tcp://127.0.0.1:8080"}, cfg.Listen)
	require.Equal(t, http1.Limits{MaxHeaderBytes: 65536, MaxHeaders: 100, MaxLineBytes: 8192}, cfg.Limits)
	require.Len(t, cfg.Upstreams["api"], 2)
	p, err := New(cfg)
	require.NoError(t, err)
	require.Len(t, p.Proxy.Routes, 2)
	require.Equal(t, "api.example.org", p.Proxy.Routes[0].Host)
	require.Equal(t, "/v1/", p.Proxy.Routes[0].PathPrefix)
	require.Same(t, p.Proxy, p.Server.Handler)

	delete(cfg.Upstreams, "static")
	_, err = New(cfg)
	require.ErrorContains(t, err, `no endpoints for upstream group "static"`)
}

func TestGeneratedHTTPProxy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = quiet()
	cfg.Upstreams = map[string][]string{
		"web":    {backend(t, "web")},
		"api":    {backend(t, "api1"), backend(t, "api2")},
		"static": {backend(t, "static")},
	}
	p, err := New(cfg)
	require.NoError(t, err)
	// A hook set through the exposed Proxy before the listeners start.
	p.Proxy.UpstreamRequestFilter = func(s *httpproxy.Session) {
		s.UpstreamHeader.Set("X-Pipeline", Name)
	}
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quiet()}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	base := "http://" + tr.Addrs()[0].String()
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()

	do := func(method, host, path string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := cl.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp, string(b)
	}

	t.Run("default route", func(t *testing.T) {
		resp, body := do("GET", "", "/index.html", nil)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "hello from web", body)
		require.Equal(t, "/index.html", resp.Header.Get("X-Seen-Path"))
		require.Equal(t, "127.0.0.1", resp.Header.Get("X-Seen-Forwarded-For"))
		require.Equal(t, "1.1 penstock", resp.Header.Get("Via"))
		// The host matches the api route but the path does not.
		resp, _ = do("GET", "api.example.org", "/v2/users", nil)
		require.Equal(t, "web", resp.Header.Get("X-Backend"))
	})

	t.Run("host and path route", func(t *testing.T) {
		seen := map[string]bool{}
		for range 4 {
			resp, body := do("GET", "API.example.org:8080", "/v1/users", nil)
			require.Equal(t, 200, resp.StatusCode)
			b := resp.Header.Get("X-Backend")
			require.Contains(t, []string{"api1", "api2"}, b)
			require.Equal(t, "hello from "+b, body)
			require.Equal(t, "API.example.org:8080", resp.Header.Get("X-Seen-Host"), "Host is passed on")
			seen[b] = true
		}
		require.Len(t, seen, 2, "the api group's endpoints take turns")
		resp, _ := do("GET", "www.example.org", "/static/app.js", nil)
		require.Equal(t, "static", resp.Header.Get("X-Backend"))
		resp, _ = do("GET", "www.example.org", "/v1/users", nil)
		require.Equal(t, "web", resp.Header.Get("X-Backend"), "the /v1/ route is api.example.org's only")
	})

	t.Run("hook", func(t *testing.T) {
		resp, _ := do("GET", "", "/", nil)
		require.Equal(t, Name, resp.Header.Get("X-Seen-Pipeline"), "the backend sees the header UpstreamRequestFilter added")
		resp, _ = do("GET", "api.example.org", "/v1/x", nil)
		require.Equal(t, Name, resp.Header.Get("X-Seen-Pipeline"))
	})

	t.Run("request body", func(t *testing.T) {
		body := bytes.Repeat([]byte("penstock-http-proxy "), 50_000) // 1 MB
		sum := sha256.Sum256(body)
		// With a Content-Length, and chunked (a reader of unknown length).
		for _, rd := range []io.Reader{bytes.NewReader(body), io.MultiReader(bytes.NewReader(body))} {
			resp, text := do("POST", "api.example.org", "/v1/upload", rd)
			require.Equal(t, 200, resp.StatusCode)
			require.Contains(t, text, "hello from api")
			require.Equal(t, strconv.Itoa(len(body)), resp.Header.Get("X-Body-Length"))
			require.Equal(t, hex.EncodeToString(sum[:]), resp.Header.Get("X-Body-Sha256"))
		}
	})
}

// A graceful Shutdown drains the HTTP server through the listeners' Drain:
// an idle keep-alive client connection is closed at once instead of being
// waited out.
func TestGracefulShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = quiet()
	cfg.Upstreams = map[string][]string{"web": {backend(t, "web")}, "api": {backend(t, "api")}, "static": {backend(t, "static")}}
	p, err := New(cfg)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("http://" + tr.Addrs()[0].String() + "/")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(ctx), "the idle keep-alive connection must not hold the shutdown")
}

// Swap serves new connections with the new values and the hooks set on
// Proxy; a connection open before it stays with the values that accepted
// it, a bad Config is refused with the old values kept, and a graceful
// Shutdown drains the servers of old values too.
func TestSwap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp://127.0.0.1:0"}
	cfg.Logger = quiet()
	cfg.Upstreams = map[string][]string{"web": {backend(t, "old")}, "api": {backend(t, "api")}, "static": {backend(t, "static")}}
	p, err := New(cfg)
	require.NoError(t, err)
	p.Proxy.UpstreamRequestFilter = func(s *httpproxy.Session) { s.UpstreamHeader.Set("X-Pipeline", Name) }
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()}, p.Listeners()...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()

	// get sends one request on c and returns the backend that answered and
	// the X-Pipeline it saw.
	get := func(c net.Conn, rd *bufio.Reader) (backend, pipeline string) {
		t.Helper()
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(rd, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		return resp.Header.Get("X-Backend"), resp.Header.Get("X-Seen-Pipeline")
	}
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}

	before, beforeRd := dial()
	b, hook := get(before, beforeRd)
	require.Equal(t, "old", b)
	require.Equal(t, Name, hook)

	next := p.Config()
	next.Upstreams = map[string][]string{"web": {backend(t, "new")}, "api": next.Upstreams["api"], "static": next.Upstreams["static"]}
	next.Deny = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	require.NoError(t, p.Swap(next))
	require.Equal(t, next.Upstreams, p.Config().Upstreams)

	after, afterRd := dial()
	b, hook = get(after, afterRd)
	require.Equal(t, "new", b, "a connection accepted after Swap gets the new values")
	require.Equal(t, Name, hook, "and the hooks set on Proxy")
	b, _ = get(before, beforeRd)
	require.Equal(t, "old", b, "a connection open before Swap keeps the values that accepted it")

	broken := p.Config()
	broken.Upstreams = map[string][]string{"web": {"127.0.0.1:1"}}
	require.ErrorContains(t, p.Swap(broken), `no endpoints for upstream group`)
	require.Equal(t, next.Upstreams, p.Config().Upstreams, "a refused Config leaves the current one")
	b, _ = get(after, afterRd)
	require.Equal(t, "new", b)

	// The old values' server is drained with the new one's: both idle
	// keep-alive connections are closed (each client then closes its end,
	// which the server's lingering close waits for) and the shutdown ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tr.Shutdown(ctx) }()
	for i, c := range []net.Conn{before, after} {
		_, err := []*bufio.Reader{beforeRd, afterRd}[i].ReadByte()
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, c.Close())
	}
	require.NoError(t, <-done)
}
