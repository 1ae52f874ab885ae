// Package httpproxy is an HTTP reverse proxy on the event loop: an
// httpd.Handler that forwards each request to an upstream chosen by route,
// over a per-loop pool of keep-alive upstream connections, and streams both
// bodies with backpressure.
//
// Each request runs through phases in the manner of Pingora's ProxyHttp,
// each a func field of [Proxy] that may be left nil; a nil hook is one
// pointer test:
//
//  1. RequestFilter may answer the request itself.
//  2. UpstreamPeer picks the endpoint (default: the route's group, round
//     robin, healthy first).
//  3. UpstreamRequestFilter edits the header sent upstream.
//  4. RequestBodyFilter sees (and may replace) each request body piece.
//  5. ResponseFilter edits the status and header sent downstream.
//  6. ResponseBodyFilter sees (and may replace) each response body piece.
//  7. Logging runs once per request with its outcome.
//
// An Upgrade (WebSocket or any other) that the upstream accepts with 101
// turns the pair into a byte relay.
//
// # Errors and retries
//
// Every failure is an [*Error]: its [Source] (Downstream, Upstream,
// Internal), its [Kind], and whether a retry is safe ([RetrySafety]: the
// request is idempotent or no body byte of it went upstream, and the
// proxy can still send it whole). [Decide] is the one policy: it gives
// the status, and allows a retry only for an Upstream failure that is
// RetrySafe, wanted (by the default or by the hook), and within its limit.
// FailToConnect and ErrorWhileProxy only say what they want; a hook that
// asks for a retry past MaxConnectRetries or MaxReuseRetries is refused.
//
//	failure                        source      status   retry (default; limit)
//	no route, no group             downstream  404      no
//	CONNECT                        downstream  501      no
//	UpstreamPeer's error           internal    502      no
//	no endpoint left to try        upstream    502      no
//	connect refused, timed out     upstream    502      next endpoint while untried ones remain; MaxConnectRetries (16)
//	upstream closed or reset       upstream    502      on a reused connection, when safe; MaxReuseRetries (1)
//	Response/ReadTimeout passed    upstream    504      no (a hook may ask, when safe); MaxReuseRetries
//	malformed response             upstream    502      no (a hook may ask, when safe); MaxReuseRetries
//	client body timeout, bad body  downstream  408/400  no (the server answers)
//	client closed                  downstream  none     no (nobody to answer)
//
// Any failure after the response head went downstream closes the client's
// connection instead, since HTTP/1.1 has no other way to say the body is
// incomplete. Logging gets the *Error, whose Err matches the package's
// sentinel errors (and l4.ErrNoUpstream, httpd.ErrBodyTimeout,
// *ClientClosedError) through errors.Is and errors.As. The kinds and
// Decide name no HTTP/1.1 detail, so that other protocols' proxies reuse
// them.
//
// # What goes upstream
//
// The proxy frames the upstream request from its own parse of the
// client's, always: it writes Content-Length (the parsed length, one
// field however many identical lines the client sent) or
// "Transfer-Encoding: chunked" itself, and sends no other framing field,
// not even one a hook put in UpstreamHeader. Host comes from the parse
// too: the Host field, or an absolute-form target's authority, which
// replaces the Host field (RFC 9112 §3.2.2); a request without one gets
// the endpoint's address. X-Forwarded-For (appended to), X-Forwarded-Proto,
// X-Forwarded-Host and Via (appended to) are set by the proxy.
//
// Hop-by-hop fields are dropped both ways (RFC 9110 §7.6.1), with those a
// Connection field names, but a Connection token naming Content-Length,
// Transfer-Encoding, Host or a field the proxy sets is ignored: the field
// is framed, sent or set as above whatever Connection says. Ignoring the
// token, rather than refusing the request, is what nginx 1.22 and HAProxy
// 2.6 do (checked against both here): neither drops a field because a
// Connection field names it; nginx frames the body itself and passes the
// other fields, HAProxy passes the Connection field on too. A body whose
// Content-Length a proxy dropped on the client's word would
// become the next request on a pooled upstream connection, answered to
// another client (request smuggling).
//
// CONNECT is refused with 501 before any upstream is involved: a reverse
// proxy has no tunnel to offer, and a CONNECT passed on would leave the
// pooled connection in the upstream's tunnel or mid-response.
package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// Defaults of Proxy.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	DefaultReadTimeout     = 60 * time.Second
	DefaultMaxIdle         = 64
	DefaultIdleTimeout     = 60 * time.Second
	// DefaultMaxConnectRetries is MaxConnectRetries' default.
	DefaultMaxConnectRetries = 16
	// DefaultMaxReuseRetries is MaxReuseRetries' default.
	DefaultMaxReuseRetries = 1
)

