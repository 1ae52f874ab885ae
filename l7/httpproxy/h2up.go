package httpproxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"unsafe"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// Protocol is how the proxy speaks to a group's endpoints.
type Protocol uint8

const (
	// HTTP1 is HTTP/1.1 (over TLS when the group has TLS); the default.
	HTTP1 Protocol = iota
	// H2 is HTTP/2 over TLS, negotiated by ALPN (the group's TLS config
	// must offer "h2"); an endpoint that does not agree fails the connect.
	H2
	// H2C is HTTP/2 over cleartext TCP with prior knowledge.
	H2C
	// Auto is HTTP/2 when TLS's ALPN chose h2, HTTP/1.1 otherwise (and
	// always on cleartext).
	Auto
)

// ParseProtocol reads a protocol name: http1, h2, h2c or auto.
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "", "http1":
		return HTTP1, nil
	case "h2":
		return H2, nil
	case "h2c":
		return H2C, nil
	case "auto":
		return Auto, nil
	}
	return 0, fmt.Errorf("unknown upstream protocol %q: want http1, h2, h2c or auto", s)
}

// String is the protocol's name, as ParseProtocol reads it.
func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case H2:
		return "h2"
	case H2C:
		return "h2c"
	case Auto:
		return "auto"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

func (p *Proxy) protocol(g *l4.Group) Protocol {
	if g == nil || p.UpstreamProtocols == nil {
		return HTTP1
	}
	return p.UpstreamProtocols[g.Name]
}

// h2up is one multiplexed HTTP/2 connection to an endpoint: the handler
// of its stream, shared by the sessions of its loop.
type h2up struct {
	pool    *loopPool
	ep      *l4.Endpoint
	st      transport.Stream
	c       *http2.Conn
	streams map[uint32]*h2stream
	idle    *transport.Timer
	feeding bool
	queued  bool // a flush waits for a loop task
	flushFn func()
	strs    http2.Strings // the strings of the heads it sends
	free    []*h2stream   // finished streams' records, for the next ones
	closed  bool
	dead    bool // no new streams: GOAWAY, an error, or closing
}

// h2stream is a session's stream on an h2up.
type h2stream struct {
	uc     *h2up
	s      *Session
	id     uint32
	timer  *transport.Timer
	out    []byte // request body the upstream's windows hold back
	outEnd bool
	held   int // response body bytes given downstream while the client was congested
	head   bool
	done   bool
	freed  bool // in its connection's free list
}

func (hs *h2stream) onTimer() {
	if s := hs.s; s != nil {
		s.h2Timeout(hs)
	}
}

// usable reports whether uc takes another stream now.
func (uc *h2up) usable() bool {
	return !uc.closed && !uc.dead && !uc.c.GoingAway() &&
		uint32(len(uc.streams)) < uc.c.PeerMaxConcurrentStreams()
}

// flush sends what the codec has for the upstream, in a loop task: the
// requests of the sessions that start in one turn of the loop leave in one
// write.
func (uc *h2up) flush() {
	if uc.feeding || uc.closed || uc.queued || len(uc.c.Output()) == 0 {
		return
	}
	uc.queued = true
	if !transport.Defer(uc.st.Loop(), uc.flushFn) {
		uc.flushNow()
	}
}

func (uc *h2up) flushNow() {
	uc.queued = false
	if uc.closed {
		return
	}
	if out := uc.c.Output(); len(out) > 0 {
		_, _ = uc.st.Write(out)
		uc.c.ClearOutput()
	}
}

func (uc *h2up) OnData(st transport.Stream, p []byte) int {
	uc.feeding = true
	n, err := uc.c.Feed(p)
	uc.feeding = false
	uc.flushNow()
	if err != nil {
		uc.pool.p.log().Warn("upstream HTTP/2 connection error", "upstream", uc.ep.Addr, "err", err)
		uc.fail(KindBadResponse, fmt.Errorf("%w: %w", ErrBadResponse, err))
		_ = uc.st.CloseWrite()
		return len(p)
	}
	return n
}

func (uc *h2up) OnReadEOF(st transport.Stream) {
	uc.fail(KindClosed, ErrUpstreamClosed)
	_ = st.Close()
}

