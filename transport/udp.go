package transport

import (
	"net"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

type udpKey struct {
	ln     *listener
	client netip.AddrPort
}

// udpSession is the datagram stream of one client of a UDP listener. The
// kernel hashes a client's 4-tuple to one SO_REUSEPORT socket, so a session
// lives on one loop; replies leave through that loop's listener socket.
type udpSession struct {
	el      *EventLoop
	key     udpKey
	ci      ConnInfo
	lfd     int
	sa      unix.Sockaddr
	h       Handler
	ctx     any
	laddr   net.Addr
	raddr   net.Addr
	idle    *Timer
	last    int64 // monotonicNow of the last datagram either way
	paused  bool
	closed  bool
	dropped uint64
	// conn is the session's own socket once attached: bound to the
	// listener's address and connected to the client, it takes this
	// client's datagrams from the kernel before the shared listener socket
	// does, and is read and written without addresses (see connect).
	conn *udpConn
}

// udpListener finds the UDP listener whose socket received a datagram.
// gnet hands every datagram of one socket the same address value, so the
// answer is cached by it.
func (el *EventLoop) udpListener(addr net.Addr) *listener {
	if addr == el.lastUDPAddr && el.lastUDPLn != nil {
		return el.lastUDPLn
	}
	ln := el.tr.findListener(addr)
	if ln == nil || ln.network != "udp" {
		return nil
	}
	el.lastUDPAddr, el.lastUDPLn = addr, ln
	return ln
}

func (el *EventLoop) onListenerDatagram(ln *listener, c gnet.Conn) {
	ua, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return
	}
	p, _ := c.Peek(-1)
	key := udpKey{ln: ln, client: ua.AddrPort()}
	s := el.udp[key]
	if s == nil {
		if s = el.newSession(ln, key, c, ua); s == nil {
			return
		}
	}
	s.last = monotonicNow()
	if s.paused || s.h == nil {
		s.dropped++
		return
	}
	s.h.OnData(s, p)
}

func (el *EventLoop) newSession(ln *listener, key udpKey, c gnet.Conn, ua *net.UDPAddr) *udpSession {
	laddr := c.LocalAddr()
	ci := connInfo(ln, ua, laddr)
	if ln.sessions.Load() >= int64(ln.MaxSessions) {
		ln.Filters.Count(ReasonSessionCap)
		return nil
	}
	if !el.tr.admit(ln, ci) {
		return nil
	}
	ln.sessions.Add(1)
	s := &udpSession{
		el: el, key: key, ci: ci, lfd: c.Fd(), sa: sockaddrOf(c.Fd(), key.client),
		laddr: laddr, raddr: &net.UDPAddr{IP: ua.IP, Port: ua.Port, Zone: ua.Zone},
		last: monotonicNow(),
	}
	el.udp[key] = s
	s.idle = AfterFunc(el, ln.SessionIdle, s.checkIdle)
	safeAccept(el.tr.log, ln, s)
	if s.closed {
		return nil
	}
	if s.h == nil {
		s.finish(nil)
		return nil
	}
	s.connect(ln)
	return s
}

// connect gives the session a socket of its own: bound to the listener's
// address with SO_REUSEPORT and connected to the client. The kernel prefers
// a connected socket for its 4-tuple, so the client's datagrams then skip
// the shared listener socket, whose reads cost gnet an allocation and
// recvfrom(2) an extra getsockopt(2) each, and replies need no address.
// Until the socket is attached, and if it cannot be made, the session uses
// the listener socket. Only a listener bound to a specific address gets it:
// on a wildcard address the reply's source address must be the one the
// client wrote to, which only the shared socket knows.
func (s *udpSession) connect(ln *listener) {
	if ln.ap.Addr().IsUnspecified() {
		return
	}
	local, err := unix.Getsockname(s.lfd)
	if err != nil {
		return
	}
	domain := unix.AF_INET
	if _, ok := local.(*unix.SockaddrInet6); ok {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) != nil ||
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) != nil ||
		unix.Bind(fd, local) != nil || unix.Connect(fd, s.sa) != nil {
		_ = unix.Close(fd)
		return
	}
	f := os.NewFile(uintptr(fd), "penstock-udp-session")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return
	}
	s.el.Attach(nc, func(st Stream, err error) {
		if err != nil {
			return
		}
		u := st.(*udpConn)
		if s.closed {
			_ = u.Close()
			return
		}
		u.h = sessionFeed{s}
		s.conn = u
	})
}

