package httpd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/transport"
)

// HTTP/2 on the same Server (codecs/http2 on the stream's loop): a
// cleartext connection whose first bytes are the HTTP/2 connection preface
// (prior knowledge), or a TLS stream whose ALPN chose "h2" (AcceptH2). Each
// stream is an Exchange with the same methods as an HTTP/1.1 one. The h2c
// Upgrade header of RFC 7540 is not offered: RFC 9113 deprecates it and
// curl, browsers and gRPC use prior knowledge or ALPN.

// h2state is a conn's HTTP/2 side.
type h2state struct {
	c           *http2.Conn
	xs          map[uint32]*Exchange
	feeding     bool
	flushQueued bool
	headerWait  bool // the timer runs for HeaderTimeout: a header block is under way
	flushFn     func()
	lastTick    time.Time
	strs        *http2.Strings   // the loop's: the strings of the heads it sends
	goAwayTimer *transport.Timer // a drain's final GOAWAY (h2drain)
}

// ErrHTTP2Hijack is returned by Hijack on an HTTP/2 stream: there is no
// connection of its own to take.
var ErrHTTP2Hijack = errors.New("penstock/httpd: Hijack on an HTTP/2 stream")

// glitchTick is how often a connection's glitch points are halved.
const glitchTick = 10 * time.Second

// AcceptH2 serves HTTP/2 on s from its first byte: a TLS stream whose ALPN
// chose "h2" (transport.TLS.NextProto["h2"] = srv.AcceptH2). It runs on
// s's loop.
func (srv *Server) AcceptH2(s transport.Stream) {
	c := &conn{srv: srv, st: s, tls: transport.IsTLS(s)}
	s.SetHandler(c)
	srv.track(c)
	c.timer.Init(s.Loop(), c.onTimer)
	c.timer.Reset(srv.headerTimeout())
	c.startH2()
	if srv.draining.Load() {
		c.drain()
	}
}

// startH2 turns c into an HTTP/2 connection; the server's SETTINGS go out.
func (c *conn) startH2() {
	c.h2 = &h2state{xs: make(map[uint32]*Exchange), lastTick: time.Now()}
	c.h2.flushFn = c.h2flushNow
	c.h2.strs = c.srv.loopStrings(c.st.Loop())
	c.h2.c = http2.NewConn(http2.Server, c.srv.HTTP2, (*h2events)(c))
	c.h2flushNow()
}

// isPrefacePrefix reports whether p starts like the HTTP/2 preface, and
// whether all of it is there.
func isPrefacePrefix(p []byte) (prefix, whole bool) {
	k := min(len(p), len(http2.Preface))
	if string(p[:k]) != http2.Preface[:k] {
		return false, false
	}
	return true, k == len(http2.Preface)
}

func (c *conn) h2Data(p []byte) int {
	h := c.h2
	h.feeding = true
	n, err := h.c.Feed(p)
	h.feeding = false
	c.h2flushNow()
	if err != nil {
		c.srv.log().Debug("http2 connection error", "remote", c.st.RemoteAddr(), "err", err)
		c.h2abortAll(err)
		c.shutdown()
		return len(p)
	}
	if c.dflags&drainNext != 0 && !c.closing {
		// Drained before its preface came: the streams of this first
		// read are served, then GOAWAY.
		c.h2drain()
		return n
	}
	if h.c.InHeaderBlock() && !h.headerWait && !c.sendWait {
		// A header block is under way: it must end within HeaderTimeout
		// (nothing else can be read on the connection meanwhile).
		h.headerWait = true
		c.timer.Reset(c.srv.headerTimeout())
	} else if h.headerWait && !h.c.InHeaderBlock() {
		h.headerWait = false
		c.h2rearm()
	}
	return n
}

// h2rearm puts the connection's timer back to what its state asks: the
// idle timeout without streams, nothing with.
func (c *conn) h2rearm() {
	switch {
	case c.sendWait || c.h2.headerWait:
	case len(c.h2.xs) == 0:
		c.timer.Reset(c.srv.idleTimeout())
	default:
		c.timer.Disarm()
	}
}

