package transport

import (
	"net"
	"sync"
)

// memAddr is the address of an in-memory stream.
type memAddr string

func (a memAddr) Network() string { return "memory" }
func (a memAddr) String() string  { return string(a) }

// memStream is one end of an in-memory pipe. Bytes written to one end wait
// in the other end's inbox until its handler consumes them; Queued on the
// writer counts them, so backpressure works as over a socket.
type memStream struct {
	loop Loop
	peer *memStream
	name memAddr
	wm   Watermarks

	mu        sync.Mutex
	inbox     []byte // written by the peer, not yet consumed
	inEOF     bool   // the peer shut its write side or closed
	scheduled bool
	// writerCongested is the peer's flag: the peer passed the high
	// watermark writing into this inbox and waits for OnDrained.
	writerCongested bool

	// Loop only.
	h         Handler
	paused    bool
	eofSeen   bool
	shutDone  bool
	closed    bool
	deliverFn func()
}

// NewPipe returns the two ends of an in-memory stream; a's callbacks run on
// loopA and b's on loopB, which may be the same loop. It is safe from any
// goroutine.
func NewPipe(loopA, loopB Loop, wm Watermarks) (a, b Stream) {
	wm = wm.orDefault()
	x := &memStream{loop: loopA, name: "pipe-a", wm: wm}
	y := &memStream{loop: loopB, name: "pipe-b", wm: wm}
	x.peer, y.peer = y, x
	x.deliverFn, y.deliverFn = x.deliver, y.deliver
	return x, y
}

// schedule queues a delivery on the stream's loop; callers hold s.mu.
func (s *memStream) scheduleLocked() {
	if !s.scheduled {
		s.scheduled = true
		s.loop.Execute(s.deliverFn)
	}
}

func (s *memStream) deliver() {
	s.mu.Lock()
	s.scheduled = false
	data := s.inbox
	s.mu.Unlock()
	if s.closed || s.paused {
		return
	}
	n := 0
	if len(data) > 0 && s.h != nil {
		n = min(max(s.h.OnData(s, data), 0), len(data))
	}
	s.mu.Lock()
	if s.closed {
		// The handler closed the stream in OnData, which dropped the
		// inbox: nothing is left to keep or to deliver.
		s.mu.Unlock()
		return
	}
	s.inbox = s.inbox[n:]
	if len(s.inbox) == 0 {
		s.inbox = nil
	}
	drained := s.writerCongested && len(s.inbox) <= s.wm.Low
	if drained {
		s.writerCongested = false
	}
	eof := s.inEOF && len(s.inbox) == 0 && !s.eofSeen
	s.mu.Unlock()
	if drained {
		w := s.peer
		w.loop.Execute(func() {
			if !w.closed && w.h != nil {
				w.h.OnDrained(w)
			}
		})
	}
	if eof && !s.closed && s.h != nil {
		s.eofSeen = true
		s.h.OnReadEOF(s)
		s.maybeFinish()
	}
}

// Loop returns the end's loop. It is safe from any goroutine.
func (s *memStream) Loop() Loop { return s.loop }

// Handler returns the handler. Loop only.
func (s *memStream) Handler() Handler { return s.h }

// SetHandler sets the handler and delivers what already waits. Loop only.
func (s *memStream) SetHandler(h Handler) {
	s.h = h
	s.mu.Lock()
	if len(s.inbox) > 0 || s.inEOF {
		s.scheduleLocked()
	}
	s.mu.Unlock()
}

// Write appends p to the peer's inbox. Loop only.
func (s *memStream) Write(p []byte) (int, error) {
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.shutDone:
		return 0, ErrWriteShut
	case len(p) == 0:
		return 0, nil
	}
	d := s.peer
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inEOF {
		return 0, ErrClosed
	}
	d.inbox = append(d.inbox, p...)
	if len(d.inbox) > s.wm.High {
		d.writerCongested = true
	}
	d.scheduleLocked()
	return len(p), nil
}

// Queued reports bytes the peer has not consumed. Loop only.
func (s *memStream) Queued() int {
	s.peer.mu.Lock()
	defer s.peer.mu.Unlock()
	return len(s.peer.inbox)
}

// Writable reports whether the peer's inbox is under the high watermark.
// Loop only.
func (s *memStream) Writable() bool {
	s.peer.mu.Lock()
	defer s.peer.mu.Unlock()
	return !s.peer.writerCongested
}

// PauseRead stops deliveries. Loop only.
func (s *memStream) PauseRead() { s.paused = true }

// ResumeRead restarts deliveries, unconsumed input first. Loop only.
func (s *memStream) ResumeRead() {
	s.paused = false
	s.mu.Lock()
	s.scheduleLocked()
	s.mu.Unlock()
}

// CloseWrite gives the peer EOF after what it has not read yet. Loop only.
func (s *memStream) CloseWrite() error {
	if s.closed {
		return ErrClosed
	}
	if s.shutDone {
		return nil
	}
	s.shutDone = true
	d := s.peer
	d.mu.Lock()
	d.inEOF = true
	d.scheduleLocked()
	d.mu.Unlock()
	s.maybeFinish()
	return nil
}

// Close ends this side: the peer reads EOF and its writes fail. Loop only.
func (s *memStream) Close() error {
	s.finish(nil)
	return nil
}

func (s *memStream) maybeFinish() {
	if s.eofSeen && s.shutDone {
		s.finish(nil)
	}
}

func (s *memStream) finish(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.mu.Lock()
	s.inEOF = true
	s.inbox = nil
	s.mu.Unlock()
	d := s.peer
	d.mu.Lock()
	d.inEOF = true
	d.scheduleLocked()
	d.mu.Unlock()
	if s.h != nil {
		s.h.OnClose(s, err)
	}
}

// LocalAddr returns this end's name. Loop only.
func (s *memStream) LocalAddr() net.Addr { return s.name }

// RemoteAddr returns the other end's name. Loop only.
func (s *memStream) RemoteAddr() net.Addr { return s.peer.name }

var _ Stream = (*memStream)(nil)
