package transport

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// engineHandler is the one gnet.EventHandler of a Transport. It tells the
// kinds of connection apart by their gnet context: nil for a freshly
// accepted connection or a UDP listener's datagram, *loopStream for a
// stream's connection (also after a resume), *attachReq for a connection
// being attached, *udpConn for an attached UDP socket.
type engineHandler struct {
	gnet.BuiltinEventEngine
	t         *Transport
	readyOnce bool
}

func (h *engineHandler) OnBoot(eng gnet.Engine) gnet.Action {
	h.t.eng = eng
	return gnet.None
}

func (h *engineHandler) OnTick() (time.Duration, gnet.Action) {
	if !h.readyOnce {
		h.readyOnce = true
		close(h.t.ready)
	}
	return time.Second, gnet.None
}

func (h *engineHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	el := h.t.loop(c.EventLoop())
	switch v := c.Context().(type) {
	case *loopStream:
		return nil, v.onOpen(c)
	case *attachReq:
		return nil, v.open(el, c)
	case nil:
		return nil, h.accept(el, c)
	}
	return nil, gnet.Close
}

func (h *engineHandler) accept(el *EventLoop, c gnet.Conn) gnet.Action {
	ln := h.t.findListener(c.LocalAddr())
	if ln == nil {
		h.t.log.Error("accepted a connection for no known listener", "local", c.LocalAddr())
		return gnet.Close
	}
	laddr, raddr := localAddrOf(c), c.RemoteAddr()
	ci := connInfo(ln, raddr, laddr)
	if !acceptFDOK(c.Fd()) {
		// Closed at once, which keeps descriptors free for the next
		// accept(2); see CheckFD.
		h.t.refuse(ln, ci, ErrFDLimit)
		return gnet.Close
	}
	if !h.t.admit(ln, ci) {
		return gnet.Close
	}
	s := newLoopStream(el, c, laddr, raddr)
	s.ln = ln
	safeAccept(h.t.log, ln, s)
	if s.h == nil && !s.closed {
		s.finish(nil)
		return gnet.None
	}
	return gnet.None
}

// safeAccept runs a listener's Accept and turns a panic into a close of
// that one stream.
func safeAccept(log *slog.Logger, ln *listener, s Stream) {
	defer func() {
		if r := recover(); r != nil {
			Recovered(log, "accept func panicked; connection closed", r, "listener", ln.Name, "remote", s.RemoteAddr())
			_ = s.Close()
		}
	}()
	ln.Accept(s)
}

func (h *engineHandler) OnTraffic(c gnet.Conn) (action gnet.Action) {
	defer func() {
		if r := recover(); r != nil {
			Recovered(h.t.log, "handler panicked; connection closed", r, "remote", c.RemoteAddr())
			action = h.closeAfterPanic(c)
			h.t.loop(c.EventLoop()).unwind(0) // gnet calls OnTraffic from its poll loop only
		}
	}()
	switch v := c.Context().(type) {
	case *loopStream:
		return v.onTraffic(c)
	case *udpConn:
		v.onDatagram(c)
		return gnet.None
	case nil:
		el := h.t.loop(c.EventLoop())
		if ln := el.udpListener(c.LocalAddr()); ln != nil {
			el.onListenerDatagram(ln, c)
			return gnet.None
		}
	}
	return gnet.Close
}

func (h *engineHandler) closeAfterPanic(c gnet.Conn) gnet.Action {
	switch v := c.Context().(type) {
	case *loopStream:
		v.inTraffic = false
		v.after = afterNone
		if !v.closed {
			v.c = nil
			v.finish(fmt.Errorf("penstock/transport: handler panicked"))
		}
		return gnet.Close
	case *udpConn:
		v.finish(fmt.Errorf("penstock/transport: handler panicked"))
		return gnet.None
	}
	return gnet.None
}

