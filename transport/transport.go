package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/penstock-proxy/penstock/internal/ratelog"
)

// Options configure a Transport.
type Options struct {
	// Loops is the number of event loops; 0 means one per CPU.
	Loops int
	// ReadBufferCap is the per-loop read buffer: the most one read takes
	// and the largest UDP datagram received intact. Default and minimum
	// 64 KiB.
	ReadBufferCap int
	// Watermarks bound each stream's write queue (DefaultWatermarks).
	Watermarks Watermarks
	// TCPKeepAlive enables TCP keep-alive probes on accepted connections.
	TCPKeepAlive time.Duration
	// SocketSendBuffer and SocketRecvBuffer set SO_SNDBUF and SO_RCVBUF,
	// in bytes, on the listening sockets (accepted connections inherit
	// them) and on every connection the transport enrolls (upstreams
	// dialed by the relays and proxies); 0 leaves the kernel's autotuning.
	// A set size turns autotuning off for that buffer; Linux doubles it
	// for its own bookkeeping and caps it at net.core.wmem_max and
	// rmem_max. A larger send buffer lets a fast producer get ahead of a
	// consumer that reads in bursts without the relay pausing the
	// producer (benchmarks/README.md, TLS); it is memory a slow peer can
	// hold in the kernel, so it is a setting for bulk transfers between
	// known peers, not a default.
	SocketSendBuffer int
	SocketRecvBuffer int
	// Logger receives the transport's and gnet's logs (slog.Default()).
	Logger *slog.Logger
	// SharePorts lets listeners bind ports another process holds with
	// SO_REUSEPORT (as a new process does during a graceful upgrade).
	// Without it Start fails on a port in use, as nginx or HAProxy would;
	// gnet binds UDP, and TCP next to UDP, with SO_REUSEPORT, so a second
	// daemon would otherwise share the ports silently.
	SharePorts bool
}

// Listener is one address a Transport accepts on.
type Listener struct {
	// Name labels the listener in logs and counters (default: Addr).
	Name string
	// Addr is a URL: "tcp://127.0.0.1:8000", "tcp6://[::1]:8000",
	// "udp://0.0.0.0:5353", "unix:///run/penstock.sock".
	Addr string
	// Filters run on every new connection or UDP session before any byte
	// is read. Nil admits everything.
	Filters *Filters
	// Accept receives each admitted stream on its loop and must set its
	// handler (or close it). It runs on the stream's loop.
	Accept func(s Stream)
	// MaxSessions caps a UDP listener's live sessions (0: as many as the
	// open-file limit leaves room for, two descriptors a session, at most
	// 65536; see CheckFD).
	MaxSessions int
	// SessionIdle expires a UDP session after that long without a datagram
	// either way (0: 60s).
	SessionIdle time.Duration
	// Drain, when set, runs once as Shutdown begins, on the goroutine that
	// called Shutdown: the listener's service ends what would otherwise
	// wait out the drain (an HTTP server closes idle keep-alive
	// connections and answers the rest with Connection: close).
	Drain func()
}

type listener struct {
	Listener
	network string // tcp, udp, unix
	gnetNet string // the scheme as gnet parses it
	address string // Addr without the scheme
	ap      netip.AddrPort
	bound   net.Addr
	// sessions counts a UDP listener's live sessions across loops.
	sessions atomic.Int64
}

// Transport runs gnet event loops over a set of listeners. Its methods are
// safe from any goroutine.
type Transport struct {
	opts      Options
	log       *slog.Logger
	listeners []*listener

	eng       gnet.Engine
	reusePort bool // every loop has its own socket per address (SO_REUSEPORT)
	ready     chan struct{}
	done      chan struct{}
	runErr    error
	draining  atomic.Bool
	active    atomic.Int64
	stopOnce  sync.Once

	// loops maps gnet's loops to ours. It is copied on write (a loop is
	// added once) and read without a lock on every datagram.
	mu    sync.Mutex
	loops atomic.Pointer[map[gnet.EventLoop]*EventLoop]

	// udpSessions finds a UDP client's session across loops.
	udpSessions *udpTable
	// attaching holds a turn for each socket being attached to a loop
	// (at most attachMax; see fdlimit.go).
	attaching chan struct{}
	// refusals rate-limits the logs of refusals that can come once per
	// connection or datagram.
	refusals ratelog.Limiter
	// bufErr is set once setBuffers has logged a failure.
	bufErr atomic.Bool
}

