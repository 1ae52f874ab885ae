package httpproxy

import (
	"fmt"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// upConn states.
const (
	upIdle uint8 = iota
	upHead
	upBody
	upDone
)

// upConn is one upstream connection: the handler of its stream, idle in
// its loop's pool or carrying one session's exchange.
type upConn struct {
	pool  *loopPool
	ep    *l4.Endpoint
	st    transport.Stream
	s     *Session
	timer *transport.Timer
	resp  http1.Response
	dec   http1.ChunkedDecoder
	// scan follows a response head that arrives over several reads.
	scan http1.HeadScan

	state     uint8
	kind      http1.BodyKind
	left      int64
	keepAlive bool
	paused    bool
	closed    bool
	inPool    bool
	uncounted bool          // out of the pool's open count (loopPool.gone)
	idleSince time.Duration // transport.Clock() when it went into the pool
	// headBy is the transport.Clock() reading by which the response head
	// must have come (ResponseTimeout).
	headBy time.Duration
}

// begin starts carrying s.
func (c *upConn) begin(s *Session) {
	c.s = s
	c.state = upHead
	c.paused = false
	c.scan.Reset()
	if c.timer == nil {
		c.timer = transport.NewTimer(c.st.Loop(), c.onTimeout)
	}
	c.sent()
}

// sent starts the wait for the response head again: some of the request
// went upstream.
func (c *upConn) sent() {
	p := c.s.p
	c.headBy = transport.Clock() + p.responseTimeout()
	c.timer.Reset(min(p.readTimeout(), p.responseTimeout()))
}

// headProgress re-arms the timer after part of a response head came: the
// next byte is due within ReadTimeout, the whole head by headBy.
func (c *upConn) headProgress() {
	c.timer.Reset(min(c.s.p.readTimeout(), c.headBy-transport.Clock()))
}

func (c *upConn) onTimeout() {
	s := c.s
	if s == nil || s.done || c.paused {
		return
	}
	switch c.state {
	case upHead:
		if transport.Clock() >= c.headBy {
			s.upstreamFailed(c, KindTimeout, fmt.Errorf("%w: no response head within %v", ErrUpstreamTimeout, s.p.responseTimeout()))
			return
		}
		s.upstreamFailed(c, KindTimeout, fmt.Errorf("%w: no byte of the response head for %v", ErrUpstreamTimeout, s.p.readTimeout()))
	case upBody:
		s.upstreamFailed(c, KindTimeout, fmt.Errorf("%w: no byte of the response body for %v", ErrUpstreamTimeout, s.p.readTimeout()))
	}
}

// drop closes the connection and detaches it from its session.
func (c *upConn) drop() {
	c.s = nil
	c.state = upDone
	if c.timer != nil {
		c.timer.Stop()
	}
	if !c.closed {
		_ = c.st.Close()
	}
}

func (c *upConn) OnData(st transport.Stream, p []byte) int {
	s := c.s
	if s == nil || c.state == upIdle || c.state == upDone {
		// Bytes nobody asked for: the connection's framing is lost.
		c.drop()
		return len(p)
	}
	off := 0
	for off < len(p) && c.s == s && !s.done {
		switch c.state {
		case upHead:
			if !c.scan.MayParse(p[off:], nil) {
				c.headProgress()
				return off
			}
			n, err := http1.ParseResponseHead(p[off:], &c.resp, nil)
			if err == codecs.ErrNeedMore {
				c.headProgress()
				return off
			}
			c.scan.Reset()
			if err != nil {
				s.upstreamFailed(c, KindBadResponse, fmt.Errorf("%w: %w", ErrBadResponse, err))
				return len(p)
			}
			off += n
			code := c.resp.StatusCode
			if code == 101 {
				if !s.upgrade {
					s.upstreamFailed(c, KindBadResponse, fmt.Errorf("%w: 101 to a request without Upgrade", ErrBadResponse))
					return len(p)
				}
				c.timer.Stop()
				c.upgrade(s)
				return off
			}
			if code < 200 {
				// Interim responses (103 Early Hints and the like) go to
				// the client; a 100 Continue does not, since the server
				// answers the client's Expect itself.
				if code != 100 {
					s.forwardInterim(&c.resp)
				}
				c.headProgress()
				continue
			}
			// The body's bytes are waited for with ReadTimeout, re-armed
			// once per read below unless the response ends in this one.
			c.timer.Disarm()
			kind, n64 := c.resp.BodyKind(s.X.Req.Method)
			c.kind, c.left = kind, n64
			c.keepAlive = c.resp.KeepAlive() && kind != http1.BodyCloseDelimited
			if kind == http1.BodyChunked {
				c.dec.Reset(nil)
			}
			if e := s.onResponseHead(&c.resp); e != nil {
				s.abort(c, e)
				return len(p)
			}
			c.state = upBody
			if kind == http1.BodyNone {
				c.endResponse(nil)
			}
		case upBody:
			n := c.body(p[off:])
			if n < 0 {
				return len(p)
			}
			off += n
			if n == 0 {
				return off
			}
		default:
			// Bytes after the response on a connection meant for reuse.
			c.keepAlive = false
			return len(p)
		}
	}
	if c.s == s && c.state == upBody {
		switch {
		case c.paused:
		case !s.X.Writable():
			// The wait is the client's now (its send timeout).
			c.paused = true
			c.timer.Disarm()
			st.PauseRead()
		default:
			c.timer.Reset(s.p.readTimeout())
		}
	}
	return off
}

// resume reads the response body again once the client has taken what
// was sent; its bytes are due within ReadTimeout from now.
func (c *upConn) resume() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.s != nil && c.state == upBody {
		c.timer.Reset(c.s.p.readTimeout())
	}
	c.st.ResumeRead()
}