func (h *engineHandler) OnClose(c gnet.Conn, err error) gnet.Action {
	// gnet calls OnClose from the poll loop, and also from a Close made
	// inside another callback: depth is where a panic unwinds to.
	el := h.t.loop(c.EventLoop())
	depth := el.depth
	defer func() {
		if r := recover(); r != nil {
			Recovered(h.t.log, "close handler panicked", r, "remote", c.RemoteAddr())
			el.unwind(depth)
		}
	}()
	switch v := c.Context().(type) {
	case *loopStream:
		v.onClose(c, err)
	case *udpConn:
		if v.c == c {
			v.c = nil
			v.finish(udpCloseErr(c, err))
		}
	}
	return gnet.None
}

// udpCloseErr returns the error an attached UDP socket closed with. gnet
// closes a socket whose only event is EPOLLERR with io.EOF, which UDP does
// not have: the socket's pending error (ECONNREFUSED for an ICMP port
// unreachable, say) is the real one, and gnet calls OnClose before it
// closes the descriptor, so it can still be read.
func udpCloseErr(c gnet.Conn, err error) error {
	if err != io.EOF {
		return err
	}
	if errno, gerr := unix.GetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && errno != 0 {
		return os.NewSyscallError("recv", syscall.Errno(errno))
	}
	return err
}

// localAddrOf returns the connection's real local address: gnet reports the
// listener's configured one (0.0.0.0:80 for a wildcard bind).
func localAddrOf(c gnet.Conn) net.Addr {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && !a.IP.IsUnspecified() && a.Port != 0 {
		return a
	}
	if sa, err := getsockname(c.Fd()); err == nil {
		return sa
	}
	return c.LocalAddr()
}

// attachReq travels in the gnet context of a connection being attached.
type attachReq struct {
	done  func(Stream, error)
	laddr net.Addr
	raddr net.Addr
	udp   bool
}

func (r *attachReq) open(el *EventLoop, c gnet.Conn) gnet.Action {
	var s Stream
	if r.udp {
		u := &udpConn{el: el, c: c, laddr: r.laddr, raddr: r.raddr}
		c.SetContext(u)
		s = u
	} else {
		s = newLoopStream(el, c, r.laddr, r.raddr)
	}
	r.done(s, nil)
	return gnet.None
}

// Attach moves nc, a connected *net.TCPConn, *net.UnixConn or *net.UDPConn,
// onto this loop and calls done there with its Stream (a datagram stream
// for UDP), or with an error. It never blocks and is safe from any
// goroutine; nc belongs to the loop from then on. Once the loop has
// stopped, nc is closed and done is not called.
func (l *EventLoop) Attach(nc net.Conn, done func(Stream, error)) { l.attach(nc, false, done) }

// attach is Attach; filtered says that a UDP socket has a socket filter
// of its own, which enroll must not replace with dropEmptyDatagrams.
func (l *EventLoop) attach(nc net.Conn, filtered bool, done func(Stream, error)) {
	select {
	case l.tr.attaching <- struct{}{}:
	default:
		// attachMax are under way: wait for a turn off the loop.
		go func() {
			if l.takeTurn() {
				l.attachHeld(nc, filtered, done)
			} else {
				_ = nc.Close() // stopped: done is not called
			}
		}()
		return
	}
	l.attachHeld(nc, filtered, done)
}

// takeTurn waits for a turn to attach a socket; false when the transport
// stopped first.
func (l *EventLoop) takeTurn() bool {
	select {
	case l.tr.attaching <- struct{}{}:
		return true
	case <-l.tr.done:
		return false
	}
}

// attachHeld is attach with a turn taken, which the registration's end
// gives back.
func (l *EventLoop) attachHeld(nc net.Conn, filtered bool, done func(Stream, error)) {
	ch := l.enroll(nc, filtered, done)
	if ch == nil {
		<-l.tr.attaching
		return
	}
	go func() {
		l.awaitEnroll(ch, nc.RemoteAddr(), done)
		<-l.tr.attaching
	}()
}

// AttachWait is Attach for a goroutine that may block: it waits for the
// registration itself instead of starting a goroutine to watch it. It must
// not be called on an event loop, whose turn the registration needs.
func (l *EventLoop) AttachWait(nc net.Conn, done func(Stream, error)) {
	raddr := nc.RemoteAddr()
	if !l.takeTurn() {
		_ = nc.Close() // stopped: done is not called
		return
	}
	defer func() { <-l.tr.attaching }()
	if ch := l.enroll(nc, false, done); ch != nil {
		l.awaitEnroll(ch, raddr, done)
	}
}

