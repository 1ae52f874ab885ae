package httpd

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/transport"
)

// Handler serves one request. ServeHTTP runs on the connection's event
// loop and must not block; the exchange is the handler's until it calls
// End (or Respond, or Hijack).
type Handler interface {
	ServeHTTP(x *Exchange)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(x *Exchange)

// ServeHTTP calls f(x). Loop only.
func (f HandlerFunc) ServeHTTP(x *Exchange) { f(x) }

// parseRequestHead is http1.ParseRequestHead; tests count its calls.
var parseRequestHead = http1.ParseRequestHead

// Defaults of Server.
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	DefaultSendTimeout   = 60 * time.Second
	DefaultBodyTimeout   = 60 * time.Second
	// discardMax is how much of an unread request body the server reads
	// and drops to keep a connection after an early response; past it the
	// connection closes.
	discardMax = 256 << 10
)

// Server serves HTTP/1.1 on the streams its Accept method is given. Its
// fields must not change once it accepts.
type Server struct {
	// Handler serves each request.
	Handler Handler
	// Limits bounds request heads and bodies (zero: http1's defaults).
	Limits http1.Limits
	// HeaderTimeout bounds the wait for a request head once its first byte
	// arrived or the connection opened (default 10s).
	HeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request
	// for that long (default 60s).
	IdleTimeout time.Duration
	// SendTimeout closes a connection whose client takes nothing of the
	// response for that long while the server has more queued for it
	// (past the stream's high watermark), as nginx's send_timeout does
	// (default 60s). The exchange is aborted: its OnAbort func runs.
	SendTimeout time.Duration
	// BodyTimeout bounds each wait for request body bytes that the handler
	// is ready to take (or that the server is dropping after an early
	// response), as nginx's client_body_timeout does (default 60s): past
	// it the client gets 408 (or, once the response head went out, its
	// connection closes), and the exchange is aborted with ErrBodyTimeout.
	// While the handler has paused the body the wait is the handler's,
	// and this does not run.
	BodyTimeout time.Duration
	// HTTP2 configures HTTP/2 (codecs/http2's defaults when zero):
	// stream limits, windows, header list cap, glitch budget.
	HTTP2 http2.Config
	// DisableHTTP2 serves HTTP/1.1 only: a connection that opens with the
	// HTTP/2 preface is then a bad HTTP/1.1 request. Behind TLS, Accept
	// serves HTTP/2 when ALPN chose "h2" (AcceptH2) unless this is set;
	// leave "h2" out of the TLS ALPN list along with it.
	DisableHTTP2 bool
	// DisableHTTP1 serves HTTP/2 only (an h2c port for gRPC, say): a
	// connection that does not open with the HTTP/2 preface is closed
	// without an answer, as RFC 9113 §3.4 has it. On a port serving both,
	// such a connection is an HTTP/1.1 request and a malformed one gets 400.
	DisableHTTP1 bool
	// Logger gets client faults at debug level (default slog.Default()).
	Logger *slog.Logger
	// OnReject, when set, runs on the connection's loop each time the
	// server answers a client fault itself (400, 413, 414, 431, ...)
	// before the connection closes: for access logs, which see no
	// Exchange for such a request. (A fault in the body of a request a
	// handler has, such as a bad chunk or BodyTimeout, goes to that
	// handler's OnAbort instead.) It must not block.
	OnReject func(remote net.Addr, status int, err error)

	mu       sync.Mutex
	conns    *conn       // open connections, linked through conn.prev/next
	h2stats  http2.Stats // of the HTTP/2 connections closed (under mu)
	h2conns  uint64
	h2strs   sync.Map // transport.Loop -> *http2.Strings
	draining atomic.Bool
	// exchanges holds the Exchanges of idle connections, per loop: a
	// connection takes one at the first byte of a request and gives it
	// back when the exchange is finished, so an idle keep-alive connection
	// holds none of the per-request state (parser, buffers, the handler's
	// State). An Exchange never moves to another loop, so a late touch by
	// code of its loop could only ever meet the loop's own later use of
	// it, never race with another loop.
	exchanges transport.Recycler[Exchange]
}

