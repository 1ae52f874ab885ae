package transport

import (
	"encoding/binary"
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

// udpSession is the datagram stream of one client of a UDP listener. A
// client has one session in the whole transport (see udpTable), on the
// loop whose socket got its first datagram. Its datagrams reach it only
// by its source address: through the listener socket, whose reads carry
// the source, or through the session's own socket, which the kernel
// filters by source (see connect).
type udpSession struct {
	el     *EventLoop
	key    udpKey
	ci     ConnInfo
	lfd    int
	sa     unix.Sockaddr
	h      Handler
	laddr  net.Addr
	raddr  net.Addr
	idle   *Timer
	last   int64 // monotonicNow of the last datagram either way
	paused bool
	closed bool
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
	el.dispatch(ln, c.Fd(), c.LocalAddr(), ua.AddrPort(), p)
}

// dispatch hands p, a datagram from client to listener ln, to the client's
// session: this loop's, another loop's, or a new one if the filters admit
// the client. lfd is this loop's socket of ln and laddr its address. Loop
// only; p is borrowed.
func (el *EventLoop) dispatch(ln *listener, lfd int, laddr net.Addr, client netip.AddrPort, p []byte) {
	key := udpKey{ln: ln, client: client}
	s := el.udp[key]
	if s == nil {
		if other := el.tr.udpSessions.get(key); other != nil {
			other.forward(p)
			return
		}
		if s = el.newSession(ln, key, lfd, laddr, p); s == nil {
			return
		}
	}
	s.deliver(p)
}

// deliver hands the session one of its client's datagrams. Loop only.
func (s *udpSession) deliver(p []byte) {
	s.last = monotonicNow()
	if !s.paused && s.h != nil && !s.closed {
		s.h.OnData(s, p)
	}
}

// forward hands p, which reached another loop, to the session on its own
// loop. It is safe from any goroutine: it reads only the session's loop,
// which never changes; the rest waits for that loop. A session that has
// ended meanwhile leaves the datagram to its loop's dispatch, as if it
// had just arrived there.
func (s *udpSession) forward(p []byte) {
	cp := append([]byte(nil), p...)
	s.el.Execute(func() {
		if !s.closed {
			s.deliver(cp)
			return
		}
		s.el.dispatch(s.key.ln, s.lfd, s.laddr, s.key.client, cp)
	})
}

// newSession admits a new client of ln and returns its session, or nil
// when the client is refused or its session lives on another loop, which
// then has p. Loop only.
func (el *EventLoop) newSession(ln *listener, key udpKey, lfd int, laddr net.Addr, p []byte) *udpSession {
	ua := net.UDPAddrFromAddrPort(key.client)
	ci := connInfo(ln, ua, laddr)
	if ln.sessions.Load() >= int64(ln.MaxSessions) {
		ln.Filters.Count(ReasonSessionCap)
		return nil
	}
	if !el.tr.admit(ln, ci) {
		return nil
	}
	s := &udpSession{
		el: el, key: key, ci: ci, lfd: lfd, sa: sockaddrOf(lfd, key.client),
		laddr: laddr, raddr: ua, last: monotonicNow(),
	}
	if other := el.tr.udpSessions.add(key, s); other != nil {
		// Another loop made the client's session meanwhile.
		el.tr.release(ln, ci)
		other.forward(p)
		return nil
	}
	fd, err := s.openSocket()
	if err != nil {
		el.tr.udpSessions.remove(key, s)
		el.tr.release(ln, ci)
		el.tr.refuse(ln, ci, err)
		return nil
	}
	ln.sessions.Add(1)
	el.udp[key] = s
	s.idle = AfterFunc(el, ln.SessionIdle, s.checkIdle)
	safeAccept(el.tr.log, ln, s)
	if s.closed || s.h == nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		if !s.closed {
			s.finish(nil)
		}
		return nil
	}
	if fd >= 0 {
		s.attach(fd)
	}
	return s
}

