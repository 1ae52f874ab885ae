package httpproxy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// logEntry is what Logging saw of one session.
type logEntry struct {
	status                                int
	retries, connectRetries, reuseRetries int
	err                                   error
}

// logTo makes p's Logging send what it sees to the returned channel.
func logTo(p *httpproxy.Proxy) <-chan logEntry {
	ch := make(chan logEntry, 64)
	p.Logging = func(s *httpproxy.Session, err error) {
		ch <- logEntry{s.Status, s.Retries, s.ConnectRetries, s.ReuseRetries, err}
	}
	return ch
}

func nextLog(t *testing.T, ch <-chan logEntry) logEntry {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("Logging did not run")
	}
	return logEntry{}
}

// requireError checks that err is an *httpproxy.Error of src and kind
// that still matches sentinel.
func requireError(t *testing.T, err error, src httpproxy.Source, kind httpproxy.Kind, sentinel error) *httpproxy.Error {
	t.Helper()
	var e *httpproxy.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, src, e.Source, "source of %v", err)
	require.Equal(t, kind, e.Kind, "kind of %v", err)
	if sentinel != nil {
		require.ErrorIs(t, err, sentinel)
	}
	return e
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := l.Addr().String()
	l.Close()
	return a
}

// closingUpstream reads each request whole (body included) and closes the
// connection without answering; it counts its connections.
func closingUpstream(t *testing.T) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
				}
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// Each row of the package doc's policy table, through a proxy on
// loopback: the status the client gets, and the *Error Logging gets, with
// its source and kind, still matching the sentinel errors.
func TestPolicyTable(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

	t.Run("no route is 404 downstream", func(t *testing.T) {
		p := &httpproxy.Proxy{Routes: []httpproxy.Route{{PathPrefix: "/only/", Upstreams: group(t, deadAddr(t))}}}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 404, resp.StatusCode)
		l := nextLog(t, logs)
		require.Equal(t, 404, l.status)
		requireError(t, l.err, httpproxy.Downstream, httpproxy.KindNoRoute, httpproxy.ErrNoRoute)
	})

	t.Run("CONNECT is 501 downstream", func(t *testing.T) {
		p := &httpproxy.Proxy{Upstreams: group(t, deadAddr(t))}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n")
		require.Equal(t, 501, resp.StatusCode)
		requireError(t, nextLog(t, logs).err, httpproxy.Downstream, httpproxy.KindNotProxied, httpproxy.ErrConnect)
	})

	t.Run("UpstreamPeer's error is 502 internal", func(t *testing.T) {
		mine := errors.New("no peer for you")
		p := &httpproxy.Proxy{Upstreams: group(t, deadAddr(t)),
			UpstreamPeer: func(*httpproxy.Session) (*l4.Endpoint, error) { return nil, mine }}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 502, resp.StatusCode)
		requireError(t, nextLog(t, logs).err, httpproxy.Internal, httpproxy.KindInternal, mine)
	})

	t.Run("no endpoint is 502 upstream", func(t *testing.T) {
		p := &httpproxy.Proxy{Upstreams: group(t, deadAddr(t)),
			UpstreamPeer: func(*httpproxy.Session) (*l4.Endpoint, error) { return nil, nil }}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 502, resp.StatusCode)
		requireError(t, nextLog(t, logs).err, httpproxy.Upstream, httpproxy.KindNoUpstream, l4.ErrNoUpstream)
	})

	t.Run("refused connects fail over, then 502 upstream", func(t *testing.T) {
		p := &httpproxy.Proxy{Upstreams: group(t, deadAddr(t), deadAddr(t), deadAddr(t))}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 502, resp.StatusCode)
		l := nextLog(t, logs)
		require.Equal(t, 2, l.connectRetries, "each endpoint was tried once")
		require.Equal(t, 2, l.retries)
		e := requireError(t, l.err, httpproxy.Upstream, httpproxy.KindConnect, l4.ErrNoUpstream)
		require.Equal(t, httpproxy.RetrySafe, e.Retry, "nothing was sent")
	})

	t.Run("closed on a fresh connection is 502 upstream, not retried", func(t *testing.T) {
		up, conns := closingUpstream(t)
		p := &httpproxy.Proxy{Upstreams: group(t, up)}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 502, resp.StatusCode)
		l := nextLog(t, logs)
		require.Zero(t, l.retries)
		require.EqualValues(t, 1, conns.Load())
		requireError(t, l.err, httpproxy.Upstream, httpproxy.KindClosed, httpproxy.ErrUpstreamClosed)
	})

	t.Run("no response head in time is 504 upstream", func(t *testing.T) {
		up := testutil.StallingHTTPServer(t, "HTTP/1.1 200 OK\r\nContent-")
		p := &httpproxy.Proxy{Upstreams: group(t, up), ReadTimeout: 200 * time.Millisecond}
		logs := logTo(p)
		resp, _ := rawRoundTripWithin(t, startOneLoopProxy(t, p), get, 20*time.Second)
		require.Equal(t, 504, resp.StatusCode)
		requireError(t, nextLog(t, logs).err, httpproxy.Upstream, httpproxy.KindTimeout, httpproxy.ErrUpstreamTimeout)
	})

	t.Run("malformed response is 502 upstream", func(t *testing.T) {
		up := testutil.StallingHTTPServer(t, "NOT HTTP AT ALL\r\n\r\n")
		p := &httpproxy.Proxy{Upstreams: group(t, up)}
		logs := logTo(p)
		resp, _ := rawRoundTrip(t, startOneLoopProxy(t, p), get)
		require.Equal(t, 502, resp.StatusCode)
		requireError(t, nextLog(t, logs).err, httpproxy.Upstream, httpproxy.KindBadResponse, httpproxy.ErrBadResponse)
	})

	t.Run("failure after the head closes the client, upstream", func(t *testing.T) {
		up := testutil.StallingHTTPServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
		p := &httpproxy.Proxy{Upstreams: group(t, up), ReadTimeout: 200 * time.Millisecond}
		logs := logTo(p)
		c, err := net.Dial("tcp", startOneLoopProxy(t, p))
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = io.WriteString(c, get)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		l := nextLog(t, logs)
		require.Equal(t, 200, l.status)
		e := requireError(t, l.err, httpproxy.Upstream, httpproxy.KindTimeout, httpproxy.ErrUpstreamTimeout)
		require.Equal(t, httpproxy.RetryUnsafe, e.Retry, "the response had started")
	})

	t.Run("client body timeout is 408 downstream", func(t *testing.T) {
		up := newRecordingUpstream(t)
		p := &httpproxy.Proxy{Upstreams: group(t, up.ln.Addr().String()), Logger: quiet()}
		logs := logTo(p)
		srv := &httpd.Server{Handler: p, Logger: quiet(), BodyTimeout: 200 * time.Millisecond}
		tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
			transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
		require.NoError(t, err)
		t.Cleanup(tr.Stop)
		resp, _ := rawRoundTripWithin(t, tr.Addrs()[0].String(),
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", 20*time.Second)
		require.Equal(t, 408, resp.StatusCode)
		l := nextLog(t, logs)
		require.Equal(t, 408, l.status)
		e := requireError(t, l.err, httpproxy.Downstream, httpproxy.KindClientBody, httpd.ErrBodyTimeout)
		require.Equal(t, 408, e.Status())
	})

	t.Run("client closed is downstream, with its phase", func(t *testing.T) {
		up := testutil.StallingHTTPServer(t, "")
		p := &httpproxy.Proxy{Upstreams: group(t, up)}
		logs := logTo(p)
		c, err := net.Dial("tcp", startOneLoopProxy(t, p))
		require.NoError(t, err)
		_, err = io.WriteString(c, get)
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond) // the request reaches the upstream
		// A reset, not a half close: HTTP/1.1 lets a client that shut its
		// side down wait for the response.
		require.NoError(t, c.(*net.TCPConn).SetLinger(0))
		c.Close()
		l := nextLog(t, logs)
		requireError(t, l.err, httpproxy.Downstream, httpproxy.KindClientClosed, httpd.ErrClientClosed)
		var cc *httpproxy.ClientClosedError
		require.ErrorAs(t, l.err, &cc)
		require.Equal(t, "waiting for the response head", cc.Phase)
	})
}