func (uc *h2up) OnDrained(st transport.Stream) {
	for _, hs := range uc.streams {
		if hs.s != nil && !hs.s.done && len(hs.out) == 0 {
			hs.s.X.ResumeBody()
		}
	}
}

func (uc *h2up) OnClose(st transport.Stream, err error) {
	uc.closed = true
	uc.pool.h2open[uc.ep]--
	if uc.idle != nil {
		uc.idle.Stop()
	}
	if err == nil {
		err = ErrUpstreamClosed
	}
	uc.fail(KindClosed, fmt.Errorf("%w: %w", ErrUpstreamClosed, err))
	uc.pool.forgetH2(uc)
}

// fail ends every stream of uc with an upstream error.
func (uc *h2up) fail(kind Kind, err error) {
	uc.dead = true
	for id, hs := range uc.streams {
		delete(uc.streams, id)
		if s := hs.s; s != nil {
			s.h2Failed(hs, kind, err, false)
		}
	}
	uc.pool.forgetH2(uc)
}

// remove forgets hs, whose record goes back to uc's free list (the last
// touch: every caller has let go of hs); an idle connection closes after
// the idle timeout.
func (uc *h2up) remove(hs *h2stream) {
	if uc.streams[hs.id] == hs {
		delete(uc.streams, hs.id)
	}
	hs.timer.Disarm()
	if hs.done && !hs.freed {
		timer, fn := hs.timer, hs.out[:0]
		*hs = h2stream{uc: uc, timer: timer, out: fn, freed: true}
		uc.free = append(uc.free, hs)
	}
	if len(uc.streams) == 0 && !uc.closed {
		if uc.dead {
			_ = uc.st.Close()
			return
		}
		if uc.idle == nil {
			uc.idle = transport.NewTimer(uc.st.Loop(), func() {
				if len(uc.streams) == 0 && !uc.closed {
					uc.dead = true
					uc.c.GoAway(http2.ErrCodeNo, "idle")
					uc.flushNow()
					_ = uc.st.Close()
				}
			})
		}
		uc.idle.Reset(uc.pool.p.idleTimeout())
	}
}

// drop ends the session's use of hs: the stream is reset if it is still
// open.
func (hs *h2stream) drop() {
	if hs.done {
		return
	}
	hs.done = true
	hs.s = nil
	uc := hs.uc
	uc.c.Reset(hs.id, http2.ErrCodeCancel)
	uc.flush()
	uc.remove(hs)
}

// The codec's events.
type h2upEvents h2up

func (e *h2upEvents) OnHeaders(c *http2.Conn, id uint32, h *http2.Header, end bool) {
	uc := (*h2up)(e)
	hs := uc.streams[id]
	if hs == nil || hs.s == nil {
		return
	}
	s := hs.s
	if h.Trailers {
		hs.finish()
		s.onResponseBody(nil, true, s.h2fields(h.Fields))
		return
	}
	if h.Status < 200 {
		if h.Status != 100 {
			_ = s.X.WriteHead(h.Status, s.h2fields(h.Fields)...)
		}
		return
	}
	hs.head = true
	hs.timer.Reset(s.p.readTimeout())
	if e := s.onResponseHeadH2(h); e != nil {
		s.abortH2(hs, e)
		return
	}
	if end {
		hs.finish()
		s.onResponseBody(nil, true, nil)
	}
}

func (e *h2upEvents) OnData(c *http2.Conn, id uint32, p []byte, end bool) {
	uc := (*h2up)(e)
	hs := uc.streams[id]
	if hs == nil || hs.s == nil {
		c.Consumed(id, len(p))
		return
	}
	s := hs.s
	if end {
		hs.finish()
	} else {
		hs.timer.Reset(s.p.readTimeout())
	}
	s.onResponseBody(p, end, nil)
	if end || s.done || s.X == nil {
		c.Consumed(id, len(p))
		return
	}
	if s.X.Writable() {
		c.Consumed(id, len(p))
	} else {
		// The client is slow: the stream's window stays taken, so the
		// upstream stops on this stream alone.
		hs.held += len(p)
		hs.timer.Disarm()
	}
}