// Start binds the listeners and runs the event loops. It returns once the
// loops accept connections.
func Start(opts Options, listeners ...Listener) (*Transport, error) {
	if len(listeners) == 0 {
		return nil, errors.New("penstock/transport: no listeners")
	}
	if opts.Loops <= 0 {
		opts.Loops = runtime.NumCPU()
	}
	if opts.SocketSendBuffer < 0 || opts.SocketRecvBuffer < 0 {
		return nil, errors.New("penstock/transport: socket buffer sizes must not be negative")
	}
	opts.ReadBufferCap = max(opts.ReadBufferCap, 64<<10)
	opts.Watermarks = opts.Watermarks.orDefault()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	t := &Transport{
		opts:        opts,
		log:         opts.Logger,
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
		udpSessions: newUDPTable(),
		attaching:   make(chan struct{}, attachMax),
	}
	t.loops.Store(&map[gnet.EventLoop]*EventLoop{})
	var addrs []string
	hasUDP, hasUnix := false, false
	for i, l := range listeners {
		ln, err := parseListener(l)
		if err != nil {
			return nil, fmt.Errorf("penstock/transport: listener %d (%q): %w", i, l.Addr, err)
		}
		for _, o := range t.listeners {
			if o.network == ln.network && o.address == ln.address {
				return nil, fmt.Errorf("penstock/transport: listeners %q and %q share an address", o.Name, ln.Name)
			}
		}
		hasUDP = hasUDP || ln.network == "udp"
		hasUnix = hasUnix || ln.network == "unix"
		t.listeners = append(t.listeners, ln)
		addrs = append(addrs, ln.gnetNet+"://"+ln.address)
	}
	if !opts.SharePorts {
		for _, ln := range t.listeners {
			if err := checkFree(ln); err != nil {
				return nil, fmt.Errorf("penstock/transport: listener %q: %w", ln.Name, err)
			}
		}
	}
	// Every loop accepts on its own SO_REUSEPORT socket (gnet's
	// "reuseport" mode) rather than one acceptor goroutine handing each
	// connection over to a loop: the hand-over costs an eventfd write and,
	// with GOMAXPROCS below the number of goroutines blocked in epoll_wait,
	// a wait for the runtime to give the acceptor a P. Measured with one
	// loop on one core: 1.45x the new-connection rate (benchmarks/README.md).
	// gnet cannot do this next to a unix listener unless there is UDP.
	reusePort := hasUDP || !hasUnix
	t.reusePort = reusePort
	if reusePort && opts.Loops > 1 {
		// Each loop binds its own socket to the address, so port 0 would
		// become a different port per loop: pick the port once, holding it
		// with a socket of our own until the loops have bound theirs.
		for i, ln := range t.listeners {
			if ln.network == "unix" || ln.ap.Port() != 0 {
				continue
			}
			fd, ap, err := reservePort(ln)
			if err != nil {
				return nil, fmt.Errorf("penstock/transport: listener %q: %w", ln.Name, err)
			}
			defer unix.Close(fd)
			ln.ap = ap
			ln.address = ap.String()
			addrs[i] = ln.gnetNet + "://" + ln.address
		}
	}
	gopts := []gnet.Option{
		gnet.WithNumEventLoop(opts.Loops),
		gnet.WithReadBufferCap(opts.ReadBufferCap),
		gnet.WithTicker(true),
		gnet.WithReuseAddr(true),
		gnet.WithReusePort(reusePort),
		gnet.WithLogger(gnetLogger{t.log}),
	}
	if opts.TCPKeepAlive > 0 {
		gopts = append(gopts, gnet.WithTCPKeepAlive(opts.TCPKeepAlive))
	}
	if opts.SocketSendBuffer > 0 {
		gopts = append(gopts, gnet.WithSocketSendBuffer(opts.SocketSendBuffer))
	}
	if opts.SocketRecvBuffer > 0 {
		gopts = append(gopts, gnet.WithSocketRecvBuffer(opts.SocketRecvBuffer))
	}
	go func() {
		err := gnet.Rotate(&engineHandler{t: t}, addrs, gopts...)
		t.runErr = err
		t.closeParked()
		close(t.done)
	}()
	select {
	case <-t.ready:
	case <-t.done:
		if t.runErr == nil {
			t.runErr = errors.New("engine stopped during start")
		}
		return nil, fmt.Errorf("penstock/transport: start: %w", t.runErr)
	}
	for _, ln := range t.listeners {
		ln.bound = t.boundAddr(ln)
	}
	noteFDBase()
	return t, nil
}