// h2flush sends what the codec has for the client. Outside Feed (a
// handler answering from an upstream's callback, say) the send waits for
// a loop task, so that the responses to several streams that complete in
// one turn of the loop leave in one write instead of one each.
func (c *conn) h2flush() {
	h := c.h2
	if h.feeding || c.closed || h.flushQueued {
		return
	}
	if len(h.c.Output()) == 0 {
		return
	}
	h.flushQueued = true
	if !transport.Defer(c.st.Loop(), h.flushFn) {
		h.flushQueued = false
		c.h2flushNow()
	}
}

// h2flushNow sends what the codec has for the client now.
func (c *conn) h2flushNow() {
	h := c.h2
	h.flushQueued = false
	if c.closed {
		return
	}
	if out := h.c.Output(); len(out) > 0 {
		_, _ = c.st.Write(out)
		h.c.ClearOutput()
		if !c.sendWait && !c.st.Writable() {
			// The client takes nothing of what is queued for it: it has
			// SendTimeout to take some, as on HTTP/1.1.
			c.sendWait = true
			c.timer.Reset(c.srv.sendTimeout())
		}
	}
	if !c.sendWait {
		// Writers that stopped for the codec's output go on.
		c.h2onDrained()
	}
}

// h2abortAll ends every exchange of the connection: aborted if its
// response had not ended.
func (c *conn) h2abortAll(err error) {
	for id, x := range c.h2.xs {
		delete(c.h2.xs, id)
		x.h2abort(err)
	}
}

// h2idle starts the idle wait, or closes a draining connection, once no
// exchange is left.
func (c *conn) h2idle() {
	if len(c.h2.xs) > 0 || c.closed || c.lingering {
		return
	}
	if c.closing {
		c.shutdown()
		return
	}
	c.idle = true
	if !c.sendWait && !c.h2.headerWait {
		c.timer.Reset(c.srv.idleTimeout())
	}
	if !c.h2.flushQueued {
		c.h2.c.Release() // an idle connection keeps no buffer
	}
}

// h2drain ends the connection gracefully: GOAWAY with the largest
// stream ID first, so that requests the client sent before it saw it are
// still served, then after drainIdleGrace the final GOAWAY with the last
// stream taken, and the close once those streams have ended.
func (c *conn) h2drain() {
	if c.closing || c.h2.goAwayTimer != nil {
		return
	}
	c.h2.c.GoAwaySoon()
	c.h2flushNow()
	c.h2.goAwayTimer = transport.AfterFunc(c.st.Loop(), drainIdleGrace, c.h2finalGoAway)
}

func (c *conn) h2finalGoAway() {
	if c.closed || c.lingering {
		return
	}
	c.closing = true
	c.h2.c.GoAway(http2.ErrCodeNo, "")
	c.h2flushNow()
	c.h2idle()
}

// h2events receives the codec's events for a conn.
type h2events conn

func (e *h2events) OnHeaders(hc *http2.Conn, id uint32, h *http2.Header, end bool) {
	c := (*conn)(e)
	if h.Trailers {
		if x := c.h2.xs[id]; x != nil {
			x.h2reqTrailers = x.h2reqTrailers[:0]
			for _, f := range h.Fields {
				x.h2reqTrailers = append(x.h2reqTrailers, Field{Name: bytesOf(f.Name), Value: bytesOf(f.Value)})
			}
			x.h2deliver(nil, true)
		}
		return
	}
	if now := time.Now(); now.Sub(c.h2.lastTick) > glitchTick {
		c.h2.lastTick = now
		hc.Tick()
	}
	x := c.srv.exchanges.Get(c.st.Loop())
	if x == nil {
		x = &Exchange{}
	}
	x.c = c
	x.reset()
	x.h2reset(id)
	x.Req.fillH2(h, c.st.RemoteAddr(), end, &x.h2fields, &x.h2cookie)
	if x.Req.Scheme == "" {
		x.Req.Scheme = "http"
	}
	x.reqDone = end
	x.headOnly = h.Method == "HEAD"
	c.h2.xs[id] = x
	if c.idle || len(c.h2.xs) == 1 {
		c.idle = false
		if !c.sendWait && !c.h2.headerWait {
			c.timer.Disarm()
		}
	}
	c.serveH2(x)
}