func (e *h2upEvents) OnReset(c *http2.Conn, id uint32, code http2.ErrCode, remote bool) {
	uc := (*h2up)(e)
	hs := uc.streams[id]
	if hs == nil {
		return
	}
	delete(uc.streams, id)
	hs.done = true
	if s := hs.s; s != nil {
		// REFUSED_STREAM (or a GOAWAY above it) means the upstream did
		// not process the request: safe to send again.
		who := "the upstream"
		if !remote {
			who = "the proxy, for the upstream's error"
		}
		s.h2Failed(hs, KindClosed, fmt.Errorf("%w: stream reset by %s (%v)", ErrUpstreamClosed, who, code), code == http2.ErrCodeRefusedStream)
	}
	uc.remove(hs)
}

func (e *h2upEvents) OnGoAway(c *http2.Conn, last uint32, code http2.ErrCode) {
	uc := (*h2up)(e)
	uc.dead = true
	uc.pool.forgetH2(uc)
}

func (e *h2upEvents) OnWritable(c *http2.Conn, id uint32) {
	uc := (*h2up)(e)
	if hs := uc.streams[id]; hs != nil && hs.s != nil {
		hs.s.h2SendBody(hs)
		uc.flush()
	}
}

// finish says the response ended on hs: the stream is done for the
// connection (the codec closes it).
func (hs *h2stream) finish() {
	hs.done = true
	if s := hs.s; s != nil && s.h2 == hs {
		s.h2 = nil
	}
	hs.uc.remove(hs)
}

// resume gives back the window a congested client held, once it drained.
func (hs *h2stream) resume() {
	if hs.held > 0 && !hs.done {
		hs.uc.c.Consumed(hs.id, hs.held)
		hs.held = 0
		hs.timer.Reset(hs.s.p.readTimeout())
		hs.uc.flush()
	}
}

// connectH2 sends the request on a multiplexed connection to ep, dialing
// one when the loop has none that takes another stream.
func (s *Session) connectH2(ep *l4.Endpoint, proto Protocol) {
	pool := s.p.pool(s.X.Loop())
	if uc := pool.h2[ep]; uc != nil && uc.usable() && !s.fresh {
		s.Reused = true
		s.sendH2(uc)
		return
	}
	if w, dialing := pool.h2wait[ep]; dialing {
		// A connection being dialed is a fresh one: a retry that wants
		// one joins its waiters (replacing them would strand them).
		s.Reused, s.fresh = false, false
		pool.h2wait[ep] = append(w, h2waiter{s, s.gen})
		return
	}
	s.Reused = false
	s.fresh = false
	pool.h2wait[ep] = []h2waiter{{s, s.gen}}
	loop, timeout := s.X.Loop(), s.p.connectTimeout()
	go func() {
		network, addr := ep.Network()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		nc, err := (&net.Dialer{KeepAlive: -1, Control: transport.DialControl}).DialContext(ctx, network, addr)
		cancel()
		if err != nil {
			loop.Execute(func() { pool.h2Dialed(ep, nil, nil, err) })
			return
		}
		transport.AttachWait(loop, nc, func(st transport.Stream, err error) {
			if err != nil || ep.TLS == nil {
				pool.h2Dialed(ep, st, nil, err)
				return
			}
			transport.TLSClient(st, ep.TLS, timeout, func(ts transport.Stream, err error) {
				if err != nil {
					pool.h2Dialed(ep, nil, nil, err)
					return
				}
				cs, _ := transport.ConnectionState(ts)
				if cs.NegotiatedProtocol != "h2" {
					if proto == H2 {
						_ = ts.Close()
						pool.h2Dialed(ep, nil, nil, fmt.Errorf("the upstream did not agree to h2 by ALPN (got %q)", cs.NegotiatedProtocol))
						return
					}
					pool.h2Dialed(ep, nil, ts, nil) // auto: HTTP/1.1
					return
				}
				pool.h2Dialed(ep, ts, nil, nil)
			})
		})
	}()
}

type h2waiter struct {
	s   *Session
	gen uint64
}