// Route sends requests for Host (any host when empty) whose path starts
// with PathPrefix to Upstreams.
type Route struct {
	Host       string
	PathPrefix string
	Upstreams  *l4.Group
}

// Proxy is a reverse proxy. Use it as an httpd.Server's Handler. Its fields
// must not change once it serves.
type Proxy struct {
	// Upstreams serves requests no route matches (nil: they get 404).
	Upstreams *l4.Group
	// Routes are tried in order; the first match wins.
	Routes []Route
	// ConnectTimeout bounds each upstream connect (default 5s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for a response head once the request
	// has gone upstream (each request body write starts it again, so a
	// long upload is not cut short); past it the client gets 504 (default
	// 60s).
	ResponseTimeout time.Duration
	// ReadTimeout bounds every wait for upstream bytes: between two reads
	// of the response head and of its body alike, as nginx's
	// proxy_read_timeout (default 60s). Past it, before the response head
	// went out, the client gets 504; after, its connection is closed, the
	// one way HTTP/1.1 has to say the body is incomplete. A wait that is
	// the client's (the proxy stopped reading while the client is slow to
	// take the response) is the client's send timeout, not this.
	ReadTimeout time.Duration
	// MaxIdle bounds the idle keep-alive connections kept per upstream
	// endpoint on each event loop (default 64; negative: none kept).
	MaxIdle int
	// IdleTimeout closes a pooled connection unused for that long (default
	// 60s).
	IdleTimeout time.Duration
	// Via is the pseudonym in the Via field (default "penstock").
	Via string
	// ClientCertHeader, when set, names the request field that carries
	// the client certificate a TLS handshake verified to the upstream, in
	// the format of Envoy's x-forwarded-client-cert (Hash, Subject, URI,
	// DNS; see transport.CertInfo.AppendXFCC). Any field of that name the
	// client sent is dropped, whether or not it presented a certificate,
	// so a client cannot forge it; X-Forwarded-Client-Cert is the usual
	// name.
	ClientCertHeader string

	// RequestFilter runs first; it returns true when it has answered the
	// request (through s.X) and nothing is to be proxied.
	RequestFilter func(s *Session) bool
	// UpstreamPeer picks the endpoint to send the request to; s.Group is
	// the route's group and s.Tried the endpoints already tried for it.
	UpstreamPeer func(s *Session) (*l4.Endpoint, error)
	// UpstreamRequestFilter edits s.UpstreamHeader (and s.UpstreamPath)
	// before the request goes upstream.
	UpstreamRequestFilter func(s *Session)
	// RequestBodyFilter sees each request body piece and returns what to
	// send instead (p itself to pass it on). When set, the body goes
	// upstream chunked, since its length may change.
	RequestBodyFilter func(s *Session, p []byte, end bool) []byte
	// ResponseFilter edits s.Status and s.ResponseHeader before the
	// response head goes downstream.
	ResponseFilter func(s *Session)
	// ResponseBodyFilter is RequestBodyFilter for the response body.
	ResponseBodyFilter func(s *Session, p []byte, end bool) []byte
	// Logging runs once per request when it is over, with its error (nil
	// for a complete exchange).
	Logging func(s *Session, err error)
	// FailToConnect says whether a failed connect is retried on another
	// endpoint (default: yes while the group has untried ones). err is an
	// *Error of KindConnect. A retry past MaxConnectRetries is refused
	// whatever it says.
	FailToConnect func(s *Session, err error) (retry bool)
	// ErrorWhileProxy says whether a request whose upstream failed before
	// any response byte went downstream is sent again on a new connection
	// (default: when the failed connection was a reused one and it
	// closed). err is an *Error of Source Upstream. A retry that is not
	// RetrySafe, or past MaxReuseRetries, is refused whatever it says.
	ErrorWhileProxy func(s *Session, err error) (retry bool)

	// MaxConnectRetries bounds the connects retried for one request after
	// a connect failed (default 16; negative: none).
	MaxConnectRetries int
	// MaxReuseRetries bounds the times one request is sent again after
	// an upstream failed it before any response byte (default 1, which a
	// reused connection that the upstream had closed takes; negative:
	// none).
	MaxReuseRetries int

	// UpstreamProtocols says how to speak to each group, by group name
	// (absent: HTTP1): H2C, H2 (TLS with ALPN h2) or Auto carry the
	// requests as streams multiplexed on one connection per endpoint and
	// event loop (more when the upstream's MAX_CONCURRENT_STREAMS is
	// reached), with request and response trailers both ways.
	UpstreamProtocols map[string]Protocol

	Logger *slog.Logger

	pools sync.Map // transport.Loop -> *loopPool
}

