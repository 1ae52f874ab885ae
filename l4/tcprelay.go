package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/penstock-proxy/penstock/codecs/proxyproto"
	"github.com/penstock-proxy/penstock/internal/ratelog"
	"github.com/penstock-proxy/penstock/transport"
)

// TCPRelay relays each accepted stream to an endpoint of Upstreams. Its
// Accept method is a transport.Listener's Accept func. The upstream is
// dialed off the loop with a timeout, trying the group's endpoints in turn,
// and then attached to the downstream's loop, so the pair needs no locks.
type TCPRelay struct {
	Upstreams *Group
	// DialTimeout bounds each connect attempt (default 5s).
	DialTimeout time.Duration
	// Idle closes a connection when no byte moved either way for that long
	// (0: never).
	Idle time.Duration
	// SpliceAfter moves a connection to splice(2) relaying once it has
	// moved that many bytes: bulk transfers then stay in the kernel, idle
	// connections stay cheap on the loop (default 1 MiB; negative: never).
	SpliceAfter int64
	// SendProxy writes a PROXY protocol header (version 1 or 2; 0: none)
	// to each upstream before any client byte, carrying the client's
	// address.
	SendProxy int
	// Dialer, when set, dials upstreams (for a source address or socket
	// options); its Timeout is overridden by DialTimeout, and one without
	// a Control func gets transport.DialControl, which refuses a socket
	// near the open-file limit.
	Dialer *net.Dialer
	Logger *slog.Logger

	// failLog rate-limits the lines of failures that can come with every
	// connection (an endpoint down, the descriptors running out).
	failLog ratelog.Limiter
}

// relayConn is one relayed connection. Until its upstream is attached it is
// the downstream's handler: it buffers what the client sends (pausing the
// client past the high watermark) and keeps its EOF. Then its embedded pipe
// takes over both streams.
type relayConn struct {
	pipe   pipe
	r      *TCPRelay
	down   transport.Stream
	pend   []byte
	eof    bool
	closed bool
	cancel context.CancelFunc
	ep     *Endpoint
}

// Accept starts relaying s. It runs on s's loop.
func (r *TCPRelay) Accept(s transport.Stream) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &relayConn{r: r, down: s, cancel: cancel}
	s.SetHandler(c)
	client := s.RemoteAddr()
	dialPool.run(func() { c.dial(ctx, client) })
}

func (r *TCPRelay) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (c *relayConn) dial(ctx context.Context, client net.Addr) {
	// No TCP keep-alive by default, as in HAProxy and nginx: it costs four
	// setsockopt calls per connection. A Dialer with KeepAlive set turns it on.
	d := net.Dialer{KeepAlive: -1}
	if c.r.Dialer != nil {
		d = *c.r.Dialer
	}
	if d.Control == nil && d.ControlContext == nil {
		// Refuses the socket near the open-file limit, so the transport
		// keeps descriptors to accept and refuse connections with.
		d.Control = transport.DialControl
	}
	d.Timeout = c.r.DialTimeout
	if d.Timeout <= 0 {
		d.Timeout = 5 * time.Second
	}
	g := c.r.Upstreams
	var errs []error
	for _, ep := range g.Order() {
		network, addr := ep.Network()
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.MarkFailed(ep)
			c.r.failLog.Log(c.r.log(), slog.LevelWarn, "upstream connect failed",
				"group", g.Name, "upstream", ep.Addr, "client", client, "err", err)
			errs = append(errs, err)
			continue
		}
		g.MarkOK(ep)
		c.ep = ep
		transport.AttachWait(c.down.Loop(), nc, c.attached)
		return
	}
	err := fmt.Errorf("%w: group %q: %w", ErrNoUpstream, g.Name, errors.Join(errs...))
	c.down.Loop().Execute(func() {
		if !c.closed {
			c.r.failLog.Log(c.r.log(), slog.LevelError, "closing client: no upstream", "group", g.Name, "client", client, "err", err)
			_ = c.down.Close()
		}
	})
}

// attached runs on the loop with the upstream stream.
func (c *relayConn) attached(up transport.Stream, err error) {
	if err != nil {
		c.r.log().Error("upstream attach failed", "group", c.r.Upstreams.Name, "err", err)
		_ = c.down.Close()
		return
	}
	if c.closed {
		_ = up.Close()
		return
	}
	c.cancel()
	// Past the dial the pair lives in the pipe; drop what only dialing
	// needed so an idle connection holds as little as possible.
	c.cancel = nil
	if c.r.SendProxy > 0 {
		// The PROXY header goes before TLS, as HAProxy sends it.
		hdr, err := proxyHeader(c.r.SendProxy, c.down.RemoteAddr(), c.down.LocalAddr())
		if err == nil {
			_, err = up.Write(hdr)
		}
		if err != nil {
			c.r.log().Error("PROXY header not sent; closing", "group", c.r.Upstreams.Name, "err", err)
			_ = up.Close()
			_ = c.down.Close()
			return
		}
	}
	if c.ep.TLS != nil {
		transport.TLSClient(up, c.ep.TLS, c.r.DialTimeout, c.secured)
		return
	}
	c.start(up)
}

