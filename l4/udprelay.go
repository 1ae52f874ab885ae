package l4

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"

	"github.com/penstock-proxy/penstock/internal/ratelog"
	"github.com/penstock-proxy/penstock/transport"
)

// UDPRelay relays each UDP session (one client address) through its own
// connected socket to an endpoint of Upstreams, so every reply reaches the
// right client. Its Accept method is a UDP transport.Listener's Accept
// func; the listener's MaxSessions and SessionIdle cap and expire sessions.
// Datagrams without payload are dropped on the relay's connected sockets
// (the event loop reads those as streams, where no bytes mean EOF).
//
// An endpoint that answers with ICMP port unreachable (ECONNREFUSED on the
// connected socket) has failed as a refused TCP connect has: it is marked
// failed in its group for FailTimeout, and a session that has had no reply
// yet moves to the next endpoint and sends its datagrams again there, as
// nginx's proxy_next_upstream does for UDP. A session that has had a reply
// ends instead, and its client's next datagram opens a new one.
type UDPRelay struct {
	Upstreams *Group
	// MaxPending bounds the datagrams kept while a new session's upstream
	// socket is being set up, and those kept to send again elsewhere until
	// the upstream's first reply (default 64); more are dropped, or sent
	// without a copy to send again.
	MaxPending int
	Logger     *slog.Logger

	failLog ratelog.Limiter
}

// maxResendBytes bounds the bytes a session keeps to send again to
// another endpoint before its first reply.
const maxResendBytes = 64 << 10

// udpRelaySession is the handler of a session's client stream and of its
// upstream socket. It lives on the session's loop.
type udpRelaySession struct {
	r      *UDPRelay
	client transport.Stream
	up     transport.Stream // nil until attached, and after it failed
	ep     *Endpoint
	tried  []*Endpoint
	// early holds the client's datagrams until the upstream's first reply:
	// those waiting for the socket, and copies of those sent, to send
	// again to another endpoint if this one refuses them. resend is false
	// once it stopped keeping copies (past its bounds, or after a reply).
	early      [][]byte
	earlyBytes int
	resend     bool
	replied    bool
	closed     bool // the client's session ended
	st         PipeStats
	clientName string
}

// Accept starts relaying session s. It runs on s's loop.
func (r *UDPRelay) Accept(s transport.Stream) {
	rs := &udpRelaySession{r: r, client: s, resend: true}
	s.SetHandler(rs)
	rs.clientName = s.RemoteAddr().String()
	rs.dial(r.Upstreams.Pick(nil))
}

func (r *UDPRelay) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *UDPRelay) maxPending() int {
	if r.MaxPending <= 0 {
		return 64
	}
	return r.MaxPending
}

// dial opens a socket to ep off the loop and attaches it to the session's
// loop. Loop only.
func (rs *udpRelaySession) dial(ep *Endpoint) {
	rs.ep = ep
	r, loop := rs.r, rs.client.Loop()
	go func() {
		// The Control func refuses the socket near the open-file limit,
		// so the transport keeps descriptors to accept and refuse with.
		d := net.Dialer{Control: transport.DialControl}
		nc, err := d.Dial("udp", ep.Addr)
		if err != nil {
			loop.Execute(func() {
				r.failLog.Log(r.log(), slog.LevelWarn, "udp session refused: upstream socket failed",
					"group", r.Upstreams.Name, "upstream", ep.Addr, "client", rs.clientName, "err", err)
				_ = rs.client.Close()
			})
			return
		}
		transport.AttachWait(loop, nc, rs.attached)
	}()
}

