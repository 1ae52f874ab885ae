package httpd

// This file runs net/http handlers on the server. Only that direction
// exists: a Handler runs on an event loop, which net/http's server does not
// have, so there is no adapter that would serve a Handler from net/http.
// The other way round for clients needs no adapter either: net/http's own
// client talks to a penstock server over the wire.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

// FromNetHTTP returns a Handler that serves every request with h, a
// net/http handler, so that code written for net/http runs on the server.
//
// Each request runs h.ServeHTTP in a goroutine of its own, never on the
// loop, with an *http.Request built from the exchange: the URL parsed from
// the target (absolute-form too), canonical header keys with every value
// in order (Host moves to Request.Host as net/http does), RemoteAddr,
// ContentLength (-1 and TransferEncoding "chunked" for a chunked body),
// and a Context that ends when the client goes away, when it shuts down
// its sending side after the request (as net/http's does; the response can
// still be written to a client that only half-closed), or when the handler
// returns. Request.Body streams the body through a buffer of about
// 64 KiB: while it is full the client is paused, so a body of any size
// never sits in memory whole. A chunked body's trailers fill
// Request.Trailer once Body has returned io.EOF. The body is asked for
// only when the handler first reads it, which is also when a client that
// sent "Expect: 100-continue" gets its 100.
//
// The ResponseWriter buffers up to 32 KiB and hands the bytes to the loop
// when the buffer fills, on Flush and when the handler returns; a Write
// blocks while the client is slow to take them, so a response holds a
// bounded amount of memory however large it is. It behaves as net/http's:
// the header map is sent as it was at WriteHeader; a Content-Length in it
// frames the body, and a body the handler finished within the buffer gets
// one; otherwise the body is chunked (close-delimited for HTTP/1.0). Date
// is added and Content-Type sniffed with http.DetectContentType unless set.
// A 1xx status other than 101 goes out as an interim response. Trailers
// declared in a "Trailer" field or set with http.TrailerPrefix end a
// chunked body. It implements http.Flusher, and for
// http.ResponseController FlushError, EnableFullDuplex (reading the body
// while writing the response always works), SetReadDeadline (body reads
// past it fail with an error matching os.ErrDeadlineExceeded) and
// SetWriteDeadline (writes past it fail so; a write under way when it
// passes is cut off and the connection closes, as in net/http).
//
// Hijack works as in net/http before anything of the response is written
// (a WebSocket upgrader runs unchanged): the socket leaves the event loop
// for the handler's goroutines. Not supported: Request.TLS is nil, since
// the server sees TLS, if any, only as a transport filter; and a 101
// response written without Hijack closes the connection after its head.
//
// A handler that panics with http.ErrAbortHandler closes its connection
// quietly. Any other panic is logged with its stack at error level on the
// Server's Logger and answered with 500 if nothing was sent yet; otherwise
// the connection closes, cutting the response short. The server keeps
// serving its other connections either way.
func FromNetHTTP(h http.Handler) Handler { return netHandler{h: h} }

type netHandler struct{ h http.Handler }

// Sizes of the adapter's buffers.
const (
	// netBufSize is the response buffer: what a handler writes before the
	// adapter hands it to the loop.
	netBufSize = 32 << 10
	// netWritePiece bounds one Exchange.Write of a large handler write, so
	// that the loop checks Writable between pieces.
	netWritePiece = 64 << 10
	// netBodyHigh pauses the client once this much of the request body
	// waits for the handler; netBodyLow resumes it.
	netBodyHigh = 64 << 10
	netBodyLow  = 16 << 10
)

// errLoopStopped is what an adapted handler's writes and reads return once
// the transport has stopped.
var errLoopStopped = errors.New("penstock/httpd: event loop stopped")

