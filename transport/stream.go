package transport

import (
	"errors"
	"net"
)

// Stream is a virtual L4 stream: one bidirectional byte (or datagram) flow,
// whatever carries it. All methods except Loop are loop only: call them from
// a callback of a stream on the same Loop, or from a func passed to
// Loop().Execute.
//
// The interface holds what every carrier must do. Rarer capabilities are
// offered by type assertion, as net/http offers Flusher and Hijacker: a
// loop stream can leave its loop ([Detach]), and every carrier of this
// package reports the handler set last ([HandlerOf]).
type Stream interface {
	// Loop returns the loop that runs this stream's callbacks. It is safe
	// from any goroutine.
	Loop() Loop
	// SetHandler sets the handler that receives the stream's events from now
	// on. Loop only.
	SetHandler(h Handler)
	// Write sends p, queueing what the peer does not take now. It never
	// retains p and never blocks. On a datagram stream p is one datagram.
	// Loop only.
	Write(p []byte) (int, error)
	// Queued reports the bytes accepted by Write that the kernel (or the
	// peer, for in-memory streams) has not taken yet. Loop only.
	Queued() int
	// Writable reports whether the write queue is under its high
	// watermark. Once it reports false, OnDrained follows when the queue
	// falls to the low watermark. A producer pauses its source meanwhile.
	// Loop only.
	Writable() bool
	// PauseRead stops delivering input until ResumeRead. On a TCP stream the
	// kernel window then pushes back on the sender; a datagram stream drops
	// what arrives while paused. Loop only.
	PauseRead()
	// ResumeRead undoes PauseRead and delivers again, ahead of new input,
	// the bytes a handler left unconsumed. Loop only.
	ResumeRead()
	// CloseWrite sends EOF to the peer once everything queued is out; the
	// stream keeps reading. Loop only.
	CloseWrite() error
	// Close closes both directions at once; queued output is dropped. The
	// handler's OnClose runs with a nil error. Loop only.
	Close() error
	// LocalAddr and RemoteAddr return the stream's addresses. Loop only.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// HandlerOf returns the handler set last on s, or nil when s does not say
// (a Stream from outside this package that has no Handler method). The
// PeekRouter and ProxyHeader hand bytes they read ahead to it. Loop only.
func HandlerOf(s Stream) Handler {
	if hs, ok := s.(interface{ Handler() Handler }); ok {
		return hs.Handler()
	}
	return nil
}

// Handler receives a stream's events, always on the stream's loop.
type Handler interface {
	// OnData delivers input. p is borrowed: it is valid only until OnData
	// returns. OnData returns how many bytes it consumed; the rest is
	// delivered again, ahead of new input, on the next call. On a datagram
	// stream p is one datagram and an unconsumed remainder is dropped.
	OnData(s Stream, p []byte) (consumed int)
	// OnReadEOF says the peer will send nothing more. The stream stays
	// writable; input left unconsumed is discarded, since it can only be an
	// incomplete frame.
	OnReadEOF(s Stream)
	// OnDrained says Queued fell to the stream's low watermark after it had
	// passed the high watermark: a paused producer may resume.
	OnDrained(s Stream)
	// OnClose says the stream is closed: both directions finished, Close was
	// called (err nil), or the connection failed.
	OnClose(s Stream, err error)
}

// Watermarks bound a stream's write queue. A producer pauses its source when
// the destination's Queued passes High, and resumes on OnDrained, which
// fires when Queued falls back to Low.
type Watermarks struct {
	High int
	Low  int
}

// DefaultWatermarks are 256 KiB high and 64 KiB low: measured on this design
// as fast as no limit at all, with a relay's memory held at about 12 MiB.
var DefaultWatermarks = Watermarks{High: 256 << 10, Low: 64 << 10}

func (w Watermarks) orDefault() Watermarks {
	if w.High <= 0 {
		return DefaultWatermarks
	}
	if w.Low < 0 || w.Low >= w.High {
		w.Low = w.High / 4
	}
	return w
}

// Errors a stream reports to OnClose or returns from its methods.
var (
	// ErrClosed is returned by a method called after the stream closed.
	ErrClosed = errors.New("penstock/transport: stream closed")
	// ErrWriteShut is returned by Write after CloseWrite.
	ErrWriteShut = errors.New("penstock/transport: write side shut down")
	// ErrStopped is passed to OnClose when the transport stops.
	ErrStopped = errors.New("penstock/transport: transport stopped")
	// ErrIdleTimeout is passed to OnClose of a UDP session that expired.
	ErrIdleTimeout = errors.New("penstock/transport: idle timeout")
)

// HandlerFuncs adapts plain functions to Handler; a nil func ignores its
// event (OnData then consumes everything).
type HandlerFuncs struct {
	Data    func(s Stream, p []byte) int
	ReadEOF func(s Stream)
	Drained func(s Stream)
	Closed  func(s Stream, err error)
}

// OnData calls f.Data.
func (f HandlerFuncs) OnData(s Stream, p []byte) int {
	if f.Data == nil {
		return len(p)
	}
	return f.Data(s, p)
}

// OnReadEOF calls f.ReadEOF.
func (f HandlerFuncs) OnReadEOF(s Stream) {
	if f.ReadEOF != nil {
		f.ReadEOF(s)
	}
}

// OnDrained calls f.Drained.
func (f HandlerFuncs) OnDrained(s Stream) {
	if f.Drained != nil {
		f.Drained(s)
	}
}

// OnClose calls f.Closed.
func (f HandlerFuncs) OnClose(s Stream, err error) {
	if f.Closed != nil {
		f.Closed(s, err)
	}
}

var _ Handler = HandlerFuncs{}
