package httpd

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/transport"
)

// Exchange is one request and its response. Every method is loop only: call
// it from the handler, from a body or drain callback, or from a func run by
// Loop().Execute. The exchange belongs to the server again once the
// response has ended: do not touch it after End, Respond or Hijack has
// returned, or after its OnEnd or OnAbort func has run. The server reuses
// an ended Exchange for a later request on the same loop, on this
// connection or another, so an idle keep-alive connection holds no
// per-request state and ServeHTTP allocates nothing of its own; a stale
// *Exchange would act on that later request. Work handed to the loop from
// another goroutine must check, on the loop, a flag of its own that End
// and OnAbort set.
//
// A handler that has work to finish once the exchange is over (a log
// line, counters) does it in its OnEnd func, which the server runs as the
// last thing before it takes the exchange back; the handler's own code
// then ends with its call to End or Respond.
type Exchange struct {
	// Req is the request.
	Req Request
	// User is the handler's per-request value; it is cleared when the
	// exchange ends.
	User any
	// State is the handler's value for the Exchange object itself: unlike
	// User it survives End, and a later request that gets this Exchange
	// finds it again. Exchanges are recycled (see Exchange), so State is
	// the place for a handler's reusable per-request buffers; a request
	// may also get a fresh Exchange with State nil.
	State any

	c    *conn
	h1   http1.Request
	head []byte

	bodyKind   http1.BodyKind
	bodyLeft   int64
	dec        http1.ChunkedDecoder
	reqDone    bool
	onBody     func(p []byte, end bool)
	bodyPaused bool
	discarding bool
	discarded  int64
	sent100    bool

	wroteHead bool
	headOnly  bool // HEAD: the head says what GET would send, no body
	noBody    bool
	chunked   bool
	left      int64 // Content-Length bytes still to send; -1 without one
	status    int   // the final status written; 0 before
	ended     bool
	onDrained func()
	onAbort   func(error)
	onEnd     func()
	// scan follows a request head that arrives over several reads, so
	// that it is parsed again only when that can change the answer.
	scan  http1.HeadScan
	onEOF func()

	// The connection's output buffer and Respond's scratch space: they
	// live with the Exchange so that an idle connection holds none.
	out     []byte
	fields  []Field
	scratch []byte
	clbuf   [20]byte

	// HTTP/2 (h2.go): the stream, 0 for HTTP/1.
	h2id          uint32
	h2fields      []Field             // storage of Req.Headers
	h2cookie      []byte              // the request's cookie crumbs joined
	h2in          []byte              // request body held while the handler does not take it
	h2inEnd       bool                // ... with the stream's end
	h2out         []byte              // response body the peer's windows hold back
	h2head        []hpack.HeaderField // the final head WriteHead keeps
	h2trailers    []hpack.HeaderField
	h2reqTrailers []Field
	h2headPending bool
	h2end         bool // End was called: finish once h2out is sent
	h2sent        bool // END_STREAM is out
	h2rst         bool // the stream was reset
	h2wantDrain   bool // Writable said false: OnDrained is due
	// h2body bounds each wait for request body bytes the handler takes
	// (BodyTimeout); made once per Exchange, which never leaves its loop.
	h2body     transport.Timer
	h2bodyInit bool
}

// Errors of the response methods.
var (
	// ErrEnded is returned by writes after End.
	ErrEnded = errors.New("penstock/httpd: response already ended")
	// ErrBodyTooLong is returned by Write past the Content-Length the head
	// announced.
	ErrBodyTooLong = errors.New("penstock/httpd: body longer than its Content-Length")
)

func (x *Exchange) reset() {
	x.h2id = 0
	x.User = nil
	x.onBody, x.onDrained, x.onAbort, x.onEnd, x.onEOF = nil, nil, nil, nil, nil
	x.bodyPaused, x.discarding, x.discarded, x.sent100 = false, false, 0, false
	x.wroteHead, x.headOnly, x.noBody, x.chunked = false, false, false, false
	x.left, x.status, x.ended = -1, 0, false
}

// release drops what the exchange references once it has ended.
func (x *Exchange) release() {
	x.User = nil
	x.onBody, x.onDrained, x.onAbort, x.onEnd, x.onEOF = nil, nil, nil, nil, nil
	if cap(x.head) > 64<<10 {
		x.head = nil
	}
}