// ServeHTTP starts h on the request. Loop only.
func (nh netHandler) ServeHTTP(x *Exchange) {
	log := x.c.srv.log()
	s := &netExchange{x: x, loop: x.Loop(), log: log, ack: make(chan error, 1), clen: -1}
	req, err := s.newRequest()
	if err != nil {
		log.Debug("bad request target", "remote", x.Req.RemoteAddr, "err", err)
		_ = x.Respond(400, nil, connectionClose...)
		return
	}
	s.req = req
	s.runOpFn, s.drainedFn, s.cutOffFn = s.runOp, s.drained, s.cutOff
	x.OnAbort(s.kill)
	x.OnClientEOF(s.clientEOF)
	go s.serve(nh.h)
}

// netExchange is one request served by a net/http handler. It is the
// handler's ResponseWriter; its fields are owned as their groups say.
//
// A request allocates this, its http.Request, URL, header map, context and
// goroutine, as with net/http's server, so there is no zero-allocation
// test; response buffers come from a pool.
type netExchange struct {
	// Set before the handler starts, then read only.
	x      *Exchange // loop only
	loop   transport.Loop
	log    *slog.Logger
	req    *http.Request
	ctx    context.Context // the request's: ends with the handler, the client or its EOF
	cancel context.CancelCauseFunc
	body   netBody
	ack    chan error // the loop's answer to the op it was handed
	// dead is closed by kill, after it has set deadErr: the exchange is
	// no longer the handler's, and the loop reads no op of it any more.
	dead    chan struct{}
	deadErr error

	runOpFn, drainedFn, cutOffFn func()

	// The handler's goroutine only.
	header      http.Header
	wroteHeader bool
	status      int
	head        []Field // the head as WriteHeader saw it
	flags       headFlags
	trailerKeys []string // declared in the Trailer field
	clen        int64    // Content-Length of the head; -1 without one
	written     int64
	committed   bool // the head went to the loop
	finished    bool // the handler returned
	werr        error
	buf         []byte
	bufArr      *[netBufSize]byte
	dateBuf     [len(http.TimeFormat)]byte
	clBuf       [20]byte
	wdl         time.Time // the write deadline of http.ResponseController

	// op is the operation handed to the loop: written by the handler's
	// goroutine before Execute, read by the loop until it answers on ack.
	// One is in flight at a time, so the order of Execute calls, which a
	// gnet loop does not keep under load, does not matter.
	op netOp

	// Loop only.
	done     bool   // the exchange is no longer this handler's: ended or dead
	inflight bool   // op was taken and not answered yet
	waiting  bool   // pump waits for OnDrained
	pend     []byte // op.data not yet written
}

type opKind uint8

const (
	opWrite   opKind = iota // head (if any), data, then End if end
	opInterim               // a 1xx head
	opRespond500
	opClose
	opHijack
)

type netOp struct {
	kind     opKind
	head     bool
	status   int
	fields   []Field
	data     []byte // borrowed until the loop answers
	flush    bool   // send a head that no data carries
	end      bool
	trailers []Field
	pooled   *[netBufSize]byte // put back once the final op is written

	// opHijack's results.
	conn    net.Conn
	release func()
}

// headFlags records what a head leaves for the adapter to add.
type headFlags struct {
	haveType, haveDate, hasCE, hasTE, trailers bool
}

var (
	connectionClose = []Field{{Name: []byte("Connection"), Value: []byte("close")}}
	fieldDate       = []byte("Date")
	netBufPool      = sync.Pool{New: func() any { return new([netBufSize]byte) }}
)