// enroll hands nc to gnet. It returns nil when it failed and done was
// already scheduled with the error.
func (l *EventLoop) enroll(nc net.Conn, filtered bool, done func(Stream, error)) <-chan gnet.RegisteredResult {
	req := &attachReq{done: done, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
	var uc *net.UDPConn
	uc, req.udp = nc.(*net.UDPConn)
	if req.udp && !filtered {
		if rc, err := uc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = dropEmptyDatagrams(int(fd)) })
		}
	}
	// A socket from outside the transport (a dialed upstream) gets the
	// buffer sizes an accepted one has from its listener.
	if o := l.tr.opts; o.SocketSendBuffer > 0 || o.SocketRecvBuffer > 0 {
		if sc, ok := nc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) { l.tr.setBuffers(int(fd)) })
			}
		}
	}
	ch, err := l.gl.Enroll(gnet.NewContext(context.Background(), req), nc)
	if err != nil {
		_ = nc.Close()
		// A stopped loop runs nothing more: done is dropped then, since
		// calling it anywhere else would race with what the loop's
		// shutdown ran (every stream on it has been closed already).
		l.Execute(func() { done(nil, err) })
		return nil
	}
	return ch
}

// awaitEnroll reports a failed registration to done on the loop; a
// successful one has already called done from OnOpen.
func (l *EventLoop) awaitEnroll(ch <-chan gnet.RegisteredResult, raddr net.Addr, done func(Stream, error)) {
	var r gnet.RegisteredResult
	var ok bool
	select {
	case r, ok = <-ch:
	case <-l.tr.done:
		return // stopped: the loop runs nothing more
	}
	if !ok || r.Err != nil || r.Conn == nil {
		err := fmt.Errorf("penstock/transport: attach %s failed", raddr)
		if ok && r.Err != nil {
			err = fmt.Errorf("penstock/transport: attach %s: %w", raddr, r.Err)
		}
		l.Execute(func() { done(nil, err) })
	}
}

// Attach moves nc onto loop: a gnet EventLoop enrolls it, any other Loop
// gets a detached stream driven by goroutines. done runs on loop (not at
// all once the loop has stopped). It never blocks and is safe from any
// goroutine.
func Attach(loop Loop, nc net.Conn, done func(Stream, error)) {
	if el, ok := loop.(*EventLoop); ok {
		el.Attach(nc, done)
		return
	}
	attachDetached(loop, nc, done)
}

// AttachWait is Attach for goroutines that may block until the loop has
// taken nc (it saves a goroutine per connection). It must not be called on
// an event loop.
func AttachWait(loop Loop, nc net.Conn, done func(Stream, error)) {
	if el, ok := loop.(*EventLoop); ok {
		el.AttachWait(nc, done)
		return
	}
	attachDetached(loop, nc, done)
}

func attachDetached(loop Loop, nc net.Conn, done func(Stream, error)) {
	s := NewDetachedStream(loop, nc, Watermarks{})
	loop.Execute(func() { done(s, nil) })
}

// gnetLogger sends gnet's logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: fatal: " + fmt.Sprintf(f, a...)) }

// setBuffers applies Options.SocketSendBuffer and SocketRecvBuffer to the
// socket of a connection being attached. A failure leaves the kernel's
// sizes: the connection works, only without the tuning, and the log says
// so once per transport. Safe from any goroutine.
func (t *Transport) setBuffers(fd int) {
	snd, rcv := t.opts.SocketSendBuffer, t.opts.SocketRecvBuffer
	var err error
	if snd > 0 {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, snd)
	}
	if rcv > 0 && err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcv)
	}
	if err != nil && t.bufErr.CompareAndSwap(false, true) {
		t.log.Warn("could not set a connection's socket buffer sizes", "send", snd, "recv", rcv, "err", err)
	}
}