// Errors a session can end with.
var (
	ErrNoRoute         = errors.New("penstock/httpproxy: no route for the request")
	ErrUpstreamTimeout = errors.New("penstock/httpproxy: upstream response timeout")
	// ErrDeadline is a session's Deadline (a gRPC request's grpc-timeout)
	// running out: 504, DEADLINE_EXCEEDED for gRPC.
	ErrDeadline       = errors.New("penstock/httpproxy: request deadline exceeded")
	ErrUpstreamClosed = errors.New("penstock/httpproxy: upstream closed the connection")
	ErrBadResponse    = errors.New("penstock/httpproxy: malformed upstream response")
	ErrConnect        = errors.New("penstock/httpproxy: CONNECT is not proxied")
)

// Clone returns a new Proxy with p's settings and hooks and none of its
// state (no pooled connection): the same proxy, ready to take other
// values, as a config swap builds one. It only reads p's fields, so it is
// safe from any goroutine while p serves.
func (p *Proxy) Clone() *Proxy {
	return &Proxy{
		Upstreams: p.Upstreams, Routes: p.Routes,
		ConnectTimeout: p.ConnectTimeout, ResponseTimeout: p.ResponseTimeout, ReadTimeout: p.ReadTimeout,
		MaxIdle: p.MaxIdle, IdleTimeout: p.IdleTimeout, Via: p.Via, ClientCertHeader: p.ClientCertHeader,
		RequestFilter: p.RequestFilter, UpstreamPeer: p.UpstreamPeer, UpstreamRequestFilter: p.UpstreamRequestFilter,
		RequestBodyFilter: p.RequestBodyFilter, ResponseFilter: p.ResponseFilter, ResponseBodyFilter: p.ResponseBodyFilter,
		Logging: p.Logging, FailToConnect: p.FailToConnect, ErrorWhileProxy: p.ErrorWhileProxy,
		MaxConnectRetries: p.MaxConnectRetries, MaxReuseRetries: p.MaxReuseRetries,
		UpstreamProtocols: p.UpstreamProtocols, Logger: p.Logger,
	}
}