// h2Dialed hands the outcome of a dial to every session that waited for
// it: an HTTP/2 stream (h2), an HTTP/1.1 one (h1, from Auto), or err.
func (lp *loopPool) h2Dialed(ep *l4.Endpoint, h2st, h1st transport.Stream, err error) {
	waiters := lp.h2wait[ep]
	delete(lp.h2wait, ep)
	var uc *h2up
	if err == nil && h2st != nil {
		uc = &h2up{pool: lp, ep: ep, st: h2st, streams: map[uint32]*h2stream{}}
		uc.flushFn = uc.flushNow
		uc.c = http2.NewConn(http2.Client, http2.Config{}, (*h2upEvents)(uc))
		h2st.SetHandler(uc)
		lp.h2open[ep]++
		uc.flushNow()
		lp.h2[ep] = uc
	}
	for i, w := range waiters {
		s := w.s
		if s.gen != w.gen || s.done {
			continue
		}
		switch {
		case err != nil:
			s.connectFailed(err)
		case uc != nil:
			if i == 0 {
				s.Group.MarkOK(ep)
			}
			if uc.usable() {
				s.sendH2(uc)
			} else {
				s.connectH2(ep, s.p.protocol(s.Group))
			}
		case h1st != nil && i == 0:
			s.Group.MarkOK(ep)
			s.send(lp.newConn(ep, h1st))
		default:
			s.connect() // the HTTP/1.1 connection went to the first waiter
		}
	}
	if h1st != nil && (len(waiters) == 0 || waiters[0].s.gen != waiters[0].gen || waiters[0].s.done) {
		lp.put(lp.newConn(ep, h1st))
	}
}

func (lp *loopPool) forgetH2(uc *h2up) {
	if lp.h2[uc.ep] == uc {
		delete(lp.h2, uc.ep)
	}
}

// sendH2 opens the session's stream on uc with the request head and
// streams the body after it.
func (s *Session) sendH2(uc *h2up) {
	r := &s.h2req
	*r = http2.Header{Method: uc.strs.Get(s.X.Req.Method), Scheme: "http", Path: uc.strs.Get(s.UpstreamPath)}
	if uc.ep.TLS != nil {
		r.Scheme = "https"
	}
	fields := s.h2fieldsBuf[:0]
	for _, f := range s.UpstreamHeader.Fields {
		name := http2.LowerName(f.Name)
		if http2.ConnectionSpecific(name) {
			continue
		}
		switch name {
		case "host":
			r.Authority = uc.strs.Get(f.Value)
			continue
		case "te":
			continue // sent again below when it is "trailers"
		case "content-length":
			if s.chunkUp {
				continue
			}
		case "grpc-timeout", "traceparent":
			// What is left of the deadline differs on every request: not
			// interned, and never indexed, so that it churns neither the
			// strings table nor the upstream's HPACK table.
			fields = append(fields, hpack.HeaderField{Name: name, Value: string(f.Value), Sensitive: true})
			continue
		}
		fields = append(fields, hpack.HeaderField{Name: name, Value: uc.strs.Get(f.Value)})
	}
	if r.Authority == "" {
		r.Authority = s.Upstream.Addr
	}
	if v, ok := s.X.Req.Header("te"); ok && equalFold(v, "trailers") {
		fields = append(fields, hpack.HeaderField{Name: "te", Value: "trailers"})
	}
	if v, ok := s.X.Req.Header("trailer"); ok {
		// The declaration of the request's trailers (some servers, Go's
		// among them, keep only declared ones); end-to-end in RFC 9110.
		fields = append(fields, hpack.HeaderField{Name: "trailer", Value: uc.strs.Get(v)})
	}
	s.h2fieldsBuf = fields
	noBody := s.X.BodyDone() && s.X.Req.ContentLength == 0
	id, err := uc.c.OpenStream(r, fields, noBody)
	clear(fields)
	if err != nil {
		// The connection filled up or went away meanwhile: another one.
		s.fresh = true
		s.connectH2(uc.ep, s.p.protocol(s.Group))
		return
	}
	var hs *h2stream
	if n := len(uc.free); n > 0 {
		hs = uc.free[n-1]
		uc.free[n-1] = nil
		uc.free = uc.free[:n-1]
	} else {
		hs = &h2stream{uc: uc}
		hs.timer = transport.NewTimer(uc.st.Loop(), hs.onTimer)
	}
	hs.s, hs.id, hs.freed = s, id, false
	uc.streams[id] = hs
	if uc.idle != nil {
		uc.idle.Disarm()
	}
	s.h2 = hs
	s.sentAt = transport.Clock()
	hs.timer.Reset(s.p.responseTimeout())
	uc.flush()
	if noBody {
		s.reqSent = true
		return
	}
	s.X.ReadBody(s.bodyFn)
}

