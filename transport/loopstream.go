package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// What a loop stream does with its gnet connection when its own OnData
// returns.
const (
	afterNone uint8 = iota
	afterPark
	afterClose
)

// loopStream is a Stream carried by a gnet connection on an EventLoop.
//
// Writes go straight to the socket with write(2); what the kernel does not
// take goes to an asyncWriter, so gnet's outbound buffer is never used and
// gnet's close can never drop output. PauseRead parks the stream: its gnet
// connection is closed while keep, a dup'ed descriptor, holds the socket
// open; ResumeRead enrolls a new dup on the same loop. After the peer's FIN
// gnet closes its connection too, and keep carries the write direction on.
type loopStream struct {
	el    *EventLoop
	c     gnet.Conn // nil while parked, after read EOF, and after close
	h     Handler
	laddr net.Addr
	raddr net.Addr
	// ln is the listener that admitted the stream (nil for attached
	// ones); finish returns the admission to it.
	ln *listener
	x  *streamExtra // nil until the stream needs one of its fields

	keep int32 // dup of the socket that outlives c; -1 until needed
	// delivering is how many of gnet's buffered bytes OnData is being
	// handed right now (0 outside OnData, and when they come from carry).
	delivering int32

	inTraffic bool
	after     uint8
	paused    bool
	parking   bool
	parked    bool
	resuming  bool
	readEOF   bool
	shutReq   bool
	shutDone  bool
	closed    bool
}

// streamExtra holds what a stream needs only once it has been congested,
// parked or given a PROXY header. Keeping it out of loopStream
// keeps an idle connection's stream in a 112-byte allocation instead of 176.
type streamExtra struct {
	w     *asyncWriter
	carry []byte // input left unconsumed when the stream parked
	// admitted is the address the stream was admitted with, when a PROXY
	// header has replaced raddr since.
	admitted net.Addr
}

// extra returns s.x, allocating it first if needed. Loop only.
func (s *loopStream) extra() *streamExtra {
	if s.x == nil {
		s.x = &streamExtra{}
	}
	return s.x
}

// aw returns the stream's asyncWriter or nil.
func (s *loopStream) aw() *asyncWriter {
	if s.x == nil {
		return nil
	}
	return s.x.w
}

// hasCarry reports whether input is waiting in carry.
func (s *loopStream) hasCarry() bool { return s.x != nil && len(s.x.carry) > 0 }

// dropCarry forgets carried input.
func (s *loopStream) dropCarry() {
	if s.x != nil {
		s.x.carry = nil
	}
}

func newLoopStream(el *EventLoop, c gnet.Conn, laddr, raddr net.Addr) *loopStream {
	s := &loopStream{el: el, c: c, keep: -1, laddr: laddr, raddr: raddr}
	c.SetContext(s)
	return s
}

// Loop returns the stream's event loop. It is safe from any goroutine.
func (s *loopStream) Loop() Loop { return s.el }

// EventLoop returns the stream's event loop as its concrete type, for
// attaching more connections to it. It is safe from any goroutine.
func (s *loopStream) EventLoop() *EventLoop { return s.el }

// Handler returns the handler. Loop only.
func (s *loopStream) Handler() Handler { return s.h }

// SetHandler sets the handler. Loop only.
func (s *loopStream) SetHandler(h Handler) { s.h = h }

// LocalAddr returns the local address. Loop only.
func (s *loopStream) LocalAddr() net.Addr { return s.laddr }

// RemoteAddr returns the peer's address. Loop only.
func (s *loopStream) RemoteAddr() net.Addr { return s.raddr }

// setRemoteAddr records the client's address a PROXY header gave. Admission
// accounting keeps the address the stream was admitted with.
func (s *loopStream) setRemoteAddr(a net.Addr) {
	if s.ln != nil && (s.x == nil || s.x.admitted == nil) {
		s.extra().admitted = s.raddr
	}
	s.raddr = a
}

func (s *loopStream) fd() int {
	if s.c != nil {
		return s.c.Fd()
	}
	return int(s.keep)
}

func (s *loopStream) ensureKeep() error {
	if s.keep >= 0 {
		return nil
	}
	if s.c == nil {
		return ErrClosed
	}
	fd, err := dupCloexec(s.c.Fd())
	if err != nil {
		return err
	}
	s.keep = int32(fd)
	return nil
}

