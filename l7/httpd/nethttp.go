package httpd

// This file runs net/http handlers on the server. Only that direction
// exists: a Handler runs on an event loop, which net/http's server does not
// have, so there is no adapter that would serve a Handler from net/http.
// The other way round for clients needs no adapter either: net/http's own
// client talks to a penstock server over the wire.
//
// This file holds the adapter and the exchange it makes of each request,
// whose goroutine runs the handler. The exchange's other concerns have a
// file each: building the *http.Request (nethttp_request.go), the
// ResponseWriter (nethttp_writer.go), the operations the handler's
// goroutine hands to the loop (nethttp_loop.go) and the request body's
// buffer (nethttp_body.go).

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
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

var (
	connectionClose = []Field{{Name: []byte("Connection"), Value: []byte("close")}}
	fieldDate       = []byte("Date")
	netBufPool      = sync.Pool{New: func() any { return new([netBufSize]byte) }}
)

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

func (s *netExchange) panicked(v any) {
	aborting := v == http.ErrAbortHandler
	if !aborting {
		transport.Recovered(s.log, "http handler panicked", v, "remote", s.req.RemoteAddr, "uri", s.req.RequestURI)
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

var (
	_ Handler                         = netHandler{}
	_ http.ResponseWriter             = (*netExchange)(nil)
	_ http.Flusher                    = (*netExchange)(nil)
	_ io.ReadCloser                   = (*netBody)(nil)
	_ interface{ FlushError() error } = (*netExchange)(nil)
)
