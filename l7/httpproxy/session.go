package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// Session is one proxied request: the per-request context every hook gets.
// A Session rides with its httpd.Exchange, which the server recycles for
// later requests on the same loop, so hooks must not keep it past
// Logging. Loop only, like the exchange.
//
// Logging runs from the exchange's OnEnd or OnAbort func, the server's
// last call before it takes the exchange back; the session's own code
// ends each path with the call that hands the exchange back (End,
// Respond, Hijack, or a Close of the client's stream) and touches nothing
// after it.
type Session struct {
	// X is the client's exchange: its request, and the way to answer.
	X *httpd.Exchange
	// Route is the route that matched the request (nil: none did, and
	// Group is the Proxy's Upstreams); Group is the upstream group it
	// chose.
	Route *Route
	Group *l4.Group
	// Upstream is the endpoint the request went (or goes) to; Tried lists
	// every endpoint tried for it, in order.
	Upstream *l4.Endpoint
	Tried    []*l4.Endpoint
	// UpstreamPath is the request target sent upstream (origin-form).
	UpstreamPath []byte
	// UpstreamHeader is the header sent upstream: the request's end-to-end
	// fields plus the X-Forwarded-* and Via fields.
	UpstreamHeader Header
	// Status and ResponseHeader are the response head sent downstream.
	Status         int
	ResponseHeader Header
	// Reused says the upstream connection came from the pool; Retries
	// counts the times the request was tried again (after a failed
	// connect or a failed send), ConnectRetries and ReuseRetries those
	// times by limit (MaxConnectRetries, MaxReuseRetries).
	Reused                       bool
	Retries                      int
	ConnectRetries, ReuseRetries int
	// RequestBytes and ResponseBytes count body bytes moved.
	RequestBytes, ResponseBytes int64
	// UpstreamLatency is the time from the request's head going upstream
	// (on the last attempt) to the response head coming back; zero
	// without a response head from an upstream.
	UpstreamLatency time.Duration
	// Start is when the request head arrived.
	Start time.Time
	// Deadline, when not zero, is when the request must have been
	// answered: past it the upstream's stream is reset (its connection
	// closed on HTTP/1.1) and the client gets 504, DEADLINE_EXCEEDED for
	// gRPC, or a reset of its stream when the response has started. A gRPC
	// request's grpc-timeout sets it (Start plus the timeout) and is sent
	// upstream as what is left of it at each attempt; RequestFilter and
	// UpstreamRequestFilter may set, move or clear it (any request may have
	// one).
	Deadline time.Time
	// User is the hooks' per-request value.
	User any

	p  *Proxy
	up *upConn
	h2 *h2stream // the stream on a multiplexed HTTP/2 upstream (h2up.go)
	// h2fieldsBuf and h2resp are scratch for HTTP/2 heads.
	h2fieldsBuf []hpack.HeaderField
	h2resp      []httpd.Field
	h2req       http2.Header
	err         error // what the session ends with, for Logging: nil or an *Error
	gen         uint64
	head        []byte
	path        []byte // UpstreamPath when it had to be rebuilt
	buf         []byte // request body chunks
	// The session's callbacks, bound once: a method value made per request
	// would allocate.
	abortFn      func(error)
	endFn        func()
	drainedFn    func()
	bodyFn       func(p []byte, end bool)
	deadlineFn   func()
	deadline     *transport.Timer // runs onDeadline at Deadline
	deadlineLoop transport.Loop   // the loop deadline runs on
	gto          []byte           // the grpc-timeout value sent upstream
	sentAt       time.Duration    // transport.Clock() as the head went upstream
	xff, via     []byte
	xfcc         []byte
	chunkUp      bool // the body goes upstream chunked
	sendCL       bool // the body goes upstream with a Content-Length
	noHost       bool // the request named no host: the upstream's address is sent
	upgrade      bool
	bodyStarted  bool // a request body byte went upstream
	reqSent      bool // the whole request went upstream
	respStarted  bool // the response head went downstream
	fresh        bool // the next connect must not use the pool
	done         bool
}