// Write writes p now and queues what the kernel does not take. Loop only.
func (s *loopStream) Write(p []byte) (int, error) {
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.shutReq:
		return 0, ErrWriteShut
	case len(p) == 0:
		return 0, nil
	}
	if w := s.aw(); w != nil {
		ok, err := w.write(p, s.el.tr.opts.Watermarks.High)
		if err != nil {
			s.finish(fmt.Errorf("penstock/transport: write to %s: %w", s.raddr, err))
			return 0, err
		}
		if !ok {
			return 0, ErrClosed
		}
		return len(p), nil
	}
	n, err := writeFD(s.fd(), p)
	if err != nil {
		s.finish(fmt.Errorf("penstock/transport: write to %s: %w", s.raddr, err))
		return n, err
	}
	if n < len(p) {
		if err := s.writer(); err != nil {
			s.finish(err)
			return n, err
		}
		if _, ok := s.x.w.enqueue(p[n:], s.el.tr.opts.Watermarks.High); !ok {
			return n, ErrClosed
		}
	}
	return len(p), nil
}

// writer makes the stream's fd-mode asyncWriter on its own dup of the
// socket, registered with Go's netpoller. It lives as long as the stream:
// once a stream has been congested, its writes go through the writer's
// write, which sends at once what the socket takes.
func (s *loopStream) writer() error {
	if s.aw() != nil {
		return nil
	}
	fd, err := dupCloexec(s.fd())
	if err != nil {
		return err
	}
	f := fileTarget{os.NewFile(uintptr(fd), "penstock-stream")}
	w, err := newFDWriter(f, fd, s.el.tr.opts.Watermarks.Low)
	if err != nil {
		_ = f.Close()
		return err
	}
	w.notify = func() { s.el.Execute(s.onWriter) }
	s.extra().w = w
	return nil
}

// Queued reports bytes not yet taken by the kernel. Loop only.
func (s *loopStream) Queued() int {
	if w := s.aw(); w != nil {
		return w.queued()
	}
	return 0
}

// Writable reports whether Queued is under the high watermark. Loop only.
func (s *loopStream) Writable() bool {
	w := s.aw()
	return w == nil || !w.isCongested()
}