func (c *conn) serveH2(x *Exchange) {
	defer func() {
		if r := recover(); r != nil {
			transport.Recovered(c.srv.log(), "http handler panicked; stream reset", r, "remote", c.st.RemoteAddr())
			if c.h2.xs[x.h2id] == x {
				delete(c.h2.xs, x.h2id)
				c.h2.c.Reset(x.h2id, http2.ErrCodeInternal)
				x.ended = true
				c.h2flush()
				c.h2idle()
			}
		}
	}()
	c.srv.Handler.ServeHTTP(x)
}

func (e *h2events) OnData(hc *http2.Conn, id uint32, p []byte, end bool) {
	x := (*conn)(e).h2.xs[id]
	if x == nil {
		hc.Consumed(id, len(p))
		return
	}
	x.h2deliver(p, end)
}

func (e *h2events) OnReset(hc *http2.Conn, id uint32, code http2.ErrCode, remote bool) {
	c := (*conn)(e)
	x := c.h2.xs[id]
	if x == nil {
		return
	}
	delete(c.h2.xs, id)
	x.h2rst = true
	x.h2abort(fmt.Errorf("penstock/httpd: HTTP/2 stream reset (%v)", code))
	c.h2idle()
}

func (e *h2events) OnGoAway(hc *http2.Conn, last uint32, code http2.ErrCode) {
	(*conn)(e).closing = true
}

func (e *h2events) OnWritable(hc *http2.Conn, id uint32) {
	c := (*conn)(e)
	if x := c.h2.xs[id]; x != nil {
		x.h2pump()
		c.h2flush()
	}
}

// h2onDrained runs when the connection's write queue drains.
func (c *conn) h2onDrained() {
	if c.sendWait {
		c.sendWait = false
		c.h2rearm()
	}
	if c.h2.feeding {
		return // h2flushNow at the end of Feed comes back here
	}
	for _, x := range c.h2.xs {
		if x.h2wantDrain && x.Writable() {
			x.h2wantDrain = false
			if f := x.onDrained; f != nil {
				f()
			}
		}
	}
}

// bytesOf returns s's bytes without a copy. The codec's strings are
// immutable and the Request's slices must not be modified.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// fillH2 fills r from an HTTP/2 request head; fields is the storage for
// r.Headers and cookie for the cookie crumbs joined: HTTP/2 may split a
// Cookie field into several, which are one field again here, joined with
// "; " (RFC 9113 §8.2.3), as an HTTP/1.1 upstream must get them.
func (r *Request) fillH2(h *http2.Header, raddr net.Addr, end bool, fields *[]Field, cookie *[]byte) {
	*r = Request{Method: bytesOf(h.Method), Target: bytesOf(h.Path), Scheme: h.Scheme, ProtoMajor: 2,
		Host: bytesOf(h.Authority), ContentLength: h.ContentLength, RemoteAddr: raddr}
	fs := (*fields)[:0]
	crumbs, first := 0, -1
	for _, f := range h.Fields {
		switch f.Name {
		case "host":
			if len(r.Host) == 0 {
				r.Host = bytesOf(f.Value)
			}
		case "cookie":
			crumbs++
			if first >= 0 {
				continue // joined into the first below
			}
			first = len(fs)
		}
		fs = append(fs, Field{Name: bytesOf(f.Name), Value: bytesOf(f.Value)})
	}
	if crumbs > 1 {
		b := (*cookie)[:0]
		for _, f := range h.Fields {
			if f.Name == "cookie" {
				if len(b) > 0 {
					b = append(b, "; "...)
				}
				b = append(b, f.Value...)
			}
		}
		*cookie = b
		fs[first].Value = b
	}
	*fields = fs
	r.Headers = fs
	t := r.Target
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		r.Path, r.Query = t[:i], t[i+1:]
	} else {
		r.Path = t
	}
	if r.ContentLength < 0 {
		if end {
			r.ContentLength = 0
		} else {
			r.ContentLength = -1 // a body of unknown length, as chunked
		}
	}
}

// h2reset readies x for stream id.
func (x *Exchange) h2reset(id uint32) {
	x.h2id = id
	x.h2in, x.h2inEnd = x.h2in[:0], false
	x.h2out = x.h2out[:0]
	x.h2head = x.h2head[:0]
	x.h2headPending, x.h2end, x.h2sent, x.h2rst, x.h2wantDrain = false, false, false, false, false
	x.h2trailers = x.h2trailers[:0]
	x.h2reqTrailers = x.h2reqTrailers[:0]
	x.bodyKind = 0
}