func (s *Session) reset(x *httpd.Exchange) {
	s.X, s.Route, s.Group, s.Upstream = x, nil, nil, nil
	s.UpstreamLatency = 0
	clear(s.Tried)
	s.Tried = s.Tried[:0]
	s.UpstreamPath = nil
	s.UpstreamHeader.reset()
	s.ResponseHeader.reset()
	s.Status, s.Reused, s.Retries, s.RequestBytes, s.ResponseBytes = 0, false, 0, 0, 0
	s.ConnectRetries, s.ReuseRetries = 0, 0
	s.Start = time.Now()
	s.Deadline = time.Time{}
	if isGRPC(&x.Req) {
		if v, ok := x.Req.Header("grpc-timeout"); ok {
			if d, ok := parseGRPCTimeout(v); ok {
				s.Deadline = s.Start.Add(d)
			}
		}
	}
	s.User = nil
	s.up = nil
	s.h2 = nil
	s.err = nil
	s.gen++
	s.chunkUp, s.upgrade, s.bodyStarted, s.reqSent, s.respStarted, s.fresh, s.done = false, false, false, false, false, false, false
	x.OnAbort(s.abortFn)
	x.OnEnd(s.endFn)
	x.OnDrained(s.drainedFn)
}

// prepareUpstreamRequest builds the target and header sent upstream.
func (s *Session) prepareUpstreamRequest() {
	x := s.X
	r := &x.Req
	h1 := r.HTTP1()
	if len(r.Target) > 0 && r.Target[0] == '/' {
		s.UpstreamPath = r.Target
	} else {
		s.path = append(s.path[:0], r.Path...)
		if len(s.path) == 0 {
			s.path = append(s.path, '/')
		}
		if len(r.Query) > 0 {
			s.path = append(append(s.path, '?'), r.Query...)
		}
		s.UpstreamPath = s.path
	}
	if h1 != nil {
		_, s.upgrade = h1.Upgrade()
	}
	s.xff = s.xff[:0]
	s.via = s.via[:0]
	// Host first, from the parse: an absolute-form target's authority
	// replaces the Host field (RFC 9112 §3.2.2).
	s.noHost = len(r.Host) == 0
	if !s.noHost {
		s.UpstreamHeader.Fields = append(s.UpstreamHeader.Fields, httpd.Field{Name: hHost, Value: r.Host})
	}
	s.chunkUp = r.ContentLength < 0 || r.ContentLength > 0 && s.p.RequestBodyFilter != nil
	s.sendCL = false
	for _, f := range r.Headers {
		switch {
		case equalFold(f.Name, "content-length"):
			// The proxy frames the body itself (encodeHead).
			s.sendCL = !s.chunkUp
			continue
		case equalFold(f.Name, "host"):
			continue
		case equalFold(f.Name, "x-forwarded-for"):
			if len(s.xff) > 0 {
				s.xff = append(s.xff, ", "...)
			}
			s.xff = append(s.xff, f.Value...)
			continue
		case equalFold(f.Name, "via"):
			if len(s.via) > 0 {
				s.via = append(s.via, ", "...)
			}
			s.via = append(s.via, f.Value...)
			continue
		case equalFold(f.Name, "x-forwarded-proto"), equalFold(f.Name, "x-forwarded-host"),
			equalFold(f.Name, "expect"):
			continue
		case s.p.ClientCertHeader != "" && strings.EqualFold(string(f.Name), s.p.ClientCertHeader):
			continue // the proxy's to set: never the client's
		case s.upgrade && equalFold(f.Name, "upgrade"):
		case h1 != nil && h1.IsHopByHop(f.Name), h1 == nil && http1.IsHopByHop(f.Name, r.Headers):
			continue
		}
		s.UpstreamHeader.Fields = append(s.UpstreamHeader.Fields, f)
	}
	if len(s.xff) > 0 {
		s.xff = append(s.xff, ", "...)
	}
	s.xff = appendIP(s.xff, r.RemoteAddr)
	if len(s.via) > 0 {
		s.via = append(s.via, ", "...)
	}
	s.via = append(s.via, "1.1 "...)
	s.via = append(s.via, s.p.via()...)
	hf := &s.UpstreamHeader
	hf.Fields = append(hf.Fields,
		httpd.Field{Name: hXFF, Value: s.xff},
		httpd.Field{Name: hXFProto, Value: schemeBytes(r.Scheme)},
		httpd.Field{Name: hXFHost, Value: r.Host},
		httpd.Field{Name: hVia, Value: s.via})
	if s.upgrade {
		hf.Fields = append(hf.Fields, httpd.Field{Name: hConnection, Value: vUpgrade})
	}
	if name := s.p.ClientCertHeader; name != "" {
		if info := s.TLS(); info != nil && info.Client != nil {
			// Name and value in the session's one buffer: no allocation
			// per request once it has grown.
			n := len(name)
			s.xfcc = info.Client.AppendXFCC(append(s.xfcc[:0], name...))
			hf.Fields = append(hf.Fields, httpd.Field{Name: s.xfcc[:n:n], Value: s.xfcc[n:]})
		}
	}
	if p := s.p.UpstreamRequestFilter; p != nil {
		p(s)
	}
}