// A FailToConnect that always asks for a retry is refused past
// MaxConnectRetries: the request ends in 502 after exactly that many
// retries, where the hook alone would retry forever.
func TestFailToConnectBoundedByMaxConnectRetries(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{{3, 3}, {0, httpproxy.DefaultMaxConnectRetries}, {-1, 0}} {
		g := group(t, deadAddr(t))
		var calls atomic.Int64
		p := &httpproxy.Proxy{Upstreams: g, MaxConnectRetries: tc.limit,
			UpstreamPeer: func(*httpproxy.Session) (*l4.Endpoint, error) { return g.Endpoints[0], nil },
			FailToConnect: func(s *httpproxy.Session, err error) bool {
				calls.Add(1)
				var e *httpproxy.Error
				if !errors.As(err, &e) || e.Kind != httpproxy.KindConnect {
					panic("FailToConnect got " + err.Error())
				}
				return true
			},
		}
		logs := logTo(p)
		resp, _ := rawRoundTripWithin(t, startOneLoopProxy(t, p), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 20*time.Second)
		require.Equal(t, 502, resp.StatusCode, "limit %d", tc.limit)
		l := nextLog(t, logs)
		require.Equal(t, tc.want, l.connectRetries, "limit %d", tc.limit)
		require.EqualValues(t, tc.want+1, calls.Load(), "the hook is asked at every failure, limit %d", tc.limit)
		requireError(t, l.err, httpproxy.Upstream, httpproxy.KindConnect, l4.ErrNoUpstream)
	}
}