func (x *Exchange) h2c() *http2.Conn { return x.c.h2.c }

// h2deliver hands request body bytes to the handler, or holds them (their
// window not given back) while it has not asked for them or paused.
func (x *Exchange) h2deliver(p []byte, end bool) {
	hc := x.h2c()
	if x.discarding {
		hc.Consumed(x.h2id, len(p))
		if end {
			x.reqDone = true
			x.h2maybeDone()
		}
		return
	}
	if x.onBody == nil || x.bodyPaused || len(x.h2in) > 0 {
		x.h2in = append(x.h2in, p...)
		x.h2inEnd = x.h2inEnd || end
		return
	}
	if end {
		x.reqDone = true
	}
	fn := x.onBody
	if end {
		x.onBody = nil
	}
	// The handler may end the exchange inside fn, which hands it back:
	// what follows reads only what was taken before.
	c, id := x.c, x.h2id
	fn(p, end)
	hc.Consumed(id, len(p))
	c.h2flush()
	if c.h2.xs[id] != x {
		return
	}
	if end {
		x.h2maybeDone()
		return
	}
	x.h2watchBody() // the next body bytes are due within BodyTimeout
}

// h2watchBody runs the body timeout while the handler takes the request
// body and it is not all in: each wait for body bytes is bounded by the
// Server's BodyTimeout, as on HTTP/1.1. Re-arming costs a clock read.
func (x *Exchange) h2watchBody() {
	if x.onBody != nil && !x.bodyPaused && !x.reqDone && !x.discarding {
		if !x.h2bodyInit {
			x.h2bodyInit = true
			x.h2body.Init(x.c.st.Loop(), x.h2onBodyTimeout)
		}
		x.h2body.Reset(x.c.srv.bodyTimeout())
		return
	}
	if x.h2bodyInit {
		x.h2body.Disarm()
	}
}

// h2onBodyTimeout ends a stream whose client sent no body byte for
// BodyTimeout while the handler waited: 408 when no head went out, the
// stream reset, and the handler's OnAbort with ErrBodyTimeout.
func (x *Exchange) h2onBodyTimeout() {
	c := x.c
	if x.h2id == 0 || c == nil || c.h2 == nil || c.h2.xs[x.h2id] != x || x.reqDone || x.onBody == nil || x.bodyPaused {
		return
	}
	id, hc := x.h2id, c.h2.c
	c.srv.log().Debug("http2 body timeout", "remote", c.st.RemoteAddr(), "stream", id)
	if !x.wroteHead && !x.ended {
		x.status = 408
		_ = hc.WriteResponse(id, 408, nil, true)
	}
	hc.Reset(id, http2.ErrCodeCancel)
	if len(x.h2in) > 0 {
		hc.Consumed(id, len(x.h2in))
		x.h2in = x.h2in[:0]
	}
	delete(c.h2.xs, id)
	x.h2rst = true
	c.h2flush()
	x.h2abort(ErrBodyTimeout)
	c.h2idle()
}

// h2drainIn delivers what h2deliver held, once the handler takes it.
func (x *Exchange) h2drainIn() {
	if x.onBody == nil || x.bodyPaused || (len(x.h2in) == 0 && !x.h2inEnd) {
		return
	}
	in, end := x.h2in, x.h2inEnd
	x.h2in, x.h2inEnd = nil, false
	c, id := x.c, x.h2id
	x.h2deliver(in, end)
	if c.h2.xs[id] == x && x.h2in == nil {
		x.h2in = in[:0] // keep the buffer while the exchange lives
	}
}

// h2fields converts a handler's fields for HTTP/2: lowercase names,
// without the connection-specific fields. It reports the Content-Length.
func (x *Exchange) h2fieldsOf(dst []hpack.HeaderField, fields []Field) ([]hpack.HeaderField, int64) {
	cl := int64(-1)
	for _, f := range fields {
		name := http2.LowerName(f.Name)
		if http2.ConnectionSpecific(name) {
			continue
		}
		if name == "content-length" {
			if n, err := strconv.ParseInt(string(f.Value), 10, 64); err == nil && n >= 0 {
				cl = n
			}
		}
		dst = append(dst, hpack.HeaderField{Name: name, Value: x.c.h2.strs.Get(f.Value)})
	}
	return dst, cl
}

