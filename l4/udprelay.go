package l4

import (
	"context"
	"log/slog"
	"net"

	"github.com/penstock-proxy/penstock/transport"
)

// UDPRelay relays each UDP session (one client address) through its own
// connected socket to an endpoint of Upstreams, so every reply reaches the
// right client. Its Accept method is a UDP transport.Listener's Accept
// func; the listener's MaxSessions and SessionIdle cap and expire sessions.
// Datagrams without payload are dropped on the relay's connected sockets
// (the event loop reads those as streams, where no bytes mean EOF).
type UDPRelay struct {
	Upstreams *Group
	// MaxPending bounds the datagrams kept while a new session's upstream
	// socket is being set up (default 64); more are dropped.
	MaxPending int
	Logger     *slog.Logger
}

// udpPending holds a new session's first datagrams.
type udpPending struct {
	r      *UDPRelay
	dgrams [][]byte
	closed bool
}

// Accept starts relaying session s. It runs on s's loop.
func (r *UDPRelay) Accept(s transport.Stream) {
	p := &udpPending{r: r}
	s.SetHandler(p)
	ep := r.Upstreams.Order()[0]
	client := s.RemoteAddr().String()
	go func() {
		nc, err := net.Dial("udp", ep.Addr)
		if err != nil {
			r.log().Error("upstream socket failed", "group", r.Upstreams.Name, "upstream", ep.Addr, "client", client, "err", err)
			s.Loop().Execute(func() { _ = s.Close() })
			return
		}
		transport.AttachWait(s.Loop(), nc, func(up transport.Stream, err error) {
			if err != nil {
				r.log().Error("upstream socket attach failed", "group", r.Upstreams.Name, "err", err)
				_ = s.Close()
				return
			}
			if p.closed {
				_ = up.Close()
				return
			}
			for _, d := range p.dgrams {
				_, _ = up.Write(d)
			}
			p.dgrams = nil
			Pipe(s, up, PipeOptions{Done: func(err error, st PipeStats) {
				r.log().Log(context.Background(), slog.LevelDebug, "udp session closed", "group", r.Upstreams.Name,
					"client", client, "upstream", ep.Addr, "sent", st.AToB, "received", st.BToA, "err", err)
			}})
		})
	}()
}

func (r *UDPRelay) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (p *udpPending) OnData(_ transport.Stream, d []byte) int {
	limit := p.r.MaxPending
	if limit <= 0 {
		limit = 64
	}
	if len(p.dgrams) < limit {
		p.dgrams = append(p.dgrams, append([]byte(nil), d...))
	}
	return len(d)
}

func (p *udpPending) OnReadEOF(transport.Stream)      {}
func (p *udpPending) OnDrained(transport.Stream)      {}
func (p *udpPending) OnClose(transport.Stream, error) { p.closed = true }

var _ transport.Handler = (*udpPending)(nil)