func parseListener(l Listener) (*listener, error) {
	scheme, rest, ok := strings.Cut(l.Addr, "://")
	if !ok {
		return nil, errors.New("address needs a scheme: tcp://, udp:// or unix://")
	}
	if l.Accept == nil {
		return nil, errors.New("no Accept func")
	}
	ln := &listener{Listener: l, gnetNet: scheme, address: rest}
	if ln.Name == "" {
		ln.Name = l.Addr
	}
	if ln.Filters == nil {
		ln.Filters = &Filters{}
	}
	switch scheme {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		ln.network = scheme[:3]
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return nil, err
		}
		if host == "" {
			host = "0.0.0.0"
			if strings.HasSuffix(scheme, "6") {
				host = "::"
			}
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("listen address must be an IP address: %w", err)
		}
		p, err := net.LookupPort(ln.network, port)
		if err != nil {
			return nil, err
		}
		ln.ap = netip.AddrPortFrom(ip, uint16(p))
	case "unix":
		ln.network = "unix"
	default:
		return nil, fmt.Errorf("unknown scheme %q", scheme)
	}
	if ln.MaxSessions <= 0 {
		ln.MaxSessions = DefaultMaxSessions()
	}
	if ln.SessionIdle <= 0 {
		ln.SessionIdle = 60 * time.Second
	}
	return ln, nil
}

// reservePort binds a socket with SO_REUSEPORT to ln's address with port 0
// and returns it with the port the kernel chose. The loops' sockets, which
// set SO_REUSEPORT too, can then bind that port while it is held; a TCP
// socket that is bound but not listening takes no connections.
func reservePort(ln *listener) (int, netip.AddrPort, error) {
	ip := ln.ap.Addr().Unmap()
	family, typ := unix.AF_INET, unix.SOCK_STREAM
	if ip.Is6() {
		family = unix.AF_INET6
	}
	if ln.network == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("reserve a port: %w", err)
	}
	var sa unix.Sockaddr
	if ip.Is6() {
		sa = &unix.SockaddrInet6{Addr: ip.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: ip.As4()}
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	var got unix.Sockaddr
	if err == nil {
		got, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, fmt.Errorf("reserve a port: %w", err)
	}
	var port int
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	return fd, netip.AddrPortFrom(ln.ap.Addr(), uint16(port)), nil
}

// checkFree fails when another socket holds the listener's port, by binding
// it once without SO_REUSEPORT.
func checkFree(ln *listener) error {
	if ln.network == "unix" || ln.ap.Port() == 0 {
		return nil
	}
	switch ln.network {
	case "udp":
		c, err := net.ListenPacket(ln.gnetNet, ln.address)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		l, err := net.Listen(ln.gnetNet, ln.address)
		if err != nil {
			return err
		}
		return l.Close()
	}
}