// secured runs on the loop once the upstream's TLS handshake is over. A
// failed handshake (an unknown or expired certificate, a name that does
// not match) marks the endpoint failed and closes the client.
func (c *relayConn) secured(up transport.Stream, err error) {
	if err != nil {
		c.r.Upstreams.MarkFailed(c.ep)
		c.r.failLog.Log(c.r.log(), slog.LevelWarn, "upstream TLS handshake failed; closing client",
			"group", c.r.Upstreams.Name, "upstream", c.ep.Addr, "err", err)
		if !c.closed {
			_ = c.down.Close()
		}
		return
	}
	if c.closed {
		_ = up.Close()
		return
	}
	c.start(up)
}

// start relays the client and the upstream (plain or TLS) in the pipe.
func (c *relayConn) start(up transport.Stream) {
	down := c.down
	c.down = nil
	if len(c.pend) > 0 {
		if _, err := up.Write(c.pend); err != nil {
			_ = up.Close()
			_ = down.Close()
			return
		}
		c.pend = nil
	}
	splice := c.r.SpliceAfter
	if splice == 0 {
		splice = 1 << 20
	}
	c.pipe.run(down, up, PipeOptions{Idle: c.r.Idle, AEOF: c.eof, Done: c.done, SpliceAfter: max(splice, 0)})
}

// proxyHeader encodes a PROXY protocol header of the given version for a
// connection from client to local. Addresses that are not TCP (a unix
// listener) give version 1's UNKNOWN or version 2's LOCAL, which tell the
// upstream to use the connection's own endpoints.
func proxyHeader(version int, client, local net.Addr) ([]byte, error) {
	src, _ := client.(*net.TCPAddr)
	dst, _ := local.(*net.TCPAddr)
	if version == 1 {
		if src == nil || dst == nil {
			return proxyproto.AppendV1(nil, netip.AddrPort{}, netip.AddrPort{}), nil
		}
		return proxyproto.AppendV1(nil, src.AddrPort(), dst.AddrPort()), nil
	}
	if src == nil || dst == nil {
		return proxyproto.AppendV2Local(nil), nil
	}
	h := proxyproto.Header{Command: proxyproto.Proxy, Transport: proxyproto.TransportStream,
		Source: src.AddrPort(), Destination: dst.AddrPort()}
	h.Family = proxyproto.FamilyIPv4
	if !src.AddrPort().Addr().Unmap().Is4() || !dst.AddrPort().Addr().Unmap().Is4() {
		h.Family = proxyproto.FamilyIPv6
	} else {
		h.Source = netip.AddrPortFrom(src.AddrPort().Addr().Unmap(), src.AddrPort().Port())
		h.Destination = netip.AddrPortFrom(dst.AddrPort().Addr().Unmap(), dst.AddrPort().Port())
	}
	return proxyproto.AppendV2(nil, &h)
}

func (c *relayConn) done(err error, st PipeStats) {
	lvl := slog.LevelDebug
	if err != nil && !errors.Is(err, transport.ErrStopped) {
		lvl = slog.LevelInfo
	}
	if !c.r.log().Enabled(context.Background(), lvl) {
		return
	}
	c.r.log().Log(context.Background(), lvl, "connection closed", "group", c.r.Upstreams.Name,
		"upstream", c.ep.Addr, "sent", st.AToB, "received", st.BToA, "duration", st.Duration, "spliced", st.Spliced, "err", err)
}

func (c *relayConn) OnData(s transport.Stream, p []byte) int {
	c.pend = append(c.pend, p...)
	if len(c.pend) >= transport.DefaultWatermarks.High {
		s.PauseRead()
	}
	return len(p)
}

func (c *relayConn) OnReadEOF(transport.Stream) { c.eof = true }
func (c *relayConn) OnDrained(transport.Stream) {}
func (c *relayConn) OnClose(transport.Stream, error) {
	c.closed = true
	if c.cancel != nil {
		c.cancel()
	}
}

var _ transport.Handler = (*relayConn)(nil)