// An ErrorWhileProxy that always asks for a retry is refused past
// MaxReuseRetries, and for a request whose body went upstream (not safe to
// send again).
func TestErrorWhileProxyBoundedByMaxReuseRetries(t *testing.T) {
	always := func(s *httpproxy.Session, err error) bool { return true }
	for _, tc := range []struct{ limit, want int }{{2, 2}, {0, httpproxy.DefaultMaxReuseRetries}, {-1, 0}} {
		up, conns := closingUpstream(t)
		p := &httpproxy.Proxy{Upstreams: group(t, up), MaxReuseRetries: tc.limit, ErrorWhileProxy: always}
		logs := logTo(p)
		resp, _ := rawRoundTripWithin(t, startOneLoopProxy(t, p), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 20*time.Second)
		require.Equal(t, 502, resp.StatusCode)
		l := nextLog(t, logs)
		require.Equal(t, tc.want, l.reuseRetries, "limit %d", tc.limit)
		require.EqualValues(t, tc.want+1, conns.Load(), "limit %d", tc.limit)
		requireError(t, l.err, httpproxy.Upstream, httpproxy.KindClosed, httpproxy.ErrUpstreamClosed)
	}

	t.Run("unsafe", func(t *testing.T) {
		up, conns := closingUpstream(t)
		p := &httpproxy.Proxy{Upstreams: group(t, up), MaxReuseRetries: 5, ErrorWhileProxy: always}
		logs := logTo(p)
		resp, _ := rawRoundTripWithin(t, startOneLoopProxy(t, p),
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 20*time.Second)
		require.Equal(t, 502, resp.StatusCode)
		l := nextLog(t, logs)
		require.Zero(t, l.retries, "a POST whose body went upstream is not sent again")
		require.EqualValues(t, 1, conns.Load())
		e := requireError(t, l.err, httpproxy.Upstream, httpproxy.KindClosed, httpproxy.ErrUpstreamClosed)
		require.Equal(t, httpproxy.RetryUnsafe, e.Retry)
	})
}

// Decide is the whole policy: an unsafe, downstream or internal failure is
// never retried, and a safe upstream one only when wanted and within the
// limit.
func TestDecide(t *testing.T) {
	up := &httpproxy.Error{Source: httpproxy.Upstream, Kind: httpproxy.KindClosed, Retry: httpproxy.RetrySafe, Err: httpproxy.ErrUpstreamClosed}
	for _, tc := range []struct {
		e              *httpproxy.Error
		want           bool
		retries, limit int
		status         int
		retry          bool
	}{
		{up, true, 0, 1, 502, true},
		{up, true, 1, 1, 502, false},
		{up, false, 0, 1, 502, false},
		{&httpproxy.Error{Source: httpproxy.Upstream, Kind: httpproxy.KindClosed, Retry: httpproxy.RetryUnsafe, Err: io.EOF}, true, 0, 9, 502, false},
		{&httpproxy.Error{Source: httpproxy.Upstream, Kind: httpproxy.KindTimeout, Retry: httpproxy.RetrySafe, Err: httpproxy.ErrUpstreamTimeout}, true, 0, 1, 504, true},
		{&httpproxy.Error{Source: httpproxy.Downstream, Kind: httpproxy.KindNoRoute, Retry: httpproxy.RetrySafe, Err: httpproxy.ErrNoRoute}, true, 0, 9, 404, false},
		{&httpproxy.Error{Source: httpproxy.Internal, Kind: httpproxy.KindInternal, Retry: httpproxy.RetrySafe, Err: io.EOF}, true, 0, 9, 502, false},
	} {
		status, retry := httpproxy.Decide(tc.e, tc.want, tc.retries, tc.limit)
		require.Equal(t, tc.status, tc.e.Status(), "Decide's status is the error's")
		require.Equal(t, tc.status, status, "%+v", tc)
		require.Equal(t, tc.retry, retry, "%+v", tc)
	}
	require.Equal(t, "upstream closed, retry safe", fmt.Sprintf("%s %s, retry %s", up.Source, up.Kind, up.Retry))
	require.Equal(t, up.Err.Error(), up.Error(), "an Error reads as its Err, so access logs keep their text")
}