// h2Body sends request body bytes on the session's stream; what the
// upstream's windows do not take waits, and the client is paused.
func (s *Session) h2Body(hs *h2stream, p []byte, end bool) {
	if f := s.p.RequestBodyFilter; f != nil {
		p = f(s, p, end)
	}
	s.RequestBytes += int64(len(p))
	if len(p) > 0 {
		s.bodyStarted = true
	}
	hs.out = append(hs.out, p...)
	hs.outEnd = hs.outEnd || end
	s.h2SendBody(hs)
	hs.uc.flush()
	if !hs.outEnd && (len(hs.out) > 0 || !hs.uc.st.Writable()) {
		s.X.PauseBody()
	}
}

// h2SendBody sends what h2Body kept, as the windows allow.
func (s *Session) h2SendBody(hs *h2stream) {
	if len(hs.out) == 0 && !hs.outEnd || s.reqSent {
		return
	}
	trailers := hs.outEnd && len(s.X.Trailers()) > 0
	n, err := hs.uc.c.WriteData(hs.id, hs.out, hs.outEnd && !trailers)
	if err != nil {
		return // the stream is gone: its reset reaches the session
	}
	k := copy(hs.out, hs.out[n:])
	hs.out = hs.out[:k]
	if k == 0 {
		if hs.outEnd {
			if trailers {
				// The request's trailers go on (gRPC and others use them).
				fields := s.h2fieldsBuf[:0]
				for _, f := range s.X.Trailers() {
					fields = append(fields, hpack.HeaderField{Name: strings.ToLower(string(f.Name)), Value: string(f.Value)})
				}
				_ = hs.uc.c.WriteTrailers(hs.id, fields)
				clear(fields)
				s.h2fieldsBuf = fields[:0]
			}
			s.reqSent = true
			hs.timer.Reset(s.p.responseTimeout())
		} else if hs.uc.st.Writable() {
			s.X.ResumeBody()
		}
	}
}

func (s *Session) h2Timeout(hs *h2stream) {
	if s.h2 != hs || s.done {
		return
	}
	what := "no byte of the response body"
	d := s.p.readTimeout()
	if !hs.head {
		what, d = "no response head", s.p.responseTimeout()
	}
	s.h2Failed(hs, KindTimeout, fmt.Errorf("%w: %s within %v", ErrUpstreamTimeout, what, d), false)
}

// h2Failed handles a failure of the session's stream hs; refused says the
// upstream did not process the request.
func (s *Session) h2Failed(hs *h2stream, kind Kind, err error, refused bool) {
	if s.done || s.h2 != hs {
		return
	}
	retry := s.retrySafety()
	if refused {
		retry = RetrySafe
	}
	s.abortH2(hs, &Error{Source: Upstream, Kind: kind, Retry: retry, Err: err})
}

// abortH2 is abort for a stream on a multiplexed connection.
func (s *Session) abortH2(hs *h2stream, e *Error) {
	if s.done || s.h2 != hs {
		return
	}
	hs.drop()
	s.h2 = nil
	s.abortUpstream(e, e.Retry == RetrySafe && e.Kind == KindClosed)
}

// onResponseHeadH2 is onResponseHead for an HTTP/2 response.
func (s *Session) onResponseHeadH2(h *http2.Header) *Error {
	s.UpstreamLatency = transport.Clock() - s.sentAt
	s.Status = h.Status
	s.ResponseHeader.Fields = append(s.ResponseHeader.Fields, s.h2fields(h.Fields)...)
	return s.sendResponseHead()
}

// h2fields views HTTP/2 fields as httpd fields, without copies (the
// codec's strings are immutable).
func (s *Session) h2fields(fs []hpack.HeaderField) []httpd.Field {
	out := s.h2resp[:0]
	for _, f := range fs {
		out = append(out, httpd.Field{Name: bytesOf(f.Name), Value: bytesOf(f.Value)})
	}
	s.h2resp = out
	return out
}

func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