func (x *Exchange) h2WriteHead(status int, fields []Field) error {
	if x.ended {
		return ErrEnded
	}
	if x.wroteHead {
		return errors.New("penstock/httpd: WriteHead called twice")
	}
	if status < 100 || status > 999 || status == 101 {
		return fmt.Errorf("penstock/httpd: invalid status code %d for HTTP/2", status)
	}
	if status < 200 {
		if status == 100 {
			x.sent100 = true
		}
		hf, _ := x.h2fieldsOf(x.h2head[:0], fields)
		err := x.h2c().WriteResponse(x.h2id, status, hf, false)
		x.c.h2flush()
		return err
	}
	x.wroteHead = true
	x.status = status
	x.noBody = x.headOnly || status == 204 || status == 304
	var cl int64
	x.h2head, cl = x.h2fieldsOf(x.h2head[:0], fields)
	x.left = -1
	if cl >= 0 && !x.noBody {
		x.left = cl
	}
	x.h2headPending = true
	return nil
}

// h2sendHead sends the final head WriteHead kept.
func (x *Exchange) h2sendHead(end bool) error {
	x.h2headPending = false
	err := x.h2c().WriteResponse(x.h2id, x.status, x.h2head, end)
	if end {
		x.h2sent = true
	}
	return err
}

// h2WriteBody is Write's sending part on HTTP/2 (Write has checked the
// exchange, sent the default head and counted p against Content-Length):
// what the peer's windows do not take waits in h2out for OnWritable.
func (x *Exchange) h2WriteBody(p []byte) (int, error) {
	if x.h2headPending {
		if err := x.h2sendHead(false); err != nil {
			return 0, err
		}
	}
	n := len(p)
	if len(x.h2out) == 0 {
		k, err := x.h2c().WriteData(x.h2id, p, false)
		if err != nil {
			return 0, err
		}
		p = p[k:]
	}
	x.h2out = append(x.h2out, p...)
	x.c.h2flush()
	return n, nil
}

// h2pump sends body bytes the peer's windows held back, then what End
// left to do.
// h2pump sends body bytes the peer's windows held back, then what End
// left to do. It reports whether the exchange went back to the server,
// after which the caller touches it no more.
func (x *Exchange) h2pump() bool {
	if len(x.h2out) > 0 {
		k, err := x.h2c().WriteData(x.h2id, x.h2out, false)
		if err != nil {
			x.h2out = x.h2out[:0]
			return false
		}
		n := copy(x.h2out, x.h2out[k:])
		x.h2out = x.h2out[:n]
	}
	if len(x.h2out) == 0 && x.h2end && !x.h2sent {
		return x.h2finish()
	}
	if x.h2wantDrain && x.Writable() {
		x.h2wantDrain = false
		if f := x.onDrained; f != nil {
			f()
		}
	}
	return false
}

// h2finish ends the stream's response once its body is all sent; it
// reports whether the exchange went back to the server.
func (x *Exchange) h2finish() bool {
	hc := x.h2c()
	switch {
	case x.h2headPending && len(x.h2trailers) == 0:
		_ = x.h2sendHead(true)
	case len(x.h2trailers) > 0:
		if x.h2headPending {
			_ = x.h2sendHead(false)
		}
		_ = hc.WriteTrailers(x.h2id, x.h2trailers)
	default:
		_, _ = hc.WriteData(x.h2id, nil, true)
	}
	x.h2sent = true
	return x.h2maybeDone()
}

func (x *Exchange) h2End(trailers []Field) error {
	if x.ended {
		return ErrEnded
	}
	if !x.wroteHead {
		if err := x.h2WriteHead(200, nil); err != nil {
			return err
		}
	}
	if x.left > 0 {
		// Shorter than its Content-Length: the client must not take it
		// for a whole body.
		x.ended = true
		x.h2c().Reset(x.h2id, http2.ErrCodeInternal)
		x.h2rst = true
		x.c.h2flush()
		x.h2afterEnd()
		return nil
	}
	x.ended = true
	x.h2trailers, _ = x.h2fieldsOf(x.h2trailers[:0], trailers)
	x.h2end = true
	c := x.c
	done := x.h2pump()
	c.h2flush()
	if !done {
		x.h2afterEnd()
	}
	return nil
}