// body forwards body bytes from the start of p and returns how many it
// consumed, or -1 after a failure.
func (c *upConn) body(p []byte) int {
	s := c.s
	switch c.kind {
	case http1.BodyContentLength:
		k := min(int64(len(p)), c.left)
		c.left -= k
		end := c.left == 0
		if end {
			c.endResponse(p[:k])
		} else {
			s.onResponseBody(p[:k], false, nil)
		}
		return int(k)
	case http1.BodyChunked:
		data, n, err := c.dec.Decode(p)
		switch {
		case err == nil:
			s.onResponseBody(data, false, nil)
		case err == http1.ErrBodyDone:
			c.endResponseTrailers(c.dec.Trailers())
		case err == codecs.ErrNeedMore:
		default:
			s.upstreamFailed(c, KindBadResponse, fmt.Errorf("%w: %w", ErrBadResponse, err))
			return -1
		}
		return n
	case http1.BodyCloseDelimited:
		s.onResponseBody(p, false, nil)
		return len(p)
	}
	return 0
}

func (c *upConn) endResponse(last []byte) {
	c.state = upDone
	c.timer.Disarm()
	s := c.s
	c.maybeDone()
	s.onResponseBody(last, true, nil)
}

func (c *upConn) endResponseTrailers(trailers []httpd.Field) {
	c.state = upDone
	c.timer.Disarm()
	s := c.s
	c.maybeDone()
	s.onResponseBody(nil, true, trailers)
}

// maybeDone releases the connection at the end of the response: to the
// pool when the whole request went out and both sides keep it alive.
func (c *upConn) maybeDone() {
	s := c.s
	if s == nil {
		return
	}
	if s.up == c {
		s.up = nil
	}
	if c.keepAlive && s.reqSent && !c.closed {
		c.pool.put(c)
		return
	}
	c.drop()
}

// upgrade turns the client and upstream streams into a relay after a 101.
func (c *upConn) upgrade(s *Session) {
	if e := s.onResponseHead(&c.resp); e != nil {
		s.abort(c, e)
		return
	}
	// The session ends with the hijack (its OnEnd logs it): nothing
	// touches it after.
	s.up = nil
	s.done = true
	c.s = nil
	c.state = upDone
	down, err := s.X.Hijack()
	if err != nil {
		c.drop()
		return
	}
	c.pool.gone(c) // a relay now, no longer the pool's
	l4.Pipe(down, c.st, l4.PipeOptions{})
}