// attached runs on the loop once the upstream socket is attached.
func (rs *udpRelaySession) attached(up transport.Stream, err error) {
	r := rs.r
	if err != nil {
		r.failLog.Log(r.log(), slog.LevelWarn, "udp session refused: upstream socket attach failed",
			"group", r.Upstreams.Name, "upstream", rs.ep.Addr, "client", rs.clientName, "err", err)
		_ = rs.client.Close()
		return
	}
	if rs.closed {
		_ = up.Close()
		return
	}
	rs.up = up
	up.SetHandler(rs)
	for _, d := range rs.early {
		if !rs.send(d) {
			return
		}
	}
	if !rs.resend {
		rs.early = nil
	}
}

// send writes d upstream; false when the upstream failed and the session
// moved on (or ended).
func (rs *udpRelaySession) send(d []byte) bool {
	if _, err := rs.up.Write(d); err != nil {
		rs.upFailed(rs.up, err)
		return false
	}
	rs.st.AToB += int64(len(d))
	return true
}

// OnData takes a datagram from the client or from the upstream.
func (rs *udpRelaySession) OnData(s transport.Stream, p []byte) int {
	if s != rs.client {
		if s != rs.up {
			return len(p)
		}
		if !rs.replied {
			rs.replied, rs.resend, rs.early = true, false, nil
			rs.r.Upstreams.MarkOK(rs.ep)
		}
		rs.st.BToA += int64(len(p))
		_, _ = rs.client.Write(p)
		return len(p)
	}
	keep := rs.resend && len(rs.early) < rs.r.maxPending() && rs.earlyBytes+len(p) <= maxResendBytes
	switch {
	case keep:
		rs.early = append(rs.early, append([]byte(nil), p...))
		rs.earlyBytes += len(p)
	case rs.up == nil:
		// Past the bounds with no socket yet: dropped, as UDP allows.
		return len(p)
	default:
		rs.resend, rs.early = false, nil
	}
	if rs.up != nil {
		rs.send(p)
	}
	return len(p)
}

// OnReadEOF does nothing: UDP has no end of stream.
func (rs *udpRelaySession) OnReadEOF(transport.Stream) {}

// OnDrained does nothing: UDP streams are always writable.
func (rs *udpRelaySession) OnDrained(transport.Stream) {}

// OnClose ends the session when the client's side ends, and handles an
// upstream socket that failed.
func (rs *udpRelaySession) OnClose(s transport.Stream, err error) {
	if s == rs.client {
		rs.closed = true
		if up := rs.up; up != nil {
			rs.up = nil
			_ = up.Close()
		}
		rs.r.log().Log(context.Background(), slog.LevelDebug, "udp session closed", "group", rs.r.Upstreams.Name,
			"client", rs.clientName, "upstream", rs.ep.Addr, "sent", rs.st.AToB, "received", rs.st.BToA, "err", err)
		return
	}
	if s == rs.up {
		rs.upFailed(s, err)
	}
}

// upFailed handles the end of upstream socket up with err: an endpoint
// that refused is marked failed, and a session without a reply yet tries
// the next endpoint with the datagrams it kept.
func (rs *udpRelaySession) upFailed(up transport.Stream, err error) {
	rs.up = nil
	_ = up.Close()
	if rs.closed {
		return
	}
	r, g := rs.r, rs.r.Upstreams
	refused := errors.Is(err, syscall.ECONNREFUSED)
	if refused {
		g.MarkFailed(rs.ep)
	}
	if refused && !rs.replied && rs.resend {
		rs.tried = append(rs.tried, rs.ep)
		if next := g.Pick(rs.tried); next != nil {
			r.failLog.Log(r.log(), slog.LevelWarn, "upstream refused datagrams, trying the next",
				"group", g.Name, "upstream", rs.ep.Addr, "next", next.Addr, "client", rs.clientName, "err", err)
			rs.dial(next)
			return
		}
	}
	r.failLog.Log(r.log(), slog.LevelWarn, "udp session ended: upstream failed",
		"group", g.Name, "upstream", rs.ep.Addr, "client", rs.clientName, "err", err)
	_ = rs.client.Close()
}

var _ transport.Handler = (*udpRelaySession)(nil)