// newRequest builds the *http.Request for the exchange. Loop only.
func (s *netExchange) newRequest() (*http.Request, error) {
	q := &s.x.Req
	method := knownMethod(q.Method)
	target := string(q.Target)
	rawURL := target
	justAuthority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	if justAuthority {
		rawURL = "http://" + target
	}
	u, err := url.ParseRequestURI(rawURL)
	if err != nil {
		return nil, err
	}
	if justAuthority {
		u.Scheme = ""
	}
	r := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: q.ProtoMinor,
		Header:     netHeader(q.Headers),
		Host:       string(q.Host),
		RequestURI: target,
		Body:       http.NoBody,
	}
	if q.ProtoMinor == 0 {
		r.Proto = "HTTP/1.0"
	}
	if q.RemoteAddr != nil {
		r.RemoteAddr = q.RemoteAddr.String()
	}
	if h1 := q.HTTP1(); h1 != nil {
		r.Close = !h1.KeepAlive()
	}
	switch {
	case q.ContentLength < 0:
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		if vv, ok := r.Header["Trailer"]; ok {
			delete(r.Header, "Trailer")
			r.Trailer = declaredTrailers(vv)
		}
		r.Body = &s.body
	case q.ContentLength > 0:
		r.ContentLength = q.ContentLength
		r.Body = &s.body
	}
	s.body.s = s
	s.body.wake = make(chan struct{}, 1)
	s.dead = make(chan struct{})
	base := context.WithValue(context.Background(), http.LocalAddrContextKey, s.x.Stream().LocalAddr())
	s.ctx, s.cancel = context.WithCancelCause(base)
	return r.WithContext(s.ctx), nil
}

func knownMethod(m []byte) string {
	for _, k := range [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect} {
		if string(m) == k {
			return k
		}
	}
	return string(m)
}