// sessionFeed hands the datagrams of a session's own socket to the
// session.
type sessionFeed struct{ s *udpSession }

func (f sessionFeed) OnData(_ Stream, p []byte) int {
	s := f.s
	s.last = monotonicNow()
	if !s.paused && s.h != nil && !s.closed {
		s.h.OnData(s, p)
	}
	return len(p)
}

func (f sessionFeed) OnReadEOF(Stream) {}
func (f sessionFeed) OnDrained(Stream) {}

// OnClose falls back to the listener socket.
func (f sessionFeed) OnClose(st Stream, _ error) {
	if f.s.conn == st {
		f.s.conn = nil
	}
}

func (s *udpSession) checkIdle() {
	if s.closed {
		return
	}
	if left := s.key.ln.SessionIdle - time.Duration(monotonicNow()-s.last); left > 0 {
		s.idle.Reset(left)
		return
	}
	s.finish(ErrIdleTimeout)
}

// Loop returns the session's loop. It is safe from any goroutine.
func (s *udpSession) Loop() Loop { return s.el }

// EventLoop returns the session's event loop. It is safe from any
// goroutine.
func (s *udpSession) EventLoop() *EventLoop { return s.el }

// Handler returns the handler. Loop only.
func (s *udpSession) Handler() Handler { return s.h }

// SetHandler sets the handler. Loop only.
func (s *udpSession) SetHandler(h Handler) { s.h = h }

// Write sends p to the client as one datagram; a datagram the socket cannot
// take now is dropped, as UDP allows. Loop only.
func (s *udpSession) Write(p []byte) (int, error) {
	if s.closed {
		return 0, ErrClosed
	}
	s.last = monotonicNow()
	if u := s.conn; u != nil && u.c != nil {
		_, _ = u.Write(p)
		return len(p), nil
	}
	for {
		err := unix.Sendto(s.lfd, p, 0, s.sa)
		switch err {
		case nil:
			return len(p), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			s.dropped++
			return len(p), nil
		}
		return 0, err
	}
}

// Queued is always 0: the kernel takes or drops a datagram at once. Loop
// only.
func (s *udpSession) Queued() int { return 0 }

// Writable is always true. Loop only.
func (s *udpSession) Writable() bool { return true }

// PauseRead drops the client's datagrams until ResumeRead. Loop only.
func (s *udpSession) PauseRead() { s.paused = true }

// ResumeRead delivers datagrams again. Loop only.
func (s *udpSession) ResumeRead() { s.paused = false }

// CloseWrite does nothing: UDP has no end of stream. Loop only.
func (s *udpSession) CloseWrite() error { return nil }

// Close ends the session. Loop only.
func (s *udpSession) Close() error {
	s.finish(nil)
	return nil
}

// LocalAddr returns the listener's address. Loop only.
func (s *udpSession) LocalAddr() net.Addr { return s.laddr }

// RemoteAddr returns the client's address. Loop only.
func (s *udpSession) RemoteAddr() net.Addr { return s.raddr }

// Context returns the per-session value. Loop only.
func (s *udpSession) Context() any { return s.ctx }

// SetContext stores a per-session value. Loop only.
func (s *udpSession) SetContext(v any) { s.ctx = v }

func (s *udpSession) finish(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.idle.Stop()
	if u := s.conn; u != nil {
		s.conn = nil
		_ = u.Close()
	}
	delete(s.el.udp, s.key)
	s.key.ln.sessions.Add(-1)
	s.el.tr.release(s.key.ln, s.ci)
	if s.h != nil {
		s.h.OnClose(s, err)
	}
}

// udpConn is the datagram stream of a connected UDP socket attached to a
// loop, such as a relay's socket towards an upstream.
type udpConn struct {
	el     *EventLoop
	c      gnet.Conn
	h      Handler
	ctx    any
	laddr  net.Addr
	raddr  net.Addr
	paused bool
	closed bool
	skip   uint8 // readiness events left before drain tries again
	done   func()
}

// onDatagram delivers one datagram. gnet reads an attached UDP socket on
// its stream path, one datagram per read(2) and readiness event, so the
// input is taken with Next to keep datagrams from piling up in the
// inbound buffer. Then the datagrams queued behind it are drained.
func (u *udpConn) onDatagram(c gnet.Conn) {
	p, _ := c.Next(-1)
	if u.closed || u.paused || u.h == nil {
		return
	}
	u.h.OnData(u, p)
	u.drain()
}