// h2afterEnd drops a request body the handler did not read.
func (x *Exchange) h2afterEnd() {
	if x.reqDone || x.h2rst {
		x.h2maybeDone()
		return
	}
	x.discarding = true
	x.onBody = nil
	x.bodyPaused = false
	if len(x.h2in) > 0 {
		x.h2c().Consumed(x.h2id, len(x.h2in))
		x.h2in = x.h2in[:0]
	}
	if x.h2inEnd {
		x.reqDone = true
	}
	x.h2maybeDone()
}

// h2maybeDone finishes the exchange once its response is sent and its
// request body read or not wanted: its OnEnd runs and it goes back to the
// server, the last touch. It reports whether it did.
func (x *Exchange) h2maybeDone() bool {
	c := x.c
	if !x.ended || c.h2.xs[x.h2id] != x {
		return false
	}
	if !x.h2sent && !x.h2rst {
		return false
	}
	if len(x.h2in) > 0 {
		// Held body bytes nobody will read: their window goes back.
		c.h2.c.Consumed(x.h2id, len(x.h2in))
		x.h2in = x.h2in[:0]
	}
	if !x.reqDone && !x.h2rst {
		// The response is out and the body is not wanted: say so.
		c.h2.c.Reset(x.h2id, http2.ErrCodeNo)
		c.h2flush()
	}
	delete(c.h2.xs, x.h2id)
	if x.h2bodyInit {
		x.h2body.Disarm()
	}
	x.runOnEnd()
	x.release()
	c.srv.exchanges.Put(c.st.Loop(), x)
	c.h2idle()
	return true
}

// h2abort ends an exchange whose stream or connection went away.
func (x *Exchange) h2abort(err error) {
	if x.h2bodyInit {
		x.h2body.Disarm()
	}
	if !x.ended {
		x.ended = true
		x.onEnd = nil
		if f := x.onAbort; f != nil {
			x.onAbort = nil
			f(err)
		}
		return
	}
	x.runOnEnd()
}

// HTTP2Stats returns the counts of the HTTP/2 connections that have
// closed (codecs/http2's Stats: streams, refusals, resets, the defences'
// counters) and how many there were. Safe from any goroutine.
func (srv *Server) HTTP2Stats() (http2.Stats, uint64) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.h2stats, srv.h2conns
}

// loopStrings returns the loop's string table for HTTP/2 heads: shared by
// the loop's connections (their strings never change, and only the loop
// uses it), so an idle connection holds none of it.
func (srv *Server) loopStrings(loop transport.Loop) *http2.Strings {
	if v, ok := srv.h2strs.Load(loop); ok {
		return v.(*http2.Strings)
	}
	v, _ := srv.h2strs.LoadOrStore(loop, &http2.Strings{Max: 4096})
	return v.(*http2.Strings)
}

// Abort ends the exchange abruptly, the way its protocol says a response
// is incomplete: on HTTP/1.1 the client's connection closes; on HTTP/2
// only the stream is reset (INTERNAL_ERROR) and the connection's other
// streams go on. Its OnAbort func runs (with ErrAborted) unless the
// response had ended. The exchange is the server's again afterwards. Loop
// only.
func (x *Exchange) Abort() {
	c := x.c
	if c == nil {
		return
	}
	if x.h2id == 0 {
		_ = c.st.Close()
		return
	}
	if c.h2.xs[x.h2id] != x {
		return
	}
	id := x.h2id
	delete(c.h2.xs, id)
	c.h2.c.Reset(id, http2.ErrCodeInternal)
	if len(x.h2in) > 0 {
		c.h2.c.Consumed(id, len(x.h2in))
		x.h2in = x.h2in[:0]
	}
	x.h2rst = true
	c.h2flush()
	x.h2abort(ErrAborted)
	c.h2idle()
}

// ErrAborted is what an exchange's OnAbort func gets when Abort ended it.
var ErrAborted = errors.New("penstock/httpd: exchange aborted")