// netHeader turns fields into a header map as net/http's reader does, with
// one string for all the values and one slice of them. Host and
// Transfer-Encoding are left out: they have fields of their own in
// http.Request.
func netHeader(fields []Field) http.Header {
	size := 0
	for _, f := range fields {
		size += len(f.Value)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, f := range fields {
		sb.Write(f.Value)
	}
	all := sb.String()
	h := make(http.Header, len(fields))
	vals := make([]string, len(fields))
	off := 0
	for i, f := range fields {
		v := all[off : off+len(f.Value)]
		off += len(f.Value)
		k := canonicalKey(f.Name)
		if k == "Host" || k == "Transfer-Encoding" {
			continue
		}
		if vv, ok := h[k]; ok {
			h[k] = append(vv, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

// commonKeys maps common field names, canonical or lower case, to their
// canonical form without allocating.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Cookie", "Expect", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
		"Range", "Referer", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "Via", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

func canonicalKey(name []byte) string {
	if k, ok := commonKeys[string(name)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

// declaredTrailers is Request.Trailer before the body is read: the names a
// Trailer field announces, with nil values, as net/http makes it.
func declaredTrailers(vv []string) http.Header {
	var t http.Header
	for _, v := range vv {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.TrimString(k)
			if k == "" {
				continue
			}
			switch k = http.CanonicalHeaderKey(k); k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			if t == nil {
				t = http.Header{}
			}
			t[k] = nil
		}
	}
	return t
}

// serve runs the handler and ends the response. It is the request's
// goroutine.
func (s *netExchange) serve(h http.Handler) {
	defer func() {
		if v := recover(); v != nil {
			s.panicked(v)
		}
		s.body.Close()
		s.cancel(context.Canceled)
	}()
	h.ServeHTTP(s, s.req)
	s.finish()
}

// finish ends the response once the handler has returned.
func (s *netExchange) finish() {
	if s.werr == nil && !s.wdl.IsZero() && !time.Now().Before(s.wdl) {
		_ = s.writeTimedOut()
	}
	if s.werr != nil {
		s.finished = true
		return
	}
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	s.finished = true
	s.op = netOp{kind: opWrite, data: s.buf, end: true, pooled: s.bufArr}
	s.buf, s.bufArr = nil, nil
	s.op.trailers = s.finalTrailers()
	if !s.committed {
		s.op.head, s.op.status, s.op.fields = true, s.status, s.commitHead(s.op.data)
	}
	if !s.loop.Execute(s.runOpFn) && s.op.pooled != nil {
		netBufPool.Put(s.op.pooled)
	}
}

func (s *netExchange) panicked(v any) {
	aborting := v == http.ErrAbortHandler
	if !aborting {
		s.log.Error("http handler panicked", "remote", s.req.RemoteAddr, "uri", s.req.RequestURI,
			"panic", v, "stack", string(debug.Stack()))
	}
	if s.werr != nil {
		return // the exchange is dead, and an op may still be in flight
	}
	if s.bufArr != nil {
		netBufPool.Put(s.bufArr)
		s.buf, s.bufArr = nil, nil
	}
	s.werr = errors.New("penstock/httpd: handler panicked")
	s.op = netOp{kind: opClose}
	if !aborting && !s.committed {
		s.op.kind = opRespond500
	}
	s.loop.Execute(s.runOpFn)
}

// Header returns the header map of the response.
func (s *netExchange) Header() http.Header {
	if s.header == nil {
		s.header = http.Header{}
	}
	return s.header
}

// WriteHeader sends the head with code, or an interim response for a 1xx
// code other than 101.
func (s *netExchange) WriteHeader(code int) {
	if s.wroteHeader || s.finished {
		s.log.Warn("http: superfluous response.WriteHeader call", "uri", s.req.RequestURI)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		s.interim(code)
		return
	}
	s.wroteHeader = true
	s.status = code
	s.clen = -1
	s.head, s.flags = s.encodeHead(code, true)
}

func (s *netExchange) interim(code int) {
	if s.werr != nil {
		return
	}
	fields, _ := s.encodeHead(code, false)
	s.op = netOp{kind: opInterim, status: code, fields: fields}
	_ = s.roundTrip()
}

// encodeHead turns the header map into the fields of a head with status,
// in key order as net/http writes them. The fields the server frames
// itself and the ones the status forbids are left out, as are names that
// are not tokens. final records Content-Length and the declared trailers.
func (s *netExchange) encodeHead(status int, final bool) ([]Field, headFlags) {
	var fl headFlags
	if len(s.header) == 0 {
		return nil, fl
	}
	keys := make([]string, 0, len(s.header))
	size, n := 0, 0
	for k, vv := range s.header {
		keys = append(keys, k)
		for _, v := range vv {
			size += len(k) + len(v)
			n++
		}
	}
	slices.Sort(keys)
	fl.hasTE = s.header.Get("Transfer-Encoding") != ""
	fl.hasCE = s.header.Get("Content-Encoding") != ""
	_, fl.haveType = s.header["Content-Type"]
	_, fl.haveDate = s.header["Date"]
	// The arena has room for every value, so the fields' slices of it stay
	// put while it fills.
	arena := make([]byte, 0, size)
	fields := make([]Field, 0, n+3)
	for _, k := range keys {
		vv := s.header[k]
		switch {
		case strings.HasPrefix(k, http.TrailerPrefix):
			fl.trailers = true
			continue
		case k == "Transfer-Encoding":
			continue
		case k == "Content-Length":
			if !bodyAllowed(status) || fl.hasTE {
				continue
			}
			if final && len(vv) > 0 {
				cl, err := strconv.ParseInt(vv[0], 10, 64)
				if err != nil || cl < 0 {
					s.log.Warn("http: invalid Content-Length", "value", vv[0], "uri", s.req.RequestURI)
					continue
				}
				s.clen = cl
				vv = vv[:1]
			}
		case k == "Content-Type" && status == http.StatusNotModified:
			continue
		case k == "Trailer":
			fl.trailers = true
			if final {
				s.trailerKeys = declaredTrailerKeys(vv)
			}
		}
		if !validFieldName(k) {
			continue
		}
		for _, v := range vv {
			name := len(arena)
			arena = append(arena, k...)
			val := len(arena)
			arena = append(arena, textproto.TrimString(v)...)
			fields = append(fields, Field{Name: arena[name:val:val], Value: arena[val:len(arena):len(arena)]})
		}
	}
	return fields, fl
}

func declaredTrailerKeys(vv []string) []string {
	var keys []string
	for k := range declaredTrailers(vv) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validFieldName reports whether name is a token (RFC 9110 §5.1); net/http
// drops the fields whose names are not.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// commitHead completes the head that goes out with data, the first body
// bytes: the Content-Length of a body the handler finished within the
// buffer, a sniffed Content-Type and Date.
func (s *netExchange) commitHead(data []byte) []Field {
	s.committed = true
	f := s.head
	fl := s.flags
	if s.finished && !fl.trailers && !fl.hasTE && bodyAllowed(s.status) && s.clen < 0 &&
		(s.req.Method != http.MethodHead || len(data) > 0) {
		s.clen = int64(len(data))
		f = append(f, Field{Name: contentLength, Value: strconv.AppendInt(s.clBuf[:0], s.clen, 10)})
	}
	if bodyAllowed(s.status) && !fl.haveType && !fl.hasCE && !fl.hasTE && len(data) > 0 {
		f = append(f, Field{Name: contentType, Value: []byte(http.DetectContentType(data))})
	}
	if !fl.haveDate {
		f = append(f, Field{Name: fieldDate, Value: time.Now().UTC().AppendFormat(s.dateBuf[:0], http.TimeFormat)})
	}
	return f
}

// finalTrailers collects the trailers from the header map once the handler
// has returned, as net/http does.
func (s *netExchange) finalTrailers() []Field {
	var t []Field
	add := func(k string, vv []string) {
		if !validFieldName(k) {
			return
		}
		for _, v := range vv {
			t = append(t, Field{Name: []byte(k), Value: []byte(textproto.TrimString(v))})
		}
	}
	for _, k := range s.trailerKeys {
		add(k, s.header[k])
	}
	for k, vv := range s.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			add(name, vv)
		}
	}
	return t
}

// Write buffers p, handing full buffers to the loop; it blocks while the
// client is slow to take them.
func (s *netExchange) Write(p []byte) (int, error) {
	if s.finished {
		return 0, errors.New("penstock/httpd: Write after the handler returned")
	}
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(s.status) {
		return 0, http.ErrBodyNotAllowed
	}
	s.written += int64(len(p))
	if s.clen >= 0 && s.written > s.clen {
		return 0, http.ErrContentLength
	}
	if s.werr != nil {
		return 0, s.werr
	}
	if s.committed && s.req.Method == http.MethodHead {
		return len(p), nil
	}
	n := len(p)
	if s.bufArr == nil {
		s.bufArr = netBufPool.Get().(*[netBufSize]byte)
		s.buf = s.bufArr[:0]
	}
	if len(s.buf)+len(p) <= netBufSize {
		s.buf = append(s.buf, p...)
		return n, nil
	}
	if len(s.buf) > 0 {
		k := netBufSize - len(s.buf)
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if err := s.send(s.buf, false); err != nil {
			return 0, err
		}
		s.buf = s.buf[:0]
	}
	if len(p) >= netBufSize {
		// The loop writes p itself while this goroutine waits.
		if err := s.send(p, false); err != nil {
			return n - len(p), err
		}
		return n, nil
	}
	s.buf = append(s.buf, p...)
	return n, nil
}

// Flush sends the head and what is buffered now.
func (s *netExchange) Flush() { _ = s.FlushError() }

// FlushError is Flush reporting an error; http.ResponseController calls it.
func (s *netExchange) FlushError() error {
	if s.finished {
		return errors.New("penstock/httpd: Flush after the handler returned")
	}
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if s.werr != nil {
		return s.werr
	}
	err := s.send(s.buf, true)
	s.buf = s.buf[:0]
	return err
}

// Hijack takes the connection from HTTP, as net/http's does, for a handler
// that speaks another protocol on it (a WebSocket upgrader, for one): the
// socket leaves the event loop and the returned net.Conn is driven by the
// handler's goroutines. It fails once anything of the response was
// written, or when the client has already sent bytes past the request
// head. Closing the returned connection gives back what the listener's
// admission took.
func (s *netExchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if s.werr != nil {
		return nil, nil, s.werr
	}
	if s.wroteHeader || s.committed || len(s.buf) > 0 {
		return nil, nil, errors.New("penstock/httpd: Hijack after the response was started")
	}
	s.op = netOp{kind: opHijack}
	if err := s.roundTrip(); err != nil {
		return nil, nil, err
	}
	nc := &hijackedConn{Conn: s.op.conn, release: s.op.release}
	s.op.conn, s.op.release = nil, nil
	s.werr = http.ErrHijacked
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}

// hijackedConn is a hijacked socket; Close also releases its admission.
type hijackedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *hijackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// EnableFullDuplex reports success: the request body can always be read
// while the response is written. http.ResponseController calls it.
func (s *netExchange) EnableFullDuplex() error { return nil }

// send hands data to the loop, with the head before it if it has not gone
// yet, and waits until the loop has written it and the client takes more.
func (s *netExchange) send(data []byte, flush bool) error {
	s.op = netOp{kind: opWrite, data: data, flush: flush}
	if !s.committed {
		s.op.head, s.op.status, s.op.fields = true, s.status, s.commitHead(data)
	}
	return s.roundTrip()
}

// roundTrip runs s.op on the loop and waits for its answer. Once it fails,
// the exchange is dead and no op follows, so an answer left behind by
// giving up on the context is never mistaken for the next one's.
//
// Past the write deadline the op does not go; one that is still under way
// when the deadline passes is cut off and the connection closed, as a
// net/http connection whose write timed out is broken.
func (s *netExchange) roundTrip() error {
	var expire <-chan time.Time
	if !s.wdl.IsZero() {
		d := time.Until(s.wdl)
		if d <= 0 {
			return s.writeTimedOut()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expire = t.C
	}
	if !s.loop.Execute(s.runOpFn) {
		s.werr = errLoopStopped
		return s.werr
	}
	for {
		select {
		case err := <-s.ack:
			if err != nil {
				s.werr = err
			}
			return err
		case <-s.dead:
			// The loop no longer reads the op (see kill).
			s.werr = s.deadErr
			return s.werr
		case <-expire:
			// The loop may still hold op.data: wait for its answer.
			expire = nil
			if !s.loop.Execute(s.cutOffFn) {
				s.werr = errLoopStopped
				return s.werr
			}
		}
	}
}

// errWriteDeadline is what writes return past the write deadline.
var errWriteDeadline = fmt.Errorf("penstock/httpd: write: %w", os.ErrDeadlineExceeded)

// writeTimedOut fails the response at its write deadline: no more of it
// can be sent, so the connection closes. The handler's goroutine only.
func (s *netExchange) writeTimedOut() error {
	s.werr = errWriteDeadline
	s.loop.Execute(s.cutOffFn)
	return s.werr
}

// cutOff ends the exchange whose write deadline passed, closing the
// connection, unless it is over already. Loop only.
func (s *netExchange) cutOff() {
	if !s.done {
		s.fail(errWriteDeadline)
	}
}

// clientEOF cancels the request's context once the client has shut down
// its side after the request, as net/http does. Loop only.
func (s *netExchange) clientEOF() { s.cancel(context.Canceled) }

// SetWriteDeadline sets when writes of the response fail (zero: never),
// for http.ResponseController. A write still under way then is cut off
// and the connection closed. The handler's goroutine only.
func (s *netExchange) SetWriteDeadline(t time.Time) error {
	s.wdl = t
	return nil
}

// SetReadDeadline sets when reads of the request body fail with an error
// matching os.ErrDeadlineExceeded (zero: never), for
// http.ResponseController. Safe from any goroutine.
func (s *netExchange) SetReadDeadline(t time.Time) error {
	s.body.mu.Lock()
	s.body.rdl = t
	s.body.mu.Unlock()
	s.body.signal()
	return nil
}

// runOp carries out s.op. Loop only.
func (s *netExchange) runOp() {
	s.inflight = true
	if s.done {
		err := s.deadErr
		if err == nil {
			err = ErrEnded
		}
		s.complete(err)
		return
	}
	op := &s.op
	x := s.x
	switch op.kind {
	case opInterim:
		if err := x.WriteHead(op.status, op.fields...); err != nil {
			s.fail(err)
			return
		}
		s.complete(nil)
	case opWrite:
		if op.head {
			if op.status == http.StatusSwitchingProtocols {
				// Nothing can take the connection over without Hijack.
				x.c.closing = true
			}
			if h1 := x.Req.HTTP1(); h1 != nil && h1.Expect100() && !x.BodyDone() {
				// As net/http: the client that waits for a 100 learns that
				// it need not send its body.
				op.fields = append(op.fields, connectionClose...)
			}
			if err := x.WriteHead(op.status, op.fields...); err != nil {
				s.fail(err)
				return
			}
		}
		s.pend = op.data
		s.pump()
	case opRespond500:
		s.done = true
		s.complete(nil)
		_ = x.Respond(http.StatusInternalServerError, nil, connectionClose...)
	case opClose:
		s.done = true
		s.complete(nil)
		_ = x.Stream().Close()
	case opHijack:
		s.done = true
		st, err := x.Hijack()
		if err == nil {
			op.conn, op.release, err = transport.Detach(st)
			if err != nil {
				_ = st.Close()
				err = fmt.Errorf("penstock/httpd: hijack: %w", err)
			}
		}
		s.complete(err)
	}
}

// pump writes s.pend in pieces, stopping while the client is congested,
// then ends the response for the final op. Loop only.
func (s *netExchange) pump() {
	x := s.x
	for len(s.pend) > 0 {
		n := min(len(s.pend), netWritePiece)
		_, err := x.Write(s.pend[:n])
		if s.done {
			return // the client went away during the write
		}
		if err != nil {
			s.fail(err)
			return
		}
		s.pend = s.pend[n:]
		if !x.Writable() && (len(s.pend) > 0 || !s.op.end) {
			s.waiting = true
			x.OnDrained(s.drainedFn)
			return
		}
	}
	s.pend = nil
	if s.op.flush {
		// WriteHead keeps the head for the first body bytes; a Flush
		// without any sends it alone.
		_ = x.Flush()
	}
	if s.op.end {
		s.done = true
		err := x.End(s.op.trailers...)
		if s.op.pooled != nil {
			netBufPool.Put(s.op.pooled)
		}
		s.complete(err)
		return
	}
	s.complete(nil)
}

func (s *netExchange) drained() {
	if !s.waiting || s.done {
		return
	}
	s.waiting = false
	s.x.OnDrained(nil)
	s.pump()
}

// complete answers the op in flight. Loop only.
func (s *netExchange) complete(err error) {
	if !s.inflight {
		return
	}
	s.inflight = false
	select {
	case s.ack <- err:
	default:
	}
}

// kill ends the exchange for the handler: the client went away (it is the
// OnAbort func) or a write failed. Its body reads and writes fail from now
// on, and the context is cancelled. Loop only.
func (s *netExchange) kill(err error) {
	if s.done {
		return
	}
	s.done = true
	s.deadErr = err
	close(s.dead)
	s.body.fail(err)
	s.cancel(err)
	s.complete(err)
}

// fail kills the exchange after a write failed and closes the connection,
// since the response cannot end. Loop only.
func (s *netExchange) fail(err error) {
	st := s.x.Stream()
	s.kill(err)
	_ = st.Close()
}

func (s *netExchange) startBody() {
	if !s.done {
		s.x.ReadBody(s.onBody)
	}
}

func (s *netExchange) resumeBody() {
	if !s.done {
		s.x.ResumeBody()
	}
}

// onBody takes a piece of the request body from the exchange. Loop only.
func (s *netExchange) onBody(p []byte, end bool) {
	if s.done {
		return
	}
	var trailers []Field
	if end {
		trailers = s.x.Trailers()
	}
	if s.body.put(p, end, trailers) {
		s.x.PauseBody()
	}
}

// netBody is the request body: the loop puts what arrives in buf, the
// handler's reads take it out.
type netBody struct {
	s    *netExchange
	wake chan struct{} // a put or a failure happened

	mu      sync.Mutex
	buf     []byte
	off     int // buf[off:] is unread
	started bool
	paused  bool // the loop paused the exchange's body
	eof     bool
	closed  bool
	err     error
	trailer http.Header // the chunked body's trailers, for Request.Trailer
	rdl     time.Time   // the read deadline of http.ResponseController
}

// put appends p and reports whether the loop must pause the body. Loop
// only.
func (b *netBody) put(p []byte, end bool, trailers []Field) (pause bool) {
	b.mu.Lock()
	if !b.closed && len(p) > 0 {
		if b.off > 0 && len(b.buf)+len(p) > cap(b.buf) {
			b.buf = b.buf[:copy(b.buf, b.buf[b.off:])]
			b.off = 0
		}
		b.buf = append(b.buf, p...)
	}
	if end {
		b.eof = true
		for _, f := range trailers {
			if b.trailer == nil {
				b.trailer = http.Header{}
			}
			b.trailer.Add(string(f.Name), string(f.Value))
		}
	} else if b.closed || len(b.buf)-b.off >= netBodyHigh {
		b.paused = true
		pause = true
	}
	b.mu.Unlock()
	b.signal()
	return pause
}

// fail makes reads fail with err once the buffered bytes are read. Loop
// only.
func (b *netBody) fail(err error) {
	b.mu.Lock()
	if b.err == nil && !b.eof {
		b.err = err
	}
	b.mu.Unlock()
	b.signal()
}

func (b *netBody) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Read reads the request body, waiting for the client.
func (b *netBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for {
		switch {
		case b.closed:
			b.mu.Unlock()
			return 0, http.ErrBodyReadAfterClose
		case b.off < len(b.buf):
			n := copy(p, b.buf[b.off:])
			b.off += n
			if b.off == len(b.buf) {
				b.buf, b.off = b.buf[:0], 0
			}
			resume := b.paused && len(b.buf)-b.off <= netBodyLow
			if resume {
				b.paused = false
			}
			b.mu.Unlock()
			if resume {
				b.s.loop.Execute(b.s.resumeBody)
			}
			return n, nil
		case b.eof:
			b.buf = nil
			tr := b.trailer
			b.trailer = nil
			b.mu.Unlock()
			if tr != nil {
				b.setTrailer(tr)
			}
			return 0, io.EOF
		case b.err != nil:
			b.mu.Unlock()
			return 0, b.err
		case len(p) == 0:
			b.mu.Unlock()
			return 0, nil
		}
		var t *time.Timer
		var expire <-chan time.Time
		if !b.rdl.IsZero() {
			d := time.Until(b.rdl)
			if d <= 0 {
				b.mu.Unlock()
				return 0, errReadDeadline
			}
			t = time.NewTimer(d)
			expire = t.C
		}
		start := !b.started
		b.started = true
		b.mu.Unlock()
		if start && !b.s.loop.Execute(b.s.startBody) {
			b.mu.Lock()
			b.err = errLoopStopped
			continue
		}
		select {
		case <-b.wake:
		case <-expire:
		case <-b.s.dead:
			b.mu.Lock()
			if b.err == nil && !b.eof {
				b.err = b.s.deadErr
			}
			b.mu.Unlock()
		}
		if t != nil {
			t.Stop()
		}
		b.mu.Lock()
	}
}

// errReadDeadline is what body reads return past the read deadline.
var errReadDeadline = fmt.Errorf("penstock/httpd: read: %w", os.ErrDeadlineExceeded)

// setTrailer merges the received trailers into Request.Trailer, as
// net/http's body reader does at io.EOF. The handler's goroutine only.
func (b *netBody) setTrailer(tr http.Header) {
	r := b.s.req
	if r.Trailer == nil {
		r.Trailer = http.Header{}
	}
	for k, vv := range tr {
		r.Trailer[k] = vv
	}
}

// Close makes later reads fail, and a read waiting for the client return
// (the server closes the body when the handler returns); what the client
// still sends is left for the server to discard after the response.
func (b *netBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.buf, b.off = nil, 0
	b.mu.Unlock()
	b.signal()
	return nil
}

var (
	_ Handler                         = netHandler{}
	_ http.ResponseWriter             = (*netExchange)(nil)
	_ http.Flusher                    = (*netExchange)(nil)
	_ io.ReadCloser                   = (*netBody)(nil)
	_ interface{ FlushError() error } = (*netExchange)(nil)
)