// runOnEnd runs the OnEnd func, once.
func (x *Exchange) runOnEnd() {
	if f := x.onEnd; f != nil {
		x.onEnd = nil
		f()
	}
}

// Loop returns the loop the exchange runs on. It is safe from any goroutine.
func (x *Exchange) Loop() transport.Loop { return x.c.st.Loop() }

// TLS returns the TLS summary of the client's connection (version, group,
// the verified client certificate...), or nil when it is not TLS. Loop
// only.
func (x *Exchange) TLS() *transport.TLSInfo { return transport.TLSInfoOf(x.Stream()) }

// Stream returns the client's stream, for its addresses and its TLS state
// (transport.TLSInfoOf), or nil for an Exchange that no connection
// serves (one a test made). Loop only; reading and writing it directly
// would break the framing.
func (x *Exchange) Stream() transport.Stream {
	if x.c == nil {
		return nil
	}
	return x.c.st
}

// ReadBody asks for the request body: fn gets its pieces as they arrive,
// borrowed (valid only during the call), and end true with the last one
// (possibly empty). A request without a body calls fn(nil, true) at once.
// For a request with "Expect: 100-continue", ReadBody sends the interim
// 100 response first. Loop only.
func (x *Exchange) ReadBody(fn func(p []byte, end bool)) {
	x.onBody = fn
	if x.reqDone {
		x.onBody = nil
		fn(nil, true)
		return
	}
	if x.h2id != 0 {
		if !x.sent100 && !x.wroteHead && len(x.h2in) == 0 && !x.h2inEnd && equalFold(headerOf(&x.Req, "expect"), "100-continue") {
			_ = x.h2WriteHead(100, nil)
		}
		c, id := x.c, x.h2id
		x.h2drainIn()
		if c.h2.xs[id] == x {
			x.h2watchBody()
		}
		return
	}
	// The 100 goes out unless the final head already has (a head that
	// WriteHead buffered is still in x.out and follows it).
	if x.h1.Expect100() && !x.sent100 && (!x.wroteHead || len(x.out) > 0) {
		x.sent100 = true
		_, _ = x.c.st.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
	x.c.resumeIfPaused()
}

// PauseBody stops body delivery until ResumeBody; the client's TCP window
// then pushes back on it, and the Server's BodyTimeout waits too. Loop
// only.
func (x *Exchange) PauseBody() {
	x.bodyPaused = true
	if x.h2id != 0 {
		x.h2watchBody()
		return
	}
	if !x.c.inData {
		x.c.watchBody()
	}
}

// ResumeBody undoes PauseBody. Loop only.
func (x *Exchange) ResumeBody() {
	if !x.bodyPaused {
		return
	}
	x.bodyPaused = false
	if x.h2id != 0 {
		c, id := x.c, x.h2id
		x.h2drainIn()
		if c.h2.xs[id] == x {
			x.h2watchBody()
		}
		return
	}
	x.c.resumeIfPaused()
}

// BodyDone reports whether the whole request body has been read.
func (x *Exchange) BodyDone() bool { return x.reqDone }

// OnDrained sets fn to run when the client connection's write queue has
// drained after Writable reported false. Loop only.
func (x *Exchange) OnDrained(fn func()) { x.onDrained = fn }

// OnAbort sets fn to run if the client connection closes before the
// response has ended; the exchange is dead then. Loop only.
func (x *Exchange) OnAbort(fn func(err error)) { x.onAbort = fn }

// OnEnd sets fn to run once the exchange is over: its response has ended
// and its request body has been read or dropped (or the connection
// closed meanwhile), or Hijack took the stream. The server runs it as the
// last thing before it takes the exchange back, so fn may still read the
// exchange, and it is the last code that may. It runs inside End, Respond
// or Hijack when nothing is left to read, later otherwise; of OnEnd and
// OnAbort, exactly one runs for an exchange that ends either way. Loop
// only.
func (x *Exchange) OnEnd(fn func()) { x.onEnd = fn }

// Status returns the status code of the final response head written, or
// 0 before there is one. Loop only.
func (x *Exchange) Status() int { return x.status }

// OnClientEOF sets fn to run once the client has shut down its sending
// side after the whole request (at once if it already has). The exchange
// lives on: a client that half-closed may still wait for the response,
// while one that went away makes a later write fail and OnAbort run. It
// is where net/http's server cancels the request's context; FromNetHTTP
// does the same. Loop only.
func (x *Exchange) OnClientEOF(fn func()) {
	if x.c.readEOF && x.reqDone && fn != nil {
		fn()
		return
	}
	x.onEOF = fn
}

// Writable reports whether the client takes more now; when it reports
// false, the OnDrained func runs once it does again. Loop only.
func (x *Exchange) Writable() bool {
	if x.h2id != 0 {
		// The codec's output counts too: a handler writing from inside
		// the connection's read (before anything was sent) must stop.
		w := x.c.st.Writable() && len(x.h2out) < 64<<10 && len(x.c.h2.c.Output()) < 256<<10
		if !w {
			x.h2wantDrain = true
		}
		return w
	}
	return x.c.st.Writable()
}

// feedBody hands the body bytes at the start of p to the handler and
// returns how many it consumed.
func (x *Exchange) feedBody(p []byte) (int, error) {
	switch x.bodyKind {
	case http1.BodyContentLength:
		k := min(int64(len(p)), x.bodyLeft)
		x.bodyLeft -= k
		if x.bodyLeft == 0 {
			x.reqDone = true
		}
		x.deliver(p[:k], x.reqDone)
		return int(k), nil
	case http1.BodyChunked:
		off := 0
		for off < len(p) && !x.reqDone && !x.bodyPaused {
			data, n, err := x.dec.Decode(p[off:])
			off += n
			switch {
			case err == nil:
				x.deliver(data, false)
			case err == http1.ErrBodyDone:
				x.reqDone = true
				x.deliver(nil, true)
			case err == codecs.ErrNeedMore:
				return off, nil
			default:
				return off, err
			}
		}
		return off, nil
	}
	x.reqDone = true
	return 0, nil
}

func (x *Exchange) deliver(p []byte, end bool) {
	if x.discarding {
		x.discarded += int64(len(p))
		if x.discarded > discardMax && !end {
			x.c.closing = true
		}
		return
	}
	if fn := x.onBody; fn != nil {
		if end {
			x.onBody = nil
		}
		fn(p, end)
	}
}

// WriteHead sends the response head with status and fields. The server
// frames the body: a Content-Length field among fields makes it that many
// bytes; otherwise it is chunked (close-delimited for an HTTP/1.0 client).
// Transfer-Encoding and Connection fields are the server's and are dropped
// from fields, except that "Connection: close" closes the connection after
// the response. A 1xx status other than 101 is interim and may be followed
// by another head. The head is sent with the first body bytes or at End.
// Loop only.
func (x *Exchange) WriteHead(status int, fields ...Field) error {
	if x.h2id != 0 {
		return x.h2WriteHead(status, fields)
	}
	if x.ended {
		return ErrEnded
	}
	if x.wroteHead {
		return errors.New("penstock/httpd: WriteHead called twice")
	}
	c := x.c
	if status < 100 || status > 999 {
		return fmt.Errorf("penstock/httpd: invalid status code %d", status)
	}
	if status >= 100 && status < 200 && status != 101 {
		if x.Req.ProtoMinor == 0 {
			return nil // no 1xx to an HTTP/1.0 client (RFC 9110 §15.2)
		}
		if status == 100 {
			x.sent100 = true // ReadBody must not send another
		}
		x.out = http1.AppendStatusLine(x.out, status, StatusText(status))
		for _, f := range fields {
			x.out = http1.AppendHeader(x.out, f.Name, f.Value)
		}
		x.out = append(x.out, "\r\n"...)
		return c.flush()
	}
	x.wroteHead = true
	x.status = status
	x.noBody = x.headOnly || status == 204 || status == 304 || status == 101
	x.left = -1
	if status != 101 && x.h1.Expect100() && !x.sent100 && !x.reqDone && x.onBody == nil {
		// The final head comes before the handler asked for the body the
		// client holds back: say the connection closes, so that the
		// client need not send it (the server closes after an unread
		// body of an Expect request; see afterEnd).
		c.closing = true
	}
	x.out = http1.AppendStatusLine(x.out, status, StatusText(status))
	for _, f := range fields {
		switch {
		case equalFold(f.Name, "transfer-encoding"):
			continue
		case equalFold(f.Name, "connection"):
			if status != 101 {
				if hasToken(f.Value, "close") {
					c.closing = true
				}
				continue
			}
		case equalFold(f.Name, "content-length"):
			if status == 204 || status < 200 {
				continue // never on a 1xx or 204 (RFC 9110 §8.6)
			}
			if n, err := strconv.ParseInt(string(f.Value), 10, 64); err == nil && n >= 0 && !x.noBody {
				x.left = n
			}
		}
		x.out = http1.AppendHeader(x.out, f.Name, f.Value)
	}
	if status == 101 {
		x.out = append(x.out, "\r\n"...)
		return nil
	}
	if !x.noBody && x.left < 0 {
		if x.Req.ProtoMinor >= 1 {
			x.chunked = true
			x.out = append(x.out, "Transfer-Encoding: chunked\r\n"...)
		} else {
			c.closing = true
		}
	}
	if x.headOnly {
		x.left = -1
	}
	switch {
	case c.closing:
		x.out = append(x.out, "Connection: close\r\n"...)
	case x.Req.ProtoMinor == 0:
		x.out = append(x.out, "Connection: keep-alive\r\n"...)
	}
	x.out = append(x.out, "\r\n"...)
	return nil
}

// RetractHead takes back a final head that has not gone out yet (WriteHead
// keeps it for the first body bytes, End or Flush), so that the handler
// can answer otherwise: a proxy answers 502 when its upstream fails right
// after the head. It reports false, and changes nothing, once any byte of
// the final response has been handed to the connection. A "Connection:
// close" the head set stays in force. Loop only.
func (x *Exchange) RetractHead() bool {
	if x.h2id != 0 {
		if !x.h2headPending || x.ended {
			return false
		}
		x.h2headPending = false
		x.wroteHead, x.noBody, x.left, x.status = false, false, -1, 0
		return true
	}
	// Interim heads and body bytes are flushed as they are written, so
	// pending output after WriteHead is the final head alone.
	if !x.wroteHead || x.ended || len(x.out) == 0 {
		return false
	}
	x.out = x.out[:0]
	x.wroteHead, x.noBody, x.chunked, x.left, x.status = false, false, false, -1, 0
	return true
}

// Write sends body bytes; the head goes first (200 with a chunked body if
// WriteHead was not called). It never blocks: check Writable to pace a
// large body. Loop only.
func (x *Exchange) Write(p []byte) (int, error) {
	if x.ended {
		return 0, ErrEnded
	}
	if !x.wroteHead {
		if err := x.WriteHead(200); err != nil {
			return 0, err
		}
	}
	c := x.c
	if x.noBody || len(p) == 0 {
		return len(p), nil
	}
	if x.left >= 0 {
		if int64(len(p)) > x.left {
			return 0, ErrBodyTooLong
		}
		x.left -= int64(len(p))
	}
	if x.h2id != 0 {
		return x.h2WriteBody(p)
	}
	if x.chunked {
		x.out = http1.AppendChunk(x.out, p)
	} else if len(p) > 32<<10 {
		if err := c.flush(); err != nil {
			return 0, err
		}
		if _, err := c.st.Write(p); err != nil {
			return 0, err
		}
		c.watchSend()
		return len(p), nil
	} else {
		x.out = append(x.out, p...)
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// End ends the response, with trailers for a chunked body. A response
// whose body fell short of its Content-Length closes the connection, since
// the client cannot tell where it ends. Loop only.
func (x *Exchange) End(trailers ...Field) error {
	if x.h2id != 0 {
		return x.h2End(trailers)
	}
	if x.ended {
		return ErrEnded
	}
	c := x.c
	if !x.wroteHead {
		if err := x.WriteHead(200, Field{Name: []byte("Content-Length"), Value: []byte("0")}); err != nil {
			return err
		}
	}
	if x.chunked {
		x.out = http1.AppendLastChunk(x.out, trailers...)
	}
	if x.left > 0 {
		c.closing = true
	}
	x.ended = true
	err := c.flush()
	x.afterEnd()
	return err
}

// Respond sends a whole response: status, fields, and body with its
// Content-Length. A nil body with a status that has one gets the status
// text. Loop only.
func (x *Exchange) Respond(status int, body []byte, fields ...Field) error {
	if x.ended {
		return ErrEnded
	}
	if x.wroteHead {
		return errors.New("penstock/httpd: Respond after WriteHead")
	}
	c := x.c
	if body == nil && status >= 400 {
		x.scratch = append(append(x.scratch[:0], StatusText(status)...), '\n')
		body = x.scratch
		x.fields = append(append(x.fields[:0], fields...), Field{Name: contentType, Value: textPlain})
		fields = x.fields
	}
	x.fields = append(append(x.fields[:0], fields...),
		Field{Name: contentLength, Value: strconv.AppendInt(x.clbuf[:0], int64(len(body)), 10)})
	err := x.WriteHead(status, x.fields...)
	clear(x.fields)
	if err != nil {
		return err
	}
	if x.h2id != 0 {
		if _, err := x.Write(body); err != nil {
			return err
		}
		return x.h2End(nil)
	}
	if !x.noBody {
		x.left = 0
		x.out = append(x.out, body...)
	}
	x.ended = true
	err = c.flush()
	x.afterEnd()
	return err
}

// afterEnd moves the connection on once the response has ended.
func (x *Exchange) afterEnd() {
	c := x.c
	if c.closed {
		return
	}
	if x.reqDone {
		if !c.inData {
			c.finish()
		} // else consume finishes it when the handler returns
		return
	}
	// The body was not read (whole): drop it to keep the connection, or
	// close when it is large or the client waits for a 100 that will not
	// come.
	x.discarding = true
	x.onBody = nil
	x.bodyPaused = false
	if x.h1.Expect100() && !x.sent100 || x.bodyKind == http1.BodyContentLength && x.bodyLeft > discardMax {
		c.closing = true
		c.shutdown()
		return
	}
	c.resumeIfPaused()
}

// Hijack takes the client's stream out of HTTP after a 101 response has
// been written with WriteHead(101, ...): the head is sent, the server
// stops handling the stream, and the caller sets its handler. Bytes the
// client sent after the request head are delivered to that handler once it
// calls ResumeRead. Loop only.
func (x *Exchange) Hijack() (transport.Stream, error) {
	if x.h2id != 0 {
		return nil, ErrHTTP2Hijack
	}
	c := x.c
	if x.ended || c.closed {
		return nil, ErrEnded
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	x.ended = true
	c.hijacked = true
	c.srv.untrack(c)
	c.timer.Stop()
	c.paused = false
	st := c.st
	x.runOnEnd()
	x.release()
	return st, nil
}

// Flush sends the head and the body bytes written so far now, even when
// no body bytes follow yet (WriteHead alone keeps the head until the first
// body bytes or End). Loop only.
func (x *Exchange) Flush() error {
	if x.ended {
		return ErrEnded
	}
	if x.h2id != 0 {
		var err error
		if x.h2headPending {
			err = x.h2sendHead(false)
		}
		x.c.h2flush()
		return err
	}
	return x.c.flush()
}

// Trailers returns the trailer fields of a chunked request body, once the
// body has ended (ReadBody's func got end true); nil otherwise. They are
// borrowed like the request's fields: valid until the exchange ends. Loop
// only.
func (x *Exchange) Trailers() []Field {
	if x.h2id != 0 {
		if !x.reqDone || len(x.h2reqTrailers) == 0 {
			return nil
		}
		return x.h2reqTrailers
	}
	if !x.reqDone || x.bodyKind != http1.BodyChunked {
		return nil
	}
	return x.dec.Trailers()
}

func (c *conn) flush() error {
	x := c.x
	if x == nil || len(x.out) == 0 {
		return nil
	}
	_, err := c.st.Write(x.out)
	if cap(x.out) > 64<<10 {
		x.out = nil
	} else {
		x.out = x.out[:0]
	}
	c.watchSend()
	return err
}

// watchSend starts the send timeout when the output is congested; OnDrained
// stops it.
func (c *conn) watchSend() {
	if !c.sendWait && !c.lingering && !c.closed && !c.st.Writable() {
		c.sendWait = true
		c.timer.Reset(c.srv.sendTimeout())
	}
}

func (c *conn) resumeIfPaused() {
	if !c.inData {
		c.watchBody() // OnData does it after a read
	}
	if c.paused && !c.inData {
		c.paused = false
		c.st.ResumeRead()
	}
}

var (
	contentLength = []byte("Content-Length")
	contentType   = []byte("Content-Type")
	textPlain     = []byte("text/plain; charset=utf-8")
)

// StatusText is the reason phrase for status ("" for an unknown code).
func StatusText(status int) string { return http.StatusText(status) }

var (
	equalFold = http1.EqualFold
	hasToken  = http1.HasToken
)

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// headerOf returns the first value of field name in r, or nil.
func headerOf(r *Request, name string) []byte {
	v, _ := r.Header(name)
	return v
}