// Accept serves HTTP on s. It is a transport.Listener's Accept func; it
// runs on s's loop.
func (srv *Server) Accept(s transport.Stream) {
	if !srv.DisableHTTP2 && transport.IsTLS(s) {
		if cs, ok := transport.ConnectionState(s); ok && cs.NegotiatedProtocol == "h2" {
			srv.AcceptH2(s)
			return
		}
	}
	c := &conn{srv: srv, st: s, tls: transport.IsTLS(s)}
	s.SetHandler(c)
	srv.track(c)
	c.timer.Init(s.Loop(), c.onTimer)
	c.timer.Reset(srv.headerTimeout())
	if srv.draining.Load() {
		c.drain()
	}
}

// Drain ends keep-alive: idle connections close now, and every response
// from now on carries "Connection: close" and closes its connection after
// it. A transport.Listener's Drain func calls it as a graceful shutdown
// begins. It is safe from any goroutine.
func (srv *Server) Drain() {
	if srv.draining.Swap(true) {
		return
	}
	srv.mu.Lock()
	var conns []*conn
	for c := srv.conns; c != nil; c = c.next {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, c := range conns {
		c.st.Loop().Execute(c.drain)
	}
}

// Clone returns a new Server with srv's settings and hooks and none of its
// state (no connection, not draining): the same server, ready to take
// other values, as a config swap builds one. It only reads srv's fields,
// so it is safe from any goroutine while srv serves.
func (srv *Server) Clone() *Server {
	return &Server{
		Handler: srv.Handler, Limits: srv.Limits,
		HeaderTimeout: srv.HeaderTimeout, IdleTimeout: srv.IdleTimeout, SendTimeout: srv.SendTimeout, BodyTimeout: srv.BodyTimeout,
		Logger: srv.Logger, OnReject: srv.OnReject, HTTP2: srv.HTTP2, DisableHTTP2: srv.DisableHTTP2, DisableHTTP1: srv.DisableHTTP1,
	}
}

// track adds c to the open connections. It is safe from any goroutine.
func (srv *Server) track(c *conn) {
	srv.mu.Lock()
	c.next = srv.conns
	if c.next != nil {
		c.next.prev = c
	}
	srv.conns = c
	srv.mu.Unlock()
}

// untrack removes c from the open connections, once. It is safe from any
// goroutine.
func (srv *Server) untrack(c *conn) {
	srv.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else if srv.conns == c {
		srv.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	srv.mu.Unlock()
}

// drain runs on the conn's loop when the server drains.
func (c *conn) drain() {
	if c.closed || c.hijacked {
		return
	}
	if c.h2 != nil {
		c.h2drain()
		return
	}
	switch {
	case c.active:
		c.closing = true // after the response under way
	default:
		// Idle between requests, no request yet, or the next head still
		// arriving: the next request is served and its response closes
		// the connection (Connection: close), so that a busy client moves
		// on without a request lost to a close racing it (RFC 9112
		// 9.6). One that sends nothing within drainIdleGrace is closed.
		c.dflags |= drainNext
		if c.began && c.idle || c.dflags&heard == 0 {
			c.timer.Reset(min(drainIdleGrace, c.srv.idleTimeout()))
		}
	}
}

// The bits of conn.dflags.
const (
	drainNext uint8 = 1 << iota
	heard
)

// drainIdleGrace is how long a draining server waits for the next request
// of an idle keep-alive connection, to answer it with Connection: close,
// before it closes the connection.
const drainIdleGrace = time.Second

func (srv *Server) headerTimeout() time.Duration {
	if srv.HeaderTimeout > 0 {
		return srv.HeaderTimeout
	}
	return DefaultHeaderTimeout
}

func (srv *Server) bodyTimeout() time.Duration {
	if srv.BodyTimeout > 0 {
		return srv.BodyTimeout
	}
	return DefaultBodyTimeout
}

func (srv *Server) sendTimeout() time.Duration {
	if srv.SendTimeout > 0 {
		return srv.SendTimeout
	}
	return DefaultSendTimeout
}

func (srv *Server) idleTimeout() time.Duration {
	if srv.IdleTimeout > 0 {
		return srv.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (srv *Server) log() *slog.Logger {
	if srv.Logger != nil {
		return srv.Logger
	}
	return slog.Default()
}

// conn is one client connection: the stream's handler.
type conn struct {
	srv   *Server
	st    transport.Stream
	x     *Exchange // nil while the connection has shed its idle state
	timer transport.Timer
	// prev and next link the Server's open connections (under srv.mu).
	prev, next *conn

	tls       bool // the stream is TLS: requests are https
	active    bool // an exchange has begun and not finished
	lingering bool // FIN sent; waiting for the client's
	idle      bool // between requests, nothing of the next head seen
	closing   bool // no request after the current one
	paused    bool // this conn paused the stream
	inData    bool
	readEOF   bool
	closed    bool
	hijacked  bool

	unread       bool // input left unconsumed (or ignored) at some point
	endAfterData bool // end() was called inside OnData
	sendWait     bool // the timer runs for SendTimeout: output is congested
	bodyWait     bool // the timer runs for BodyTimeout: request body bytes are due
	began        bool // a request has begun on this connection
	// dflags holds drainNext (draining: the next request is the last)
	// and heard (a byte has come from the client), as bits: the conn
	// stays in its size class.
	dflags uint8

	h2 *h2state // the connection speaks HTTP/2 (h2.go)
}

func (c *conn) OnData(s transport.Stream, p []byte) int {
	if c.hijacked || c.closed {
		return len(p)
	}
	if c.h2 != nil {
		if c.lingering {
			return len(p)
		}
		return c.h2Data(p)
	}
	if len(p) > 0 {
		c.dflags |= heard
	}
	c.inData = true
	n := c.consume(p)
	c.inData = false
	if n < len(p) {
		c.unread = true
	}
	if c.endAfterData {
		c.endAfterData = false
		c.end()
	}
	c.watchBody()
	return n
}

// watchBody runs the body timeout while request body bytes are due: the
// request has a body not yet read whole, and the handler takes it (or the
// server drops it). The send timeout, when it runs, has the timer; the
// wait resumes with OnDrained. Re-arming costs no more than a clock read
// (see transport.Timer), so it is done on every read of body bytes.
func (c *conn) watchBody() {
	if c.sendWait || c.closed || c.hijacked {
		return
	}
	x := c.x
	due := c.active && x != nil && !x.reqDone && !c.lingering && !c.closing &&
		(x.discarding || x.onBody != nil && !x.bodyPaused)
	switch {
	case due:
		c.bodyWait = true
		c.timer.Reset(c.srv.bodyTimeout())
	case c.bodyWait:
		c.bodyWait = false
		c.timer.Disarm()
	}
}

func (c *conn) consume(p []byte) int {
	off := 0
	for off < len(p) {
		if !c.active {
			if c.closing {
				// After a response that closes: ignore the rest, and
				// linger so that closing with it unread sends no reset.
				c.unread = true
				return len(p)
			}
			if c.idle {
				c.idle = false
				c.timer.Reset(c.srv.headerTimeout())
			}
			if !c.began && !c.srv.DisableHTTP2 {
				// Prior knowledge: the HTTP/2 preface instead of a request.
				prefix, whole := isPrefacePrefix(p[off:])
				switch {
				case prefix && !whole:
					return off
				case prefix:
					c.startH2()
					return off + c.h2Data(p[off:])
				case c.srv.DisableHTTP1:
					c.srv.log().Debug("not the HTTP/2 preface on an HTTP/2-only port", "remote", c.st.RemoteAddr())
					c.close()
					return len(p)
				}
			}
			x := c.exchange()
			if !x.scan.MayParse(p[off:], &c.srv.Limits) {
				return off // nothing that could end the head or fail it
			}
			n, err := parseRequestHead(p[off:], &x.h1, &c.srv.Limits)
			if err == codecs.ErrNeedMore {
				return off
			}
			x.scan.Reset()
			if err != nil {
				c.fail(err)
				return len(p)
			}
			off += n
			c.begin(p[off-n : off])
			if c.hijacked {
				return off
			}
			if c.active && x.reqDone && x.ended {
				c.finish()
			}
			continue
		}
		x := c.x
		if x.reqDone || x.bodyPaused || (x.onBody == nil && !x.discarding) {
			c.pause()
			return off
		}
		n, err := x.feedBody(p[off:])
		off += n
		if err != nil {
			c.fail(err)
			return len(p)
		}
		if n == 0 && !x.reqDone && !x.bodyPaused {
			return off // need more bytes
		}
		if c.active && x.reqDone && x.ended {
			c.finish()
		}
	}
	return off
}

// begin starts an exchange for the head in head.
func (c *conn) begin(head []byte) {
	c.began = true
	if c.dflags&drainNext != 0 {
		c.closing = true
	}
	x := c.x
	x.head = append(x.head[:0], head...)
	x.h1.Rebase(head, x.head)
	x.reset()
	c.active = true
	c.timer.Disarm()
	x.Req.fill(&x.h1, c.st.RemoteAddr())
	if c.tls {
		x.Req.Scheme = "https"
	}
	kind, n := x.h1.BodyKind()
	x.bodyKind, x.bodyLeft = kind, n
	x.reqDone = kind == http1.BodyNone
	if kind == http1.BodyChunked {
		x.dec.Reset(&c.srv.Limits)
	}
	if _, up := x.h1.Upgrade(); up && !x.reqDone {
		// An upgrade with a body is ambiguous about where the new protocol
		// starts; refuse it.
		c.fail(errUpgradeBody)
		return
	}
	x.headOnly = string(x.Req.Method) == "HEAD"
	if !x.h1.KeepAlive() {
		c.closing = true
	}
	c.serve(x)
}

var errUpgradeBody = errors.New("penstock/httpd: upgrade request with a body")

func (c *conn) serve(x *Exchange) {
	defer func() {
		if r := recover(); r != nil {
			transport.Recovered(c.srv.log(), "http handler panicked; connection closed", r, "remote", c.st.RemoteAddr())
			if !x.wroteHead && !c.closed {
				c.closing = true
				x.Respond(500, nil)
			}
			c.close()
		}
	}()
	c.srv.Handler.ServeHTTP(x)
}

// fail answers a client fault with its status and closes. A handler
// that has the exchange hears of it through OnAbort, with err, and no
// OnEnd; OnReject is for faults no handler saw.
func (c *conn) fail(err error) {
	c.srv.log().Debug("bad request", "remote", c.st.RemoteAddr(), "err", err)
	status := http1.StatusFor(err)
	switch {
	case errors.Is(err, ErrBodyTimeout):
		status = 408
	case status == 0 || errors.Is(err, errUpgradeBody):
		status = 400
	}
	handled := c.active
	if x := c.x; c.active && !x.ended {
		// The handler has this exchange (its body went bad): it ends
		// now, and the handler hears why instead of waiting for the
		// close. It is not recycled (OnClose drops it).
		x.ended = true
		x.onEnd = nil // of OnEnd and OnAbort, only one runs
		if !x.wroteHead {
			x.status = status
		}
		if f := x.onAbort; f != nil {
			x.onAbort = nil
			f(err)
		}
		if c.closed {
			return
		}
	}
	if c.active && c.x.wroteHead {
		c.close()
		return
	}
	if f := c.srv.OnReject; f != nil && !handled {
		f(c.st.RemoteAddr(), status, err)
	}
	c.closing = true
	c.active = true
	x := c.exchange()
	x.status = status
	x.out = appendSimple(x.out[:0], status, "close")
	_ = c.flush()
	c.shutdown()
}

// appendSimple encodes a response with a short text body.
func appendSimple(dst []byte, status int, connection string) []byte {
	text := StatusText(status)
	dst = http1.AppendStatusLine(dst, status, text)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = appendInt(dst, int64(len(text)+1))
	dst = append(dst, "\r\n"...)
	if connection != "" {
		dst = append(dst, "Connection: "...)
		dst = append(dst, connection...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, text...)
	return append(dst, '\n')
}

// finish ends the current exchange once its request body is read and its
// response has ended, and moves on to the next request.
//
// The handler's OnEnd func runs first: it is the handler's last touch of
// the exchange. The Exchange then goes back to the loop's free list, for
// this connection's next request or another's: an idle connection holds
// none. It is put back last, after anything here that could start a new
// request.
func (c *conn) finish() {
	x := c.x
	x.runOnEnd()
	c.active = false
	x.release()
	c.x = nil
	defer c.srv.exchanges.Put(c.st.Loop(), x)
	if c.closing {
		c.end()
		return
	}
	c.idle = true
	// The idle timeout takes over; the next request watches again.
	c.sendWait, c.bodyWait = false, false
	c.timer.Reset(c.srv.idleTimeout())
	if c.readEOF {
		c.shutdown()
		return
	}
	if c.paused {
		c.paused = false
		c.st.ResumeRead()
	}
}

// end closes the connection after a response that ends it. When the
// client has sent nothing beyond the finished request and the response is
// out, it closes at once, as nginx does: a lingering close would cost a
// shutdown, a wait for the client's FIN and one more read per connection.
// Otherwise it lingers (shutdown). Inside OnData the decision waits until
// OnData knows whether bytes are left.
func (c *conn) end() {
	switch {
	case c.closed || c.lingering:
	case c.inData:
		c.endAfterData = true
	case c.unread || c.st.Queued() > 0:
		c.shutdown()
	default:
		c.close()
	}
}

// shutdown sends FIN after the response. The stream closes itself once
// the client has closed too; a client that does not is closed after the
// linger time, so that one still sending does not get a reset that could
// destroy the response before it reads it.
func (c *conn) shutdown() {
	if c.closed || c.lingering {
		return
	}
	if c.h2 != nil {
		c.h2flushNow() // a deferred flush goes before the FIN
	}
	c.lingering = true
	c.closing = true
	_ = c.st.CloseWrite()
	if c.paused {
		c.paused = false
		c.st.ResumeRead()
	}
	c.timer.Reset(lingerTime)
}

// lingerTime bounds how long a closing connection waits for the client's
// FIN after the server's.
const lingerTime = 5 * time.Second

func (c *conn) pause() {
	if !c.paused {
		c.paused = true
		c.st.PauseRead()
	}
}

func (c *conn) close() {
	if !c.closed {
		_ = c.st.Close()
	}
}

// exchange returns the connection's Exchange, making one if the connection
// has none (a new one, or one that shed its idle state).
func (c *conn) exchange() *Exchange {
	if c.x == nil {
		x := c.srv.exchanges.Get(c.st.Loop())
		if x == nil {
			x = &Exchange{}
		}
		x.c = c
		x.scan.Reset()
		c.x = x
	}
	return c.x
}

func (c *conn) onTimer() {
	if c.closed || c.hijacked {
		return
	}
	if c.h2 != nil {
		switch {
		case c.lingering:
			c.close()
		case c.sendWait:
			c.srv.log().Debug("send timeout: the HTTP/2 client takes no response", "remote", c.st.RemoteAddr())
			c.h2abortAll(ErrClientClosed)
			c.close()
		case c.h2.headerWait:
			c.srv.log().Debug("header timeout: an HTTP/2 header block did not end", "remote", c.st.RemoteAddr())
			c.h2abortAll(ErrClientClosed)
			c.closing = true
			c.h2.c.GoAway(http2.ErrCodeNo, "header timeout")
			c.h2flushNow()
			c.shutdown()
		case len(c.h2.xs) == 0:
			// No stream for IdleTimeout, or no preface and SETTINGS
			// within HeaderTimeout.
			c.closing = true
			c.h2.c.GoAway(http2.ErrCodeNo, "idle")
			c.h2flushNow()
			c.shutdown()
		}
		return
	}
	switch {
	case c.lingering, c.idle, c.dflags&drainNext != 0 && c.dflags&heard == 0:
		c.close() // idle, or drained before the client said anything
	case c.sendWait:
		c.srv.log().Debug("send timeout: the client takes no response", "remote", c.st.RemoteAddr())
		c.close()
	case c.bodyWait:
		c.bodyWait = false
		if c.active && c.x != nil && !c.x.reqDone {
			c.fail(ErrBodyTimeout)
		}
	case !c.active:
		// The head did not arrive in time.
		c.closing = true
		c.active = true
		x := c.exchange()
		x.out = appendSimple(x.out[:0], 408, "close")
		_ = c.flush()
		c.shutdown()
	}
}

func (c *conn) OnReadEOF(s transport.Stream) {
	c.readEOF = true
	if c.hijacked {
		return
	}
	if c.h2 != nil {
		// A client that stops sending ends every stream it has open.
		c.h2abortAll(ErrClientClosed)
		c.close()
		return
	}
	x := c.x // set whenever c.active
	switch {
	case c.lingering:
		// The stream closes itself once the FIN is out.
	case !c.active:
		c.shutdown()
	case !x.reqDone:
		// The client stopped in the middle of its body.
		c.close()
	default:
		// The request is whole: answer it, then close.
		c.closing = true
		if f := x.onEOF; f != nil {
			x.onEOF = nil
			f()
		}
	}
}

func (c *conn) OnDrained(s transport.Stream) {
	if c.hijacked {
		return
	}
	if c.h2 != nil {
		c.h2onDrained()
		return
	}
	if c.sendWait {
		c.sendWait = false
		if c.active {
			c.timer.Disarm()
			c.watchBody()
		}
	}
	if c.active {
		if f := c.x.onDrained; f != nil {
			f()
		}
	}
}

func (c *conn) OnClose(s transport.Stream, err error) {
	c.closed = true
	c.timer.Stop()
	c.srv.untrack(c)
	if c.hijacked {
		return
	}
	if c.h2 != nil {
		c.h2abortAll(errOrClosed(err))
		st := c.h2.c.Stats()
		c.srv.mu.Lock()
		c.srv.h2stats.Add(st)
		c.srv.h2conns++
		c.srv.mu.Unlock()
		if st.Calmed > 0 {
			c.srv.log().Info("http2 connection ended for too many glitches (floods, resets, malformed frames)",
				"remote", c.st.RemoteAddr(), "peer_resets", st.PeerResets, "stream_errors", st.StreamErrors, "glitches", st.Glitches)
		}
		return
	}
	if x := c.x; c.active {
		if !x.ended {
			if f := x.onAbort; f != nil {
				x.onAbort = nil
				f(errOrClosed(err))
			}
		} else {
			// The response ended, but the request body was still being
			// read or dropped: the exchange is over now.
			x.runOnEnd()
		}
	}
	// The Exchange is not put back: the handler of an aborted one may
	// still hold it.
	c.x = nil
}

// ErrBodyTimeout is what an exchange's abort callback gets when the
// client sent no request body byte for the Server's BodyTimeout.
var ErrBodyTimeout = errors.New("penstock/httpd: client body timeout")

// ErrClientClosed is what an exchange's abort callback gets when the
// client went away before the response ended.
var ErrClientClosed = errors.New("penstock/httpd: client closed the connection")

func errOrClosed(err error) error {
	if err == nil {
		return ErrClientClosed
	}
	return errors.Join(ErrClientClosed, err)
}

var _ transport.Handler = (*conn)(nil)