func (t *Transport) boundAddr(ln *listener) net.Addr {
	// gnet files a tcp4/tcp6/udp4/udp6 listener under "tcp" or "udp"
	// once its socket is open.
	fd, err := t.eng.DupListener(ln.network, ln.address)
	if err != nil {
		if fd, err = t.eng.DupListener(ln.gnetNet, ln.address); err != nil {
			return nil
		}
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ap := netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
		if ln.network == "udp" {
			return net.UDPAddrFromAddrPort(ap)
		}
		return net.TCPAddrFromAddrPort(ap)
	case *unix.SockaddrInet6:
		ap := netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
		if ln.network == "udp" {
			return net.UDPAddrFromAddrPort(ap)
		}
		return net.TCPAddrFromAddrPort(ap)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// Addrs returns the bound address of each listener, in the order given to
// Start (the real port when a listener asked for port 0).
func (t *Transport) Addrs() []net.Addr {
	out := make([]net.Addr, len(t.listeners))
	for i, ln := range t.listeners {
		out[i] = ln.bound
	}
	return out
}

// Active reports the accepted TCP and unix streams not yet closed: what a
// drain waits for. UDP sessions are not counted (see Sessions): UDP has no
// end of stream to wait for, so a drain closes them with the rest.
func (t *Transport) Active() int64 { return t.active.Load() }

// Sessions reports the live UDP sessions of all listeners.
func (t *Transport) Sessions() int64 {
	var n int64
	for _, ln := range t.listeners {
		n += ln.sessions.Load()
	}
	return n
}

// ListenerStats returns the filter counters of each listener by name.
func (t *Transport) ListenerStats() map[string]FilterStats {
	out := make(map[string]FilterStats, len(t.listeners))
	for _, ln := range t.listeners {
		out[ln.Name] = ln.Filters.Stats()
	}
	return out
}

// Done is closed once the transport has stopped.
func (t *Transport) Done() <-chan struct{} { return t.done }

// Shutdown stops accepting (new connections are closed before any byte is
// read), lets live streams finish until ctx ends, then stops. It returns
// ctx's error when streams were still open at the deadline.
func (t *Transport) Shutdown(ctx context.Context) error {
	if !t.draining.Swap(true) {
		for _, ln := range t.listeners {
			if ln.Drain != nil {
				ln.Drain()
			}
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for t.active.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-tick.C:
		case <-t.done:
			break wait
		}
	}
	t.Stop()
	return err
}

// Stop closes every listener and stream now and waits for the loops to
// exit. Handlers see OnClose with ErrStopped.
func (t *Transport) Stop() {
	t.stopOnce.Do(func() {
		t.draining.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = t.eng.Stop(ctx)
	})
	<-t.done
}

// closeParked finishes the streams gnet no longer knew about once the loops
// have exited.
func (t *Transport) closeParked() {
	for _, el := range *t.loops.Load() {
		for s := range el.unbound {
			s.finish(ErrStopped)
		}
		for _, s := range el.udp {
			s.finish(ErrStopped)
		}
	}
}

// loop returns the EventLoop for gl, making it on first sight. It runs on
// gl itself.
func (t *Transport) loop(gl gnet.EventLoop) *EventLoop {
	if el := (*t.loops.Load())[gl]; el != nil {
		return el
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.loops.Load()
	if el := old[gl]; el != nil {
		return el
	}
	el := &EventLoop{gl: gl, tr: t, unbound: map[*loopStream]struct{}{}, udp: map[udpKey]*udpSession{}}
	loops := make(map[gnet.EventLoop]*EventLoop, len(old)+1)
	for k, v := range old {
		loops[k] = v
	}
	loops[gl] = el
	t.loops.Store(&loops)
	return el
}

// findListener maps an accepted connection's local address (the listener's
// configured address, as gnet reports it) to its listener.
func (t *Transport) findListener(addr net.Addr) *listener {
	var ap netip.AddrPort
	var network string
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap, network = a.AddrPort(), "tcp"
	case *net.UDPAddr:
		ap, network = a.AddrPort(), "udp"
	case *net.UnixAddr:
		for _, ln := range t.listeners {
			if ln.network == "unix" && ln.address == a.Name {
				return ln
			}
		}
		return nil
	default:
		return nil
	}
	for _, ln := range t.listeners {
		if ln.network != network || ln.ap.Port() != ap.Port() {
			continue
		}
		if ln.ap.Addr().Unmap() == ap.Addr().Unmap() || (ln.ap.Addr().IsUnspecified() && ap.Addr().IsUnspecified()) {
			return ln
		}
	}
	return nil
}

func connInfo(ln *listener, remote, local net.Addr) ConnInfo {
	ci := ConnInfo{Network: ln.network, Listener: ln.Name}
	switch a := remote.(type) {
	case *net.TCPAddr:
		ci.Remote = a.AddrPort()
	case *net.UDPAddr:
		ci.Remote = a.AddrPort()
	}
	switch a := local.(type) {
	case *net.TCPAddr:
		ci.Local = a.AddrPort()
	case *net.UDPAddr:
		ci.Local = a.AddrPort()
	}
	return ci
}

// admit runs the listener's filters and the drain check. It reports whether
// the connection may go on; on success the caller must call t.release.
func (t *Transport) admit(ln *listener, ci ConnInfo) bool {
	if t.draining.Load() {
		ln.Filters.Count(ReasonDraining)
		return false
	}
	r, err := ln.Filters.Admit(ci)
	if r != ReasonNone {
		t.log.Debug("connection refused", "listener", ln.Name, "remote", ci.Remote, "reason", r.String(), "err", err)
		return false
	}
	if !fdReserve() {
		ln.Filters.Release(ci)
		t.refuse(ln, ci, ErrFDLimit)
		return false
	}
	if ln.network != "udp" {
		t.active.Add(1)
	}
	return true
}

// refuse counts and logs a connection or UDP session refused after its
// filters admitted it (the caller has released the admission): near the
// open-file limit, or when its socket could not be made. The log is
// rate-limited, since a flood can bring one per datagram.
func (t *Transport) refuse(ln *listener, ci ConnInfo, err error) {
	ln.Filters.Count(ReasonFDLimit)
	t.refusals.Log(t.log, slog.LevelWarn, "connection refused: no descriptor to spare",
		"listener", ln.Name, "remote", ci.Remote, "err", err, "fd_limit", FDLimit())
}

// DefaultMaxSessions is a UDP listener's session cap when it sets none:
// what the open-file limit leaves room for at three descriptors a session
// (its own socket, an upstream's, and one being attached; see CheckFD),
// at most 65536.
func DefaultMaxSessions() int { return max(1, min(65536, MaxOwnFDs()/fdPerUnit)) }

func (t *Transport) release(ln *listener, ci ConnInfo) {
	ln.Filters.Release(ci)
	fdUnreserve()
	if ln.network != "udp" {
		t.active.Add(-1)
	}
}

// scratch returns the loop's buffer for reads the loop does itself.
func (l *EventLoop) scratch() []byte {
	if l.buf == nil {
		l.buf = make([]byte, l.tr.opts.ReadBufferCap)
	}
	return l.buf
}
