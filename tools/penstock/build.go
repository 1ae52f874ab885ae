package main

import (
	"log/slog"
	"strings"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
)

// build turns a checked config into transport listeners with their relays.
func build(cfg *Config, log *slog.Logger) ([]transport.Listener, error) {
	groups := map[string]*l4.Group{}
	for name, u := range cfg.Upstreams {
		g, err := l4.NewGroup(name, u.Endpoints...)
		if err != nil {
			return nil, err
		}
		if u.FailTimeout > 0 {
			g.FailTimeout = u.FailTimeout
		}
		groups[name] = g
	}
	var out []transport.Listener
	for _, lc := range cfg.Listeners {
		f := &transport.Filters{
			MaxConns:      lc.Filters.MaxConns,
			MaxConnsPerIP: lc.Filters.MaxConnsPerIP,
			RatePerIP:     lc.Filters.RatePerIP,
			BurstPerIP:    lc.Filters.BurstPerIP,
		}
		for _, s := range lc.Filters.Allow {
			p, _ := parsePrefix(s)
			f.Allow = append(f.Allow, p)
		}
		for _, s := range lc.Filters.Deny {
			p, _ := parsePrefix(s)
			f.Deny = append(f.Deny, p)
		}
		llog := log.With("listener", lc.Name)
		tcpRelay := func(group string) func(transport.Stream) {
			return (&l4.TCPRelay{Upstreams: groups[group], DialTimeout: lc.ConnectTimeout, Idle: lc.IdleTimeout, Logger: llog}).Accept
		}
		ln := transport.Listener{
			Name: lc.Name, Addr: lc.Listen, Filters: f,
			MaxSessions: lc.MaxSessions, SessionIdle: lc.SessionIdle,
		}
		udp := strings.HasPrefix(lc.Listen, "udp")
		switch {
		case lc.Serve != "":
			ln.Accept = builtin(lc.Serve)
		case len(lc.Routes) > 0:
			r := &transport.PeekRouter{Timeout: lc.PeekTimeout, MaxBytes: lc.PeekMaxBytes, Logger: llog}
			for _, rc := range lc.Routes {
				rt := transport.PeekRoute{Name: rc.Upstream, Accept: tcpRelay(rc.Upstream)}
				switch {
				case len(rc.SNI) > 0:
					rt.Match = transport.SNI{Names: rc.SNI}
				case len(rc.Prefix) > 0:
					var p transport.Prefix
					for _, s := range rc.Prefix {
						p = append(p, []byte(s))
					}
					rt.Match = p
				}
				r.Routes = append(r.Routes, rt)
			}
			ln.Accept = r.Accept
		case udp:
			ln.Accept = (&l4.UDPRelay{Upstreams: groups[lc.Upstream], Logger: llog}).Accept
		default:
			ln.Accept = tcpRelay(lc.Upstream)
		}
		out = append(out, ln)
	}
	return out, nil
}

// builtin returns the Accept func of a built-in service, for demos and
// benchmarks: echo writes back what it reads (each datagram on UDP) and
// half-closes after the client's EOF; discard reads and drops.
func builtin(name string) func(transport.Stream) {
	var h transport.Handler
	switch name {
	case "echo":
		h = transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				_, _ = s.Write(p)
				if !s.Writable() {
					s.PauseRead()
				}
				return len(p)
			},
			Drained: func(s transport.Stream) { s.ResumeRead() },
			ReadEOF: func(s transport.Stream) { _ = s.CloseWrite() },
		}
	default:
		h = transport.HandlerFuncs{ReadEOF: func(s transport.Stream) { _ = s.CloseWrite() }}
	}
	return func(s transport.Stream) { s.SetHandler(h) }
}
