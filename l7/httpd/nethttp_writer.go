package httpd

// This file is the http.ResponseWriter of an adapted handler: the header
// map turned into a head, the response buffer, Flush, Hijack and the
// deadlines of http.ResponseController. Its methods run on the handler's
// goroutine, but for SetReadDeadline, which is safe from any. What it
// writes goes to the loop as ops (nethttp_loop.go).

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// headFlags records what a head leaves for the adapter to add.
type headFlags struct {
	haveType, haveDate, hasCE, hasTE, trailers bool
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
