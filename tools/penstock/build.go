package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/pipelines/redisproxy"
	"github.com/penstock-proxy/penstock/pipelines/tcprelay"
	"github.com/penstock-proxy/penstock/pipelines/udprelay"
	"github.com/penstock-proxy/penstock/transport"
)

// build turns a checked config into transport listeners. Plain relays and
// Redis listeners come from the generated pipelines; routes (whose shape a
// config decides) and built-ins are assembled here.
//
// logs opens the HTTP listeners' access logs; nil opens none (for checks).
func build(cfg *Config, log *slog.Logger, logs *accessLogs) ([]transport.Listener, error) {
	var out []transport.Listener
	for _, lc := range cfg.Listeners {
		f := filterValues(lc.Filters)
		llog := log.With("listener", lc.Name)
		var ls []transport.Listener
		switch {
		case lc.Serve == "http":
			ls = []transport.Listener{{Accept: demoHTTP.Accept, Drain: demoHTTP.Drain}}
		case lc.Serve != "":
			ls = []transport.Listener{{Accept: builtin(lc.Serve)}}
		case lc.Protocol == "http":
			srv, err := buildHTTP(cfg, lc, llog, logs)
			if err != nil {
				return nil, err
			}
			ls = []transport.Listener{{Accept: srv.Accept, Drain: srv.Drain}}
		case len(lc.Routes) > 0:
			endpoints := map[string][]string{}
			failTimeout := map[string]time.Duration{}
			for _, rc := range lc.Routes {
				u := cfg.Upstreams[rc.Upstream]
				endpoints[rc.Upstream], failTimeout[rc.Upstream] = u.Endpoints, u.FailTimeout
			}
			groups, err := l4.NewGroups(endpoints, failTimeout)
			if err != nil {
				return nil, err
			}
			r := &transport.PeekRouter{Timeout: lc.PeekTimeout, MaxBytes: lc.PeekMaxBytes, Logger: llog}
			for _, rc := range lc.Routes {
				relay := &l4.TCPRelay{Upstreams: groups[rc.Upstream], DialTimeout: lc.ConnectTimeout, Idle: lc.IdleTimeout, Logger: llog}
				rt := transport.PeekRoute{Name: rc.Upstream, Accept: relay.Accept}
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
			ls = []transport.Listener{{Accept: r.Accept}}
		case lc.Protocol == "redis":
			u := cfg.Upstreams[lc.Upstream]
			rc := redisproxy.DefaultConfig()
			rc.Listen = []string{lc.Listen}
			rc.Servers = rc.Servers[:0]
			for i, ep := range u.Endpoints {
				srv := l4.KetamaServer{Addr: ep, Weight: 1}
				if i < len(u.Names) {
					srv.Name = u.Names[i]
				}
				if i < len(u.Weights) {
					srv.Weight = u.Weights[i]
				}
				rc.Servers = append(rc.Servers, srv)
			}
			rc.HashTag, rc.Logger = lc.HashTag, llog
			if lc.ConnectTimeout > 0 {
				rc.ConnectTimeout = lc.ConnectTimeout
			}
			p, err := redisproxy.New(rc)
			if err != nil {
				return nil, err
			}
			ls = p.Listeners()
		case strings.HasPrefix(lc.Listen, "udp"):
			u := cfg.Upstreams[lc.Upstream]
			uc := udprelay.DefaultConfig()
			uc.Listen = []string{lc.Listen}
			uc.Upstreams = map[string][]string{"dns": u.Endpoints}
			uc.SessionIdle, uc.MaxSessions, uc.Logger = lc.SessionIdle, lc.MaxSessions, llog
			p, err := udprelay.New(uc)
			if err != nil {
				return nil, err
			}
			ls = p.Listeners()
		default:
			u := cfg.Upstreams[lc.Upstream]
			tc := tcprelay.DefaultConfig()
			tc.Listen = []string{lc.Listen}
			tc.Upstreams = map[string][]string{"backends": u.Endpoints}
			tc.FailTimeout = map[string]time.Duration{"backends": u.FailTimeout}
			tc.ConnectTimeout, tc.Idle, tc.Logger = lc.ConnectTimeout, lc.IdleTimeout, llog
			p, err := tcprelay.New(tc)
			if err != nil {
				return nil, err
			}
			ls = p.Listeners()
		}
		for _, l := range ls {
			l.Name, l.Addr, l.Filters = lc.Name, lc.Listen, f
			out = append(out, l)
		}
	}
	return out, nil
}

// buildHTTP assembles an HTTP reverse proxy listener: the listener's
// upstream is the default group and routes pick others by host and path.
func buildHTTP(cfg *Config, lc ListenerConfig, log *slog.Logger, logs *accessLogs) (*httpd.Server, error) {
	endpoints := map[string][]string{}
	failTimeout := map[string]time.Duration{}
	use := func(name string) {
		u := cfg.Upstreams[name]
		endpoints[name], failTimeout[name] = u.Endpoints, u.FailTimeout
	}
	if lc.Upstream != "" {
		use(lc.Upstream)
	}
	for _, rc := range lc.Routes {
		use(rc.Upstream)
	}
	groups, err := l4.NewGroups(endpoints, failTimeout)
	if err != nil {
		return nil, err
	}
	p := &httpproxy.Proxy{ConnectTimeout: lc.ConnectTimeout, ResponseTimeout: lc.ResponseTimeout, ReadTimeout: lc.ReadTimeout, Logger: log}
	if lc.Upstream != "" {
		p.Upstreams = groups[lc.Upstream]
	}
	for _, rc := range lc.Routes {
		p.Routes = append(p.Routes, httpproxy.Route{Host: rc.Host, PathPrefix: rc.PathPrefix, Upstreams: groups[rc.Upstream]})
	}
	srv := &httpd.Server{Handler: p, IdleTimeout: lc.IdleTimeout, SendTimeout: lc.SendTimeout,
		BodyTimeout: lc.ClientBodyTimeout, Logger: log}
	if lc.AccessLog != "" && logs != nil {
		w, err := logs.writer(lc.Name, lc.AccessLog)
		if err != nil {
			return nil, fmt.Errorf("listener %s: access log: %w", lc.Name, err)
		}
		p.Logging = w.request
		srv.OnReject = w.reject
	}
	return srv, nil
}

// filterValues builds a listener's connection filters.
func filterValues(fc FilterConfig) *transport.Filters {
	f := &transport.Filters{
		MaxConns:      fc.MaxConns,
		MaxConnsPerIP: fc.MaxConnsPerIP,
		RatePerIP:     fc.RatePerIP,
		BurstPerIP:    fc.BurstPerIP,
	}
	// The config check has parsed these already.
	f.Allow, _ = transport.ParsePrefixes(fc.Allow)
	f.Deny, _ = transport.ParsePrefixes(fc.Deny)
	return f
}

// demoHTTP is the built-in HTTP service: /echo streams the request body
// back; anything else gets a greeting naming the request.
var demoHTTP = &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
	if strings.HasPrefix(string(x.Req.Path), "/echo") {
		_ = x.WriteHead(200, httpd.Field{Name: []byte("Content-Type"), Value: []byte("application/octet-stream")})
		x.OnDrained(x.ResumeBody)
		x.ReadBody(func(p []byte, end bool) {
			_, _ = x.Write(p)
			if end {
				_ = x.End()
			} else if !x.Writable() {
				x.PauseBody()
			}
		})
		return
	}
	xff, _ := x.Req.Header("X-Forwarded-For")
	_ = x.Respond(200, fmt.Appendf(nil, "hello from penstock: %s %s (X-Forwarded-For: %s)\n", x.Req.Method, x.Req.Target, xff),
		httpd.Field{Name: []byte("Content-Type"), Value: []byte("text/plain; charset=utf-8")})
})}

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