// openSocket gives the session a socket of its own: bound to the
// listener's address with SO_REUSEPORT and connected to the client. The
// kernel prefers a connected socket for its 4-tuple, so the client's
// datagrams then skip the shared listener socket, whose reads cost gnet an
// allocation and recvfrom(2) an extra getsockopt(2) each, and replies need
// no address. It returns -1 and no error for a listener bound to a
// wildcard address: there the reply's source address must be the one the
// client wrote to, which only the shared socket knows; such a session
// uses the listener socket throughout.
//
// Between its bind and its connect the socket is one more member of the
// listener's SO_REUSEPORT group, and the kernel may pick it for any
// client's datagram. So it gets, before its bind, a socket filter that
// passes only its client's (by source address and port): another source's
// datagram the kernel steers to it in that window is dropped, which UDP
// allows, and never reaches this session. (The filter used to come after
// the connect, with what came before it read back by takeStrays; a
// datagram the kernel had picked the socket for before the connect but
// queued after that read-back was delivered to the session as its
// client's: a denied source's datagram reached the upstream in one CI run
// of TestUDPRelayNoMisdelivery.) An error here refuses the session: on a
// specific address, a session without a socket of its own would take its
// client's datagrams through whichever loop's listener socket the kernel
// picks, which changes as the group does.
func (s *udpSession) openSocket() (int, error) {
	if s.key.ln.ap.Addr().IsUnspecified() {
		return -1, nil
	}
	local, err := unix.Getsockname(s.lfd)
	if err != nil {
		return -1, os.NewSyscallError("getsockname", err)
	}
	domain := unix.AF_INET
	if _, ok := local.(*unix.SockaddrInet6); ok {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := CheckFD(fd); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	step, err := "setsockopt SO_ATTACH_FILTER", attachFilter(fd, sourceFilter(s.key.client))
	if err == nil {
		step, err = "setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err == nil {
		step, err = "bind", unix.Bind(fd, local)
	}
	if err == nil {
		step, err = "connect", unix.Connect(fd, s.sa)
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, os.NewSyscallError(step, err)
	}
	return fd, nil
}

// attach hands fd to the loop. What the client sent to it before is still
// queued on it and is read once it is enrolled, after the datagram that
// made the session. Loop only.
func (s *udpSession) attach(fd int) {
	f := os.NewFile(uintptr(fd), "penstock-udp-session")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return // the session goes on with the listener socket
	}
	s.el.attach(nc, true, func(st Stream, err error) {
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

// skfNetOff is SKF_NET_OFF: a classic BPF load at skfNetOff+k reads byte
// k of the network (IP) header, where plain offsets start at the UDP
// header.
const skfNetOff = 0xfff00000

// sourceFilter is a socket filter that passes only non-empty datagrams
// from client: its source port, then its source address in the IPv4 or
// IPv6 header. An IPv4-mapped client arrives in an IPv4 header.
func sourceFilter(client netip.AddrPort) []unix.SockFilter {
	ip := client.Addr().Unmap()
	var words []uint32
	srcOff := uint32(12) // IPv4 header: source address
	if ip.Is4() {
		a := ip.As4()
		words = []uint32{binary.BigEndian.Uint32(a[:])}
	} else {
		srcOff = 8 // IPv6 header
		a := ip.As16()
		for i := 0; i < 16; i += 4 {
			words = append(words, binary.BigEndian.Uint32(a[i:]))
		}
	}
	// Each check jumps to the drop at the end when it fails; jf counts
	// the instructions between it and the drop.
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 0}}
	rest := uint8(2*len(words) + 3) // what follows the port check, up to the drop
	prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(client.Port()), Jf: rest})
	for i, w := range words {
		rest -= 2
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfNetOff + srcOff + uint32(4*i)},
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: w, Jf: rest})
	}
	return append(prog,
		unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_LEN},
		unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, K: 8, Jf: 1},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
		unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0})
}

func attachFilter(fd int, prog []unix.SockFilter) error {
	return attachProgram(fd, unix.SO_ATTACH_FILTER, prog)
}

// attachProgram attaches a classic BPF program to fd with setsockopt opt:
// SO_ATTACH_FILTER (the socket's own filter) or SO_ATTACH_REUSEPORT_CBPF
// (its SO_REUSEPORT group's socket selection).
func attachProgram(fd, opt int, prog []unix.SockFilter) error {
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, opt,
		&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
}

// sessionFeed hands the datagrams of a session's own socket to the
// session.
type sessionFeed struct{ s *udpSession }

func (f sessionFeed) OnData(_ Stream, p []byte) int {
	f.s.deliver(p)
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
	s.el.tr.udpSessions.remove(s.key, s)
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
	buf := u.el.dgramBuf()
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
	return attachFilter(fd, prog)
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
// An error the socket reports, such as ECONNREFUSED for an ICMP port
// unreachable that answered an earlier datagram, is returned with p
// unsent. Loop only.
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
		case nil, unix.EAGAIN, unix.ENOBUFS:
			return len(p), nil
		case unix.EINTR:
			continue
		}
		// ECONNREFUSED among them: an ICMP port unreachable for an
		// earlier datagram, which the kernel reports once, to whichever
		// call comes first; p was not sent. The socket stays open.
		return 0, os.NewSyscallError("send", err)
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

// dgramBuf returns the loop's buffer for datagrams it reads itself.
func (el *EventLoop) dgramBuf() []byte {
	if el.dgram == nil {
		el.dgram = make([]byte, 64<<10)
	}
	return el.dgram
}

var (
	_ Stream = (*udpSession)(nil)
	_ Stream = (*udpConn)(nil)
)