// Draining bounds: at most udpDrainMax datagrams a readiness event, so a
// busy socket does not hold up the loop's other events; after a drain
// that found nothing, the next udpDrainSkip events do not try.
const (
	udpDrainMax  = 32
	udpDrainSkip = 3
)

// drain reads and delivers the datagrams already queued on the socket.
// gnet takes one per readiness event, and another epoll_wait and gnet
// dispatch per datagram cost more than the read. A socket that is not
// busy pays one failed read per udpDrainSkip+1 datagrams.
func (u *udpConn) drain() {
	if u.skip > 0 {
		u.skip--
		return
	}
	if u.el.dgram == nil {
		u.el.dgram = make([]byte, 64<<10)
	}
	buf := u.el.dgram
	for i := 0; i < udpDrainMax; i++ {
		if u.closed || u.paused || u.c == nil || u.h == nil {
			return
		}
		n, err := recvDontWait(u.c.Fd(), buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if i == 0 {
				u.skip = udpDrainSkip
			}
			return
		case err != nil:
			// As gnet does on a failed read (ECONNREFUSED, an ICMP error
			// for an earlier datagram, among them): the socket closes.
			u.finish(os.NewSyscallError("recv", err))
			return
		}
		u.h.OnData(u, buf[:n])
	}
}

// dropEmptyDatagrams gives a UDP socket a filter that drops datagrams
// without payload. gnet reads an attached socket on its stream path, where
// a read of no bytes means EOF and closes it: one empty datagram would cut
// the flow, while UDP allows any datagram to be dropped. The filter sees
// the datagram from its UDP header on, 8 bytes.
func dropEmptyDatagrams(fd int) error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_LEN},
		{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, Jt: 1, K: 8},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
}

// recvDontWait reads one datagram from fd without waiting: a raw system
// call, as send.
func recvDontWait(fd int, p []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// Loop returns the socket's loop. It is safe from any goroutine.
func (u *udpConn) Loop() Loop { return u.el }

// EventLoop returns the socket's event loop. It is safe from any goroutine.
func (u *udpConn) EventLoop() *EventLoop { return u.el }

// Handler returns the handler. Loop only.
func (u *udpConn) Handler() Handler { return u.h }

// SetHandler sets the handler. Loop only.
func (u *udpConn) SetHandler(h Handler) { u.h = h }

// Write sends p as one datagram; one the socket cannot take now is dropped.
// Loop only.
func (u *udpConn) Write(p []byte) (int, error) {
	if u.closed || u.c == nil {
		return 0, ErrClosed
	}
	for {
		var err error
		if len(p) > 0 {
			_, err = send(u.c.Fd(), p)
		} else {
			_, err = unix.Write(u.c.Fd(), p)
		}
		switch err {
		case nil, unix.EAGAIN, unix.ENOBUFS, unix.ECONNREFUSED:
			// ECONNREFUSED reports an ICMP error for an earlier datagram;
			// UDP carries on.
			return len(p), nil
		case unix.EINTR:
			continue
		}
		return 0, err
	}
}

// Queued is always 0. Loop only.
func (u *udpConn) Queued() int { return 0 }

// Writable is always true. Loop only.
func (u *udpConn) Writable() bool { return true }

// PauseRead drops datagrams until ResumeRead. Loop only.
func (u *udpConn) PauseRead() { u.paused = true }

// ResumeRead delivers datagrams again. Loop only.
func (u *udpConn) ResumeRead() { u.paused = false }

// CloseWrite does nothing: UDP has no end of stream. Loop only.
func (u *udpConn) CloseWrite() error { return nil }

// Close closes the socket. Loop only.
func (u *udpConn) Close() error {
	u.finish(nil)
	return nil
}

// LocalAddr returns the socket's address. Loop only.
func (u *udpConn) LocalAddr() net.Addr { return u.laddr }

// RemoteAddr returns the connected peer's address. Loop only.
func (u *udpConn) RemoteAddr() net.Addr { return u.raddr }

// Context returns the per-socket value. Loop only.
func (u *udpConn) Context() any { return u.ctx }

// SetContext stores a per-socket value. Loop only.
func (u *udpConn) SetContext(v any) { u.ctx = v }

func (u *udpConn) finish(err error) {
	if u.closed {
		return
	}
	u.closed = true
	if c := u.c; c != nil {
		u.c = nil
		_ = u.el.gl.Close(c)
	}
	if u.done != nil {
		u.done()
	}
	if u.h != nil {
		u.h.OnClose(u, err)
	}
}

var (
	_ Stream = (*udpSession)(nil)
	_ Stream = (*udpConn)(nil)
)
