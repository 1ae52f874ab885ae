package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// detachedStream is a Stream over any net.Conn, driven by goroutines: a
// reader hands each read to the loop and waits until it was delivered, and
// an asyncWriter writes. It carries what cannot run on an event loop (a
// net.Conn that is not a socket, blocking code), and costs a reader goroutine, a writer goroutine while it
// writes, and a 32 KiB read buffer.
type detachedStream struct {
	loop Loop
	nc   net.Conn
	high int
	w    *asyncWriter

	// The reader goroutine owns rbuf and sets rn and rerr before it hands
	// them to the loop with deliverFn; ack tells it the loop is done.
	rbuf      []byte
	rn        int
	rerr      error
	deliverFn func()
	ack       chan struct{}
	resume    chan struct{}
	paused    atomic.Bool
	quit      chan struct{}

	// Loop only.
	h        Handler
	pending  []byte
	readEOF  bool
	shutReq  bool
	shutDone bool
	closed   bool
}

// NewDetachedStream wraps nc in a Stream whose callbacks run on loop. Input
// is delivered once a handler is set. It is safe from any goroutine; nc
// belongs to the stream from then on.
func NewDetachedStream(loop Loop, nc net.Conn, wm Watermarks) Stream {
	wm = wm.orDefault()
	s := &detachedStream{
		loop:   loop,
		nc:     nc,
		high:   wm.High,
		rbuf:   make([]byte, 32<<10),
		ack:    make(chan struct{}, 1),
		resume: make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	s.w = &asyncWriter{t: connTarget{nc}, low: wm.Low}
	s.w.notify = func() { s.loop.Execute(s.onWriter) }
	s.deliverFn = s.onRead
	go s.readLoop()
	return s
}

func (s *detachedStream) readLoop() {
	for {
		if s.paused.Load() {
			select {
			case <-s.resume:
				continue
			case <-s.quit:
				return
			}
		}
		n, err := s.nc.Read(s.rbuf)
		s.rn, s.rerr = n, err
		if !s.loop.Execute(s.deliverFn) {
			return
		}
		select {
		case <-s.ack:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// onRead runs on the loop with the reader's latest result.
func (s *detachedStream) onRead() {
	n, err := s.rn, s.rerr
	if !s.closed && n > 0 {
		if s.h == nil || s.paused.Load() || len(s.pending) > 0 {
			s.pending = append(s.pending, s.rbuf[:n]...)
			if s.h != nil && !s.paused.Load() {
				s.deliverPending()
			}
		} else if c := s.deliver(s.rbuf[:n]); c < n {
			s.pending = append(s.pending, s.rbuf[c:n]...)
		}
	}
	s.ack <- struct{}{}
	if s.closed || err == nil {
		return
	}
	if errors.Is(err, io.EOF) {
		s.readEOF = true
		s.pending = nil
		if s.h != nil {
			s.h.OnReadEOF(s)
		}
		s.maybeFinish()
		return
	}
	s.finish(fmt.Errorf("penstock/transport: read %s: %w", s.nc.RemoteAddr(), err))
}

func (s *detachedStream) deliver(p []byte) int {
	if s.h == nil {
		return 0
	}
	return min(max(s.h.OnData(s, p), 0), len(p))
}

func (s *detachedStream) deliverPending() {
	if s.closed || len(s.pending) == 0 || s.paused.Load() {
		return
	}
	n := s.deliver(s.pending)
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.pending = nil
	}
}

// Loop returns the stream's loop. It is safe from any goroutine.
func (s *detachedStream) Loop() Loop { return s.loop }

// SetHandler sets the handler; input that waited for one is delivered on
// Handler returns the handler. Loop only.
func (s *detachedStream) Handler() Handler { return s.h }

// the next ResumeRead or read. Loop only.
func (s *detachedStream) SetHandler(h Handler) { s.h = h }

// Write queues p for the writer goroutine. Loop only.
func (s *detachedStream) Write(p []byte) (int, error) {
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.shutReq:
		return 0, ErrWriteShut
	case len(p) == 0:
		return 0, nil
	}
	if _, ok := s.w.enqueue(p, s.high); !ok {
		return 0, ErrClosed
	}
	return len(p), nil
}

// Queued reports bytes the writer has not written yet. Loop only.
func (s *detachedStream) Queued() int { return s.w.queued() }

// Writable reports whether the queue is under the high watermark. Loop
// only.
func (s *detachedStream) Writable() bool { return !s.w.isCongested() }

func (s *detachedStream) onWriter() {
	if s.closed {
		return
	}
	ev, err := s.w.take()
	if ev&evFailed != 0 {
		s.finish(fmt.Errorf("penstock/transport: write to %s: %w", s.nc.RemoteAddr(), err))
		return
	}
	if ev&evDrained != 0 && s.h != nil {
		s.h.OnDrained(s)
	}
	if ev&evShut != 0 && !s.closed {
		s.shutDone = true
		s.maybeFinish()
	}
}

// PauseRead stops the reader after its current read. Loop only.
func (s *detachedStream) PauseRead() { s.paused.Store(true) }

// ResumeRead restarts the reader and re-delivers unconsumed input. Loop
// only.
func (s *detachedStream) ResumeRead() {
	if s.paused.Swap(false) {
		select {
		case s.resume <- struct{}{}:
		default:
		}
	}
	if len(s.pending) > 0 {
		s.loop.Execute(s.deliverPending)
	}
}

// CloseWrite shuts the write side once the queue is empty. Loop only.
func (s *detachedStream) CloseWrite() error {
	if s.closed {
		return ErrClosed
	}
	if s.shutReq {
		return nil
	}
	s.shutReq = true
	if s.w.requestShut() {
		return nil
	}
	if err := (connTarget{s.nc}).CloseWrite(); err != nil {
		s.finish(err)
		return err
	}
	s.shutDone = true
	s.maybeFinish()
	return nil
}

// Close closes the connection at once. Loop only.
func (s *detachedStream) Close() error {
	s.finish(nil)
	return nil
}

func (s *detachedStream) maybeFinish() {
	if s.readEOF && s.shutDone {
		s.finish(nil)
	}
}

func (s *detachedStream) finish(err error) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.quit)
	s.w.close()
	_ = s.nc.Close()
	s.pending = nil
	if s.h != nil {
		s.h.OnClose(s, err)
	}
}

// LocalAddr returns the connection's local address. Loop only.
func (s *detachedStream) LocalAddr() net.Addr { return s.nc.LocalAddr() }

// RemoteAddr returns the peer's address. Loop only.
func (s *detachedStream) RemoteAddr() net.Addr { return s.nc.RemoteAddr() }

// connTarget writes to a net.Conn for an asyncWriter.
type connTarget struct{ c net.Conn }

func (t connTarget) Write(p []byte) (int, error) { return t.c.Write(p) }
func (t connTarget) Close() error                { return t.c.Close() }
func (t connTarget) CloseWrite() error {
	if cw, ok := t.c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var (
	_ Stream      = (*detachedStream)(nil)
	_ writeTarget = connTarget{}
)