var (
	hHost       = []byte("Host")
	hXFF        = []byte("X-Forwarded-For")
	hXFProto    = []byte("X-Forwarded-Proto")
	hXFHost     = []byte("X-Forwarded-Host")
	hVia        = []byte("Via")
	hConnection = []byte("Connection")
	vUpgrade    = []byte("upgrade")
	vHTTP       = []byte("http")
	vHTTPS      = []byte("https")
)

func schemeBytes(s string) []byte {
	if s == "https" {
		return vHTTPS
	}
	return vHTTP
}

func appendIP(dst []byte, a net.Addr) []byte {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().AppendTo(dst)
	case nil:
		return append(dst, "unknown"...)
	default:
		return append(dst, a.String()...)
	}
}

// encodeHead writes the upstream request head into s.head. The body's
// framing is the proxy's, from its parse of the client's request: a
// Content-Length or Transfer-Encoding field left in UpstreamHeader (by a
// hook) is not sent.
func (s *Session) encodeHead() []byte {
	r := &s.X.Req
	b := http1.AppendRequestLine(s.head[:0], r.Method, s.UpstreamPath)
	for _, f := range s.UpstreamHeader.Fields {
		if isFraming(f.Name) {
			continue
		}
		b = http1.AppendHeader(b, f.Name, f.Value)
	}
	if s.noHost {
		if _, ok := s.UpstreamHeader.Get("host"); !ok {
			b = http1.AppendHeader(b, hHost, []byte(s.Upstream.Addr))
		}
	}
	switch {
	case s.chunkUp:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case s.sendCL:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	s.head = b
	return b
}

// isFraming reports whether name is Content-Length or Transfer-Encoding.
func isFraming(name []byte) bool {
	switch len(name) {
	case len("content-length"):
		return equalFold(name, "content-length")
	case len("transfer-encoding"):
		return equalFold(name, "transfer-encoding")
	}
	return false
}

// connect sends the request over a pooled connection or a new one.
func (s *Session) connect() {
	if s.deadlinePassed() {
		return
	}
	var ep *l4.Endpoint
	if s.p.UpstreamPeer != nil {
		var err error
		if ep, err = s.p.UpstreamPeer(s); err != nil {
			s.fail(newError(Internal, KindInternal, RetryUnsafe, err))
			return
		}
	} else {
		ep = s.Group.Pick(s.Tried)
	}
	if ep == nil {
		s.fail(&Error{Source: Upstream, Kind: KindNoUpstream, Retry: RetryUnsafe,
			Err: fmt.Errorf("%w: group %q", l4.ErrNoUpstream, s.Group.Name)})
		return
	}
	s.Upstream = ep
	s.Tried = append(s.Tried, ep)
	s.setGRPCTimeout()
	if proto := s.p.protocol(s.Group); proto == H2 || proto == H2C || proto == Auto && ep.TLS != nil {
		s.connectH2(ep, proto)
		return
	}
	pool := s.p.pool(s.X.Loop())
	if !s.fresh {
		if c := pool.get(ep); c != nil {
			s.Reused = true
			s.send(c)
			return
		}
	}
	s.Reused = false
	s.fresh = false
	gen, loop := s.gen, s.X.Loop()
	timeout := s.p.connectTimeout()
	go func() {
		network, addr := ep.Network()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		nc, err := (&net.Dialer{KeepAlive: -1, Control: transport.DialControl}).DialContext(ctx, network, addr)
		cancel()
		if err != nil {
			loop.Execute(func() {
				if s.gen == gen && !s.done {
					s.connectFailed(err)
				}
			})
			return
		}
		ready := func(st transport.Stream, err error) {
			if err != nil {
				if s.gen == gen && !s.done {
					s.connectFailed(err)
				}
				return
			}
			c := pool.newConn(ep, st)
			if s.gen != gen || s.done {
				pool.put(c)
				return
			}
			s.Group.MarkOK(ep)
			s.send(c)
		}
		transport.AttachWait(loop, nc, func(st transport.Stream, err error) {
			if err == nil && ep.TLS != nil {
				// A failed handshake is a failed connect: nothing of the
				// request has gone out.
				transport.TLSClient(st, ep.TLS, timeout, ready)
				return
			}
			ready(st, err)
		})
	}()
}

// connectFailed handles a failed connect: nothing of the request went
// out, so another endpoint may be tried (Decide, MaxConnectRetries).
func (s *Session) connectFailed(err error) {
	s.Group.MarkFailed(s.Upstream)
	s.p.log().Warn("upstream connect failed", "group", s.Group.Name, "upstream", s.Upstream.Addr, "err", err)
	e := &Error{Source: Upstream, Kind: KindConnect, Retry: RetrySafe, Err: fmt.Errorf("%w: %w", l4.ErrNoUpstream, err)}
	want := len(s.Tried) < len(s.Group.Endpoints)
	if s.p.FailToConnect != nil {
		want = s.p.FailToConnect(s, e)
	}
	if _, retry := Decide(e, want, s.ConnectRetries, s.p.maxConnectRetries()); retry {
		s.Retries++
		s.ConnectRetries++
		s.connect()
		return
	}
	s.fail(e)
}

// send writes the request head on c and streams the body after it.
func (s *Session) send(c *upConn) {
	s.up = c
	c.begin(s)
	s.sentAt = transport.Clock()
	if _, err := c.st.Write(s.encodeHead()); err != nil {
		s.upstreamFailed(c, KindClosed, fmt.Errorf("%w: %w", ErrUpstreamClosed, err))
		return
	}
	if s.upgrade {
		s.reqSent = true
		return
	}
	s.X.ReadBody(s.bodyFn)
	if !s.done && s.up == c && !s.reqSent && c.state == upHead && c.st.Writable() {
		c.timer.Disarm() // the body is the client's to send now
	}
}

func (s *Session) onRequestBody(p []byte, end bool) {
	if hs := s.h2; hs != nil {
		if !s.done {
			s.h2Body(hs, p, end)
		}
		return
	}
	c := s.up
	if c == nil || s.done {
		return
	}
	if f := s.p.RequestBodyFilter; f != nil {
		p = f(s, p, end)
	}
	s.RequestBytes += int64(len(p))
	var err error
	switch {
	case s.chunkUp:
		s.buf = http1.AppendChunk(s.buf[:0], p)
		if end {
			s.buf = http1.AppendLastChunk(s.buf)
		}
		if len(s.buf) > 0 {
			_, err = c.st.Write(s.buf)
		}
		if cap(s.buf) > 64<<10 {
			s.buf = nil
		}
	case len(p) > 0:
		_, err = c.st.Write(p)
	}
	if len(p) > 0 {
		s.bodyStarted = true
	}
	if err != nil {
		s.upstreamFailed(c, KindClosed, fmt.Errorf("%w: %w", ErrUpstreamClosed, err))
		return
	}
	if c.state == upHead {
		// The wait for the response head starts again once the request
		// is all sent. Until then a client slow with its body is the
		// client's body timeout, while an upstream slow to take it is
		// the upstream's.
		if end || !c.st.Writable() {
			c.sent()
		} else {
			c.timer.Disarm()
		}
	}
	if end {
		s.reqSent = true
		return
	}
	if !c.st.Writable() {
		s.X.PauseBody()
	}
}

// upstreamFailed handles a failure of c before the response ended, which
// its site classifies: an Upstream *Error of that kind, whose retry safety
// is what has gone upstream so far (retrySafety). See abort.
func (s *Session) upstreamFailed(c *upConn, kind Kind, err error) {
	if s.done || c == nil || s.up != c {
		return
	}
	s.abort(c, &Error{Source: Upstream, Kind: kind, Retry: s.retrySafety(), Err: err})
}

// abort ends the use of c for the session on e: the client's connection
// closes when the response head has gone out, the request is sent again
// when Decide allows it (MaxReuseRetries), and the session fails with e
// otherwise. A failure of a connection the session no longer uses is
// ignored.
func (s *Session) abort(c *upConn, e *Error) {
	if s.done || c == nil || s.up != c {
		return
	}
	c.drop()
	s.up = nil
	s.abortUpstream(e, s.Reused && e.Kind == KindClosed)
}

// abortUpstream is abort once the failed upstream is let go; want is
// whether a retry is wanted when no ErrorWhileProxy hook says.
func (s *Session) abortUpstream(e *Error, want bool) {
	if s.respStarted && s.X.RetractHead() {
		// The head did not leave (it waits for body bytes): answer 502.
		s.respStarted = false
	}
	if s.respStarted {
		// The head went out: HTTP/1.1 can only say "incomplete" by closing.
		if e.Source == Upstream {
			s.p.log().Info("upstream failed mid-response; closing client", "upstream", s.Upstream.Addr, "err", e.Err)
		}
		e.Retry = RetryUnsafe
		s.closeClient(e)
		return
	}
	if s.p.ErrorWhileProxy != nil {
		want = s.p.ErrorWhileProxy(s, e)
	}
	if _, retry := Decide(e, want, s.ReuseRetries, s.p.maxReuseRetries()); retry {
		s.Retries++
		s.ReuseRetries++
		s.fresh = true
		s.Tried = s.Tried[:0]
		s.connect()
		return
	}
	s.fail(e)
}

// TLS returns the client connection's TLS summary (version, group,
// client certificate...), or nil when the client did not connect over
// TLS. Loop only.
func (s *Session) TLS() *transport.TLSInfo { return s.X.TLS() }

// retrySafety says whether the request may be sent again: it is
// idempotent or no body byte went upstream, and the proxy still has the
// whole of it to send (no body byte was consumed).
func (s *Session) retrySafety() RetrySafety {
	safe := s.X.Req.Idempotent() || !s.bodyStarted
	if safe && (!s.bodyStarted || s.X.BodyDone() && !s.chunkUp && s.RequestBytes == 0) {
		return RetrySafe
	}
	return RetryUnsafe
}

// fail answers with e's status (Decide) unless the response has
// started, and ends the session. The exchange is handed back: the caller
// touches s no more.
func (s *Session) fail(e *Error) {
	if s.done {
		return
	}
	s.dropUpstream()
	if s.respStarted && s.X.RetractHead() {
		s.respStarted = false
	}
	if s.respStarted {
		s.closeClient(e)
		return
	}
	status, _ := Decide(e, false, 0, 0)
	s.done = true
	s.err = e
	s.Status = status
	if isGRPC(&s.X.Req) {
		// A gRPC client reads a status from trailers, not an HTML page:
		// a trailers-only response.
		s.respondGRPC(status, e)
		return
	}
	_ = s.X.Respond(status, nil)
}

// dropUpstream lets go of the session's upstream connection or stream.
func (s *Session) dropUpstream() {
	if s.up != nil {
		s.up.drop()
		s.up = nil
	}
	if s.h2 != nil {
		s.h2.drop()
		s.h2 = nil
	}
}

// closeClient ends the session by closing the client's connection, the
// one way HTTP/1.1 has to say that a response is incomplete. The exchange
// is handed back (its OnAbort func runs): the caller touches s no more.
func (s *Session) closeClient(e *Error) {
	if s.done {
		return // the write that failed closed the stream: OnAbort ran
	}
	s.dropUpstream()
	s.done = true
	s.err = e
	s.X.Abort() // HTTP/1.1: the connection closes; HTTP/2: the stream alone is reset
}

// onEnd is the exchange's OnEnd func: the session's last moment.
func (s *Session) onEnd() {
	s.done = true
	s.stopDeadline()
	s.dropUpstream()
	if s.Status == 0 {
		s.Status = s.X.Status() // a response that RequestFilter sent
	}
	s.log()
}

// onAbort is the exchange's OnAbort func: the client went away before the
// response ended, or the session closed it (s.err says why then).
func (s *Session) onAbort(err error) {
	if s.err == nil {
		if errors.Is(err, httpd.ErrClientClosed) {
			s.err = &Error{Source: Downstream, Kind: KindClientClosed, Retry: RetryUnsafe,
				Err: &ClientClosedError{Phase: s.phase(), Err: err}}
		} else {
			// The server ended it for a client fault: a body that timed
			// out or went bad, answered by the server itself.
			s.err = &Error{Source: Downstream, Kind: KindClientBody, Retry: RetryUnsafe,
				Err: fmt.Errorf("%w (while %s)", err, s.phase())}
		}
	}
	s.done = true
	s.stopDeadline()
	s.dropUpstream()
	if s.Status == 0 {
		s.Status = s.X.Status()
	}
	s.log()
}

func (s *Session) stopDeadline() {
	if s.deadline != nil {
		s.deadline.Disarm()
	}
}

// phase names what the session was doing, for errors.
func (s *Session) phase() string {
	switch {
	case s.respStarted:
		return "sending the response body"
	case s.reqSent:
		return "waiting for the response head"
	case s.up != nil:
		return "sending the request upstream"
	case s.Upstream != nil:
		return "connecting upstream"
	}
	return "before the request went upstream"
}

// ClientClosedError is the Err of the *Error (Downstream,
// KindClientClosed) a session ends with when its client closed the
// connection before the response ended.
type ClientClosedError struct {
	// Phase is what the proxy was doing, such as "waiting for the
	// response head".
	Phase string
	// Err is the server's error; it matches httpd.ErrClientClosed.
	Err error
}

func (e *ClientClosedError) Error() string {
	return "penstock/httpproxy: client closed the connection while " + e.Phase + ": " + e.Err.Error()
}

func (e *ClientClosedError) Unwrap() error { return e.Err }

func (s *Session) log() {
	if f := s.p.Logging; f != nil {
		f(s, s.err)
	}
}

func (s *Session) onClientDrained() {
	if c := s.up; c != nil {
		c.resume()
	}
	if hs := s.h2; hs != nil {
		hs.resume()
	}
}

// forwardInterim sends an upstream 1xx response (other than 100 and 101)
// downstream, without its hop-by-hop fields.
func (s *Session) forwardInterim(r *http1.Response) {
	fields := s.ResponseHeader.Fields[:0]
	for _, f := range r.Headers() {
		if !r.IsHopByHop(f.Name) {
			fields = append(fields, f)
		}
	}
	_ = s.X.WriteHead(r.StatusCode, fields...)
	clear(fields)
	s.ResponseHeader.Fields = fields[:0]
}

// onResponseHead sends the response head downstream; its error is a
// Downstream *Error.
func (s *Session) onResponseHead(r *http1.Response) *Error {
	s.UpstreamLatency = transport.Clock() - s.sentAt
	s.Status = r.StatusCode
	for _, f := range r.Headers() {
		if r.IsHopByHop(f.Name) && !(r.StatusCode == 101 && (equalFold(f.Name, "upgrade") || equalFold(f.Name, "connection"))) {
			continue
		}
		s.ResponseHeader.Fields = append(s.ResponseHeader.Fields, f)
	}
	return s.sendResponseHead()
}

// sendResponseHead sends the response head in s.Status and
// s.ResponseHeader downstream, with Via, after ResponseFilter.
func (s *Session) sendResponseHead() *Error {
	if s.p.ResponseBodyFilter != nil {
		s.ResponseHeader.Del("Content-Length")
	}
	s.via = append(s.via[:0], "1.1 "...)
	s.via = append(s.via, s.p.via()...)
	s.ResponseHeader.Fields = append(s.ResponseHeader.Fields, httpd.Field{Name: hVia, Value: s.via})
	if f := s.p.ResponseFilter; f != nil {
		f(s)
	}
	s.respStarted = true
	if err := s.X.WriteHead(s.Status, s.ResponseHeader.Fields...); err != nil {
		// The client's side failed, not the upstream's.
		return &Error{Source: Downstream, Kind: KindClientClosed, Retry: RetryUnsafe, Err: err}
	}
	return nil
}

func (s *Session) onResponseBody(p []byte, end bool, trailers []httpd.Field) {
	if f := s.p.ResponseBodyFilter; f != nil {
		p = f(s, p, end)
	}
	s.ResponseBytes += int64(len(p))
	if len(p) > 0 {
		if _, err := s.X.Write(p); err != nil {
			// The client is gone; the upstream connection goes too.
			s.closeClient(&Error{Source: Downstream, Kind: KindClientClosed, Retry: RetryUnsafe, Err: err})
			return
		}
	}
	if end {
		s.done = true
		_ = s.X.End(trailers...) // the last touch: OnEnd logs
	}
}