func (c *upConn) OnReadEOF(st transport.Stream) {
	s := c.s
	switch {
	case s == nil:
		c.drop()
	case c.state == upBody && c.kind == http1.BodyCloseDelimited:
		c.keepAlive = false
		c.endResponse(nil)
	case c.state == upHead || c.state == upBody:
		s.upstreamFailed(c, KindClosed, ErrUpstreamClosed)
	}
}

func (c *upConn) OnDrained(st transport.Stream) {
	if s := c.s; s != nil && !s.done {
		if c.state == upHead && !s.reqSent {
			c.timer.Disarm() // the rest of the body is the client's to send
		}
		s.X.ResumeBody()
	}
}

func (c *upConn) OnClose(st transport.Stream, err error) {
	c.closed = true
	c.pool.gone(c)
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.inPool {
		c.pool.remove(c)
	}
	if s := c.s; s != nil && (c.state == upHead || c.state == upBody) {
		if err == nil {
			err = ErrUpstreamClosed
		}
		s.upstreamFailed(c, KindClosed, fmt.Errorf("%w: %w", ErrUpstreamClosed, err))
	}
}

var _ transport.Handler = (*upConn)(nil)

// loopPool keeps one event loop's idle upstream connections. It is only
// used on its loop, so it needs no lock.
type loopPool struct {
	p     *Proxy
	loop  transport.Loop
	idle  map[*l4.Endpoint][]*upConn
	sweep *transport.Timer
	// h2 is the multiplexed connection new streams to an endpoint take;
	// h2wait the sessions waiting for one being dialed (h2up.go).
	h2     map[*l4.Endpoint]*h2up
	h2wait map[*l4.Endpoint][]h2waiter
	// open counts the HTTP/1.1 connections (idle or in use) and h2open
	// the HTTP/2 ones of each endpoint, for PoolStats.
	open, h2open map[*l4.Endpoint]int
}

func (lp *loopPool) newConn(ep *l4.Endpoint, st transport.Stream) *upConn {
	c := &upConn{pool: lp, ep: ep, st: st}
	st.SetHandler(c)
	lp.open[ep]++
	return c
}

// gone takes c out of the open count, once: it closed, or became a relay.
func (lp *loopPool) gone(c *upConn) {
	if !c.uncounted {
		c.uncounted = true
		lp.open[c.ep]--
	}
}

// get takes the most recently used idle connection to ep.
func (lp *loopPool) get(ep *l4.Endpoint) *upConn {
	list := lp.idle[ep]
	for len(list) > 0 {
		c := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		lp.idle[ep] = list
		c.inPool = false
		if !c.closed {
			return c
		}
	}
	return nil
}

// put keeps c for reuse, or closes it when the pool is full.
func (lp *loopPool) put(c *upConn) {
	c.s = nil
	c.state = upIdle
	if c.paused {
		c.paused = false
		c.st.ResumeRead()
	}
	if c.closed || len(lp.idle[c.ep]) >= lp.p.maxIdle() {
		c.drop()
		return
	}
	c.inPool = true
	c.idleSince = transport.Clock()
	lp.idle[c.ep] = append(lp.idle[c.ep], c)
	if lp.sweep == nil {
		lp.sweep = transport.NewTimer(lp.loop, lp.expire)
		lp.sweep.Reset(lp.p.idleTimeout())
	}
}

func (lp *loopPool) remove(c *upConn) {
	list := lp.idle[c.ep]
	for i, o := range list {
		if o == c {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			lp.idle[c.ep] = list[:len(list)-1]
			break
		}
	}
	c.inPool = false
}

// expire closes connections idle for longer than the idle timeout.
func (lp *loopPool) expire() {
	limit := transport.Clock() - lp.p.idleTimeout()
	for ep, list := range lp.idle {
		keep := list[:0]
		for _, c := range list {
			if c.idleSince < limit {
				c.inPool = false
				c.drop()
				continue
			}
			keep = append(keep, c)
		}
		clear(list[len(keep):])
		lp.idle[ep] = keep
	}
	lp.sweep.Reset(lp.p.idleTimeout() / 2)
}