func (s *loopStream) onWriter() {
	w := s.aw()
	if s.closed || w == nil {
		return
	}
	ev, err := w.take()
	if ev&evFailed != 0 {
		s.finish(fmt.Errorf("penstock/transport: write to %s: %w", s.raddr, err))
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

// CloseWrite sends FIN once the queue is empty. Loop only.
func (s *loopStream) CloseWrite() error {
	if s.closed {
		return ErrClosed
	}
	if s.shutReq {
		return nil
	}
	s.shutReq = true
	if w := s.aw(); w != nil && w.requestShut() {
		return nil
	}
	if s.readEOF {
		// Both directions are done and nothing is queued: closing sends
		// the same FIN, without a shutdown call first.
		s.shutDone = true
		s.finish(nil)
		return nil
	}
	if err := unix.Shutdown(s.fd(), unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
		s.finish(fmt.Errorf("penstock/transport: shutdown %s: %w", s.raddr, err))
		return err
	}
	s.shutDone = true
	s.maybeFinish()
	return nil
}

// Close closes the stream at once. Loop only.
func (s *loopStream) Close() error {
	if s.closed {
		return nil
	}
	s.finish(nil)
	return nil
}

// PauseRead parks the stream. Loop only.
func (s *loopStream) PauseRead() {
	if s.paused || s.closed {
		return
	}
	s.paused = true
	switch {
	case s.c == nil || s.parking:
	case s.inTraffic:
		s.after = afterPark
	default:
		s.park()
	}
}

func (s *loopStream) park() {
	if err := s.ensureKeep(); err != nil {
		s.finish(err)
		return
	}
	if b, _ := s.c.Peek(-1); len(b) > 0 {
		s.extra().carry = append(s.x.carry, b...)
	}
	s.parking = true
	c := s.c
	_ = s.el.gl.Close(c)
}

// ResumeRead unparks the stream and re-delivers unconsumed input. Loop only.
func (s *loopStream) ResumeRead() {
	if s.closed {
		return
	}
	if !s.paused {
		if s.c != nil {
			s.wake()
		}
		return
	}
	s.paused = false
	switch {
	case s.after == afterPark:
		s.after = afterNone
	case s.c != nil:
		s.wake()
	case s.parked && !s.resuming && !s.parking:
		s.resume()
	}
}

func (s *loopStream) resume() {
	if _, err := unix.Getpeername(int(s.keep)); err != nil {
		// The socket reached TCP_CLOSE while parked; gnet would panic on
		// enrolling it. Its receive queue is final: read it out here.
		s.readOutClosed()
		return
	}
	nfd, err := dupCloexec(int(s.keep))
	if err != nil {
		s.finish(err)
		return
	}
	f := os.NewFile(uintptr(nfd), "penstock-resume")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		s.finish(err)
		return
	}
	s.resuming = true
	ch, err := s.el.gl.Enroll(gnet.NewContext(context.Background(), s), nc)
	if err != nil {
		_ = nc.Close()
		s.resuming = false
		s.finish(fmt.Errorf("penstock/transport: resume %s: %w", s.raddr, err))
		return
	}
	go func() {
		if r, ok := <-ch; !ok || r.Err != nil || r.Conn == nil {
			s.el.Execute(func() {
				if s.resuming && !s.closed {
					s.resuming = false
					s.finish(fmt.Errorf("penstock/transport: resume %s failed", s.raddr))
				}
			})
		}
	}()
}

// readOutClosed delivers what a closed socket still has queued, then EOF.
func (s *loopStream) readOutClosed() {
	buf := s.el.scratch()
	for !s.paused && !s.closed {
		if s.hasCarry() {
			s.deliverCarry()
			continue
		}
		n, err := unix.Read(int(s.keep), buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			s.finish(fmt.Errorf("penstock/transport: read %s: %w", s.raddr, err))
			return
		case n == 0:
			s.parked = false
			s.onReadEOF()
			return
		}
		s.extra().carry = append(s.x.carry, buf[:n]...)
	}
}

func (s *loopStream) deliverCarry() {
	x := s.x
	n := s.deliver(x.carry)
	x.carry = x.carry[n:]
	if len(x.carry) == 0 {
		x.carry = nil
	}
}

func (s *loopStream) deliver(p []byte) int {
	if s.h == nil {
		return 0
	}
	s.inTraffic = true
	el := s.el
	el.enter()
	n := s.h.OnData(s, p)
	el.leave() // what the handler deferred runs as part of its OnData
	s.inTraffic = false
	return min(max(n, 0), len(p))
}

// onOpen binds a gnet connection enrolled by resume.
func (s *loopStream) onOpen(c gnet.Conn) gnet.Action {
	s.resuming = false
	c.SetContext(s)
	if s.closed {
		return gnet.Close
	}
	s.c = c
	delete(s.el.unbound, s)
	s.parked = false
	if s.paused {
		s.parking = true
		return gnet.Close
	}
	if s.hasCarry() {
		s.wake()
	}
	return gnet.None
}

// wake re-runs delivery for the current gnet connection from a loop task.
// gnet's own Conn.Wake is not used: it finds its connection by descriptor
// number, so a wake queued for a connection that closed before it ran would
// deliver to (and on Close, close) whichever connection reuses that number.
func (s *loopStream) wake() {
	c := s.c
	s.el.Execute(func() {
		if c == nil || s.c != c || s.closed {
			return
		}
		if s.onTraffic(c) == gnet.Close && s.c == c {
			_ = s.el.gl.Close(c)
		}
	})
}

// onTraffic delivers what gnet read. It runs on gnet's OnTraffic.
func (s *loopStream) onTraffic(c gnet.Conn) gnet.Action {
	if c != s.c || s.closed {
		return gnet.Close
	}
	fromCarry := s.hasCarry()
	var p []byte
	if fromCarry {
		b, _ := c.Peek(-1)
		s.x.carry = append(s.x.carry, b...)
		_, _ = c.Discard(-1)
		p = s.x.carry
	} else {
		p, _ = c.Peek(-1)
	}
	if len(p) == 0 {
		return gnet.None
	}
	n := 0
	if s.paused {
		s.after = afterPark
	} else {
		if !fromCarry {
			s.delivering = int32(len(p))
		}
		n = s.deliver(p)
		s.delivering = 0
	}
	if fromCarry {
		// s.x stays: the handler cannot drop it, only close the stream.
		s.x.carry = s.x.carry[n:]
		if len(s.x.carry) == 0 {
			s.x.carry = nil
		}
	} else if n > 0 {
		// Discard(0) would discard everything: gnet reads n <= 0 as "all".
		_, _ = c.Discard(n)
	}
	switch s.after {
	case afterClose:
		s.after = afterNone
		return gnet.Close
	case afterPark:
		s.after = afterNone
		if err := s.ensureKeep(); err != nil {
			s.finish(err)
			return gnet.Close
		}
		if !fromCarry {
			if b, _ := c.Peek(-1); len(b) > 0 {
				s.extra().carry = append(s.x.carry, b...)
			}
			_, _ = c.Discard(-1)
		}
		s.parking = true
		return gnet.Close
	}
	return gnet.None
}

// unbind forgets the stream's gnet connection, which gnet is closing. An
// open stream is tracked in unbound from then on, for closeParked.
func (s *loopStream) unbind() {
	s.c = nil
	if !s.closed {
		s.el.unbound[s] = struct{}{}
	}
}

// onClose handles gnet closing the stream's connection.
func (s *loopStream) onClose(c gnet.Conn, err error) {
	if c != s.c {
		return
	}
	if s.parking {
		s.unbind()
		s.parking = false
		s.parked = true
		if !s.paused && !s.closed {
			s.resume()
		}
		return
	}
	if s.closed {
		s.c = nil
		return
	}
	switch {
	case err == nil:
		s.c = nil
		s.finish(ErrStopped)
	case errors.Is(err, io.EOF):
		if !s.shutDone {
			if kerr := s.ensureKeep(); kerr != nil {
				s.c = nil
				s.finish(kerr)
				return
			}
		}
		s.unbind()
		s.onReadEOF()
	default:
		s.c = nil
		s.finish(fmt.Errorf("penstock/transport: read %s: %w", s.raddr, err))
	}
}

func (s *loopStream) onReadEOF() {
	s.readEOF = true
	s.dropCarry()
	if s.h != nil {
		s.h.OnReadEOF(s)
	}
	s.maybeFinish()
}

func (s *loopStream) maybeFinish() {
	if s.readEOF && s.shutDone && !s.closed {
		s.finish(nil)
	}
}

// finish closes everything the stream holds and tells the handler.
func (s *loopStream) finish(err error) {
	if s.closed {
		return
	}
	s.closed = true
	if c := s.c; c != nil {
		if s.inTraffic {
			s.after = afterClose
		} else {
			s.c = nil
			_ = s.el.gl.Close(c)
		}
	}
	if w := s.aw(); w != nil {
		w.close()
	}
	if s.keep >= 0 {
		_ = unix.Close(int(s.keep))
		s.keep = -1
	}
	s.dropCarry()
	delete(s.el.unbound, s)
	s.release()
	if s.h != nil {
		s.h.OnClose(s, err)
	}
}

// release returns what admission took for an accepted stream.
func (s *loopStream) release() {
	if ln := s.ln; ln != nil {
		s.ln = nil
		raddr := s.raddr
		if s.x != nil && s.x.admitted != nil {
			raddr = s.x.admitted
		}
		s.el.tr.release(ln, connInfo(ln, raddr, s.laddr))
	}
}

// fileTarget writes through an *os.File made from a non-blocking socket
// descriptor, which Go's netpoller waits on.
type fileTarget struct{ f *os.File }

func (t fileTarget) Write(p []byte) (int, error) { return t.f.Write(p) }
func (t fileTarget) Close() error                { return t.f.Close() }
func (t fileTarget) CloseWrite() error {
	rc, err := t.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	if serr == unix.ENOTCONN {
		return nil
	}
	return serr
}

func dupCloexec(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// send writes p to the socket fd with send(2): unlike write(2) it skips
// the VFS layer, and MSG_NOSIGNAL turns a write to a reset connection into
// EPIPE without raising SIGPIPE. p must not be empty.
//
// It is a raw system call: with MSG_DONTWAIT on a non-blocking socket it
// never waits, so the scheduler need not hear of it (no entersyscall and
// exitsyscall, and sysmon has no syscall to take the loop's P away in).
// Side by side on the HTTP proxy, keep-alive requests/s rose ~10% (median
// of 8 interleaved runs each) against Syscall6.
func send(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// writeFD writes as much of p as the socket takes now. EAGAIN is not an
// error: the caller queues the rest.
func writeFD(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := send(fd, p[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return n, nil
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}

var (
	_ Stream      = (*loopStream)(nil)
	_ writeTarget = fileTarget{}
)