func (p *Proxy) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Proxy) connectTimeout() time.Duration {
	if p.ConnectTimeout > 0 {
		return p.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (p *Proxy) responseTimeout() time.Duration {
	if p.ResponseTimeout > 0 {
		return p.ResponseTimeout
	}
	return DefaultResponseTimeout
}

func (p *Proxy) readTimeout() time.Duration {
	if p.ReadTimeout > 0 {
		return p.ReadTimeout
	}
	return DefaultReadTimeout
}

func (p *Proxy) maxIdle() int {
	switch {
	case p.MaxIdle < 0:
		return 0
	case p.MaxIdle == 0:
		return DefaultMaxIdle
	}
	return p.MaxIdle
}

func (p *Proxy) idleTimeout() time.Duration {
	if p.IdleTimeout > 0 {
		return p.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (p *Proxy) maxConnectRetries() int {
	switch {
	case p.MaxConnectRetries < 0:
		return 0
	case p.MaxConnectRetries == 0:
		return DefaultMaxConnectRetries
	}
	return p.MaxConnectRetries
}

func (p *Proxy) maxReuseRetries() int {
	switch {
	case p.MaxReuseRetries < 0:
		return 0
	case p.MaxReuseRetries == 0:
		return DefaultMaxReuseRetries
	}
	return p.MaxReuseRetries
}

func (p *Proxy) via() string {
	if p.Via != "" {
		return p.Via
	}
	return "penstock"
}

// route returns the route for r (nil: none matched) and its group.
func (p *Proxy) route(r *httpd.Request) (*Route, *l4.Group) {
	host := r.Host
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	for i := range p.Routes {
		rt := &p.Routes[i]
		if rt.Host != "" && !http1.EqualFold(host, rt.Host) {
			continue
		}
		if len(r.Path) < len(rt.PathPrefix) || string(r.Path[:len(rt.PathPrefix)]) != rt.PathPrefix {
			continue
		}
		return rt, rt.Upstreams
	}
	return nil, p.Upstreams
}

// ServeHTTP proxies one request. It runs on the exchange's loop.
func (p *Proxy) ServeHTTP(x *httpd.Exchange) {
	s := p.session(x)
	if p.RequestFilter != nil && p.RequestFilter(s) {
		// The filter answered: the exchange may be back with the server.
		return
	}
	if string(x.Req.Method) == "CONNECT" {
		s.fail(&Error{Source: Downstream, Kind: KindNotProxied, Retry: RetryUnsafe, Err: ErrConnect})
		return
	}
	s.Route, s.Group = p.route(&x.Req)
	if s.Group == nil || len(s.Group.Endpoints) == 0 {
		s.fail(&Error{Source: Downstream, Kind: KindNoRoute, Retry: RetryUnsafe, Err: ErrNoRoute})
		return
	}
	s.prepareUpstreamRequest()
	s.armDeadline()
	s.connect()
}

// session returns the session that rides with x (the server recycles
// exchanges, and the session with its buffers goes along), reset for x.
func (p *Proxy) session(x *httpd.Exchange) *Session {
	s, _ := x.State.(*Session)
	if s == nil || s.p != p {
		s = &Session{p: p}
		s.abortFn, s.endFn, s.drainedFn, s.bodyFn = s.onAbort, s.onEnd, s.onClientDrained, s.onRequestBody
		s.deadlineFn = s.onDeadline
		x.State = s
	}
	s.reset(x)
	return s
}

// pool returns the loop's connection pool.
func (p *Proxy) pool(loop transport.Loop) *loopPool {
	if v, ok := p.pools.Load(loop); ok {
		return v.(*loopPool)
	}
	lp := &loopPool{p: p, loop: loop, idle: map[*l4.Endpoint][]*upConn{},
		h2: map[*l4.Endpoint]*h2up{}, h2wait: map[*l4.Endpoint][]h2waiter{},
		open: map[*l4.Endpoint]int{}, h2open: map[*l4.Endpoint]int{}}
	v, _ := p.pools.LoadOrStore(loop, lp)
	return v.(*loopPool)
}

// PoolStat is what a Proxy's pools hold for one endpoint, summed over its
// event loops.
type PoolStat struct {
	Endpoint *l4.Endpoint
	// Open counts the HTTP/1.1 connections, in use or idle; Idle those
	// idle in the pool.
	Open, Idle int
	// H2Conns counts the multiplexed HTTP/2 connections, H2Streams their
	// streams in flight.
	H2Conns, H2Streams int
}

// PoolStats gathers the pooled upstream connections of every event loop
// the proxy has served on, by endpoint, in no particular order. Each loop
// counts its own in a task, so it is safe from any goroutine; it waits
// for the loops until ctx ends, and leaves out those that have not
// answered by then.
func (p *Proxy) PoolStats(ctx context.Context) []PoolStat {
	var pools []*loopPool
	p.pools.Range(func(_, v any) bool {
		pools = append(pools, v.(*loopPool))
		return true
	})
	// Room for every answer: a loop never waits on a caller that has
	// stopped reading.
	ch := make(chan map[*l4.Endpoint]*PoolStat, len(pools))
	asked := 0
	for _, lp := range pools {
		if lp.loop.Execute(func() { ch <- lp.stats() }) {
			asked++
		}
	}
	sum := map[*l4.Endpoint]*PoolStat{}
gather:
	for ; asked > 0; asked-- {
		var m map[*l4.Endpoint]*PoolStat
		select {
		case m = <-ch:
		case <-ctx.Done():
			break gather // what has come is what there is
		}
		for ep, st := range m {
			if t := sum[ep]; t != nil {
				t.Open += st.Open
				t.Idle += st.Idle
				t.H2Conns += st.H2Conns
				t.H2Streams += st.H2Streams
			} else {
				sum[ep] = st
			}
		}
	}
	out := make([]PoolStat, 0, len(sum))
	for _, st := range sum {
		out = append(out, *st)
	}
	return out
}

// stats counts the loop's pooled connections. Loop only.
func (lp *loopPool) stats() map[*l4.Endpoint]*PoolStat {
	m := map[*l4.Endpoint]*PoolStat{}
	get := func(ep *l4.Endpoint) *PoolStat {
		if m[ep] == nil {
			m[ep] = &PoolStat{Endpoint: ep}
		}
		return m[ep]
	}
	for ep, n := range lp.open {
		get(ep).Open = n
	}
	for ep, list := range lp.idle {
		get(ep).Idle = len(list)
	}
	for ep, n := range lp.h2open {
		get(ep).H2Conns = n
	}
	for ep, uc := range lp.h2 {
		get(ep).H2Streams = len(uc.streams)
	}
	return m
}
