package main

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/framing"
	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/internal/spec"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/l7/redis"
	"github.com/penstock-proxy/penstock/pipelines/kvproto"
	"github.com/penstock-proxy/penstock/transport"
)

// defaultTicketRotation is a tls stage's ticket_rotation when it sets none.
const defaultTicketRotation = 24 * time.Hour

// quiet is a logger for builds that only check.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// built is a checked plan built into transport listeners, one pipeline
// per entry of the plan.
type built struct {
	plan      *spec.Plan
	pipelines []*pipeline
	// byPipeline are the transport listeners of each pipeline, in the
	// order of the pipelines and of their listen addresses.
	byPipeline [][]transport.Listener
}

// build turns a checked plan into transport listeners. It knows the stage
// kinds, never a group's or a pipeline's name: each pipeline's groups are
// the ones its stages name.
//
// logs opens the access logs of http_proxy stages; nil opens none (for
// checks). A problem is returned as spec.Errors at the key path it comes
// from.
//
// reg, when not nil, gets the counters of the http_proxy stages.
func build(plan *spec.Plan, log *slog.Logger, logs *accessLogs, reg *registry, tr *tracing) (*built, error) {
	d := &built{plan: plan}
	var errs spec.Errors
	for _, pl := range plan.Pipelines {
		p, err := newPipeline(plan, pl, log, logs, reg, tr)
		if err != nil {
			errs = append(errs, asErrors(err)...)
			continue
		}
		d.pipelines = append(d.pipelines, p)
		d.byPipeline = append(d.byPipeline, p.listeners(pl))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// listeners returns the transport listeners of p, pipeline pl of its
// plan: one per listen address, each with its Filters.
func (p *pipeline) listeners(pl *spec.Pipeline) []transport.Listener {
	var ls []transport.Listener
	v := pl.Values
	for _, addr := range v.Listen {
		name := pl.Shape.Name
		if len(v.Listen) > 1 {
			name += " " + addr
		}
		f := filters(v.Filters)
		p.filters = append(p.filters, f)
		ls = append(ls, transport.Listener{
			Name: name, Addr: addr, Filters: f, Accept: p.Accept, Drain: p.Drain,
			MaxSessions: v.Session.MaxSessions, SessionIdle: v.Session.Idle,
		})
	}
	return ls
}

// pipeline runs one pipeline of a plan. Its shape (stage kinds and order,
// framer, handler) is fixed when it is built; its values are held in a
// snapshot, built whole from a spec.Values and swapped atomically, that
// serves the streams accepted while it is current. Streams already
// accepted stay with the snapshot that took them.
//
// Filter rules are swapped with the rest, in the transport's Filters of
// each listener (their counters and per-source state stay). Listen
// addresses and UDP session limits are values too, but the transport
// takes them when it binds: they change with the listeners.
type pipeline struct {
	plan    *spec.Plan
	shape   spec.Shape
	path    string
	dir     string // relative file names are relative to it
	log     *slog.Logger
	logs    *accessLogs
	framer  frameCodec    // handle: the framer, from the shape
	handler frameHandler  // handle: the handler, kept across snapshots
	metrics *httpMetrics  // http_proxy: its counters (nil: not counted)
	tracing *tracing      // http_proxy: its traces (nil: not traced)
	retired chan struct{} // closed when a reload removes the pipeline
	loops   int           // the pipeline's loops key as it started (0: the daemon's)
	socket  spec.Socket   // the pipeline's socket key as it started

	cur atomic.Pointer[snapshot]
	// filters are the Filters of the pipeline's listeners, set by build
	// before any Swap after the first and not changed after.
	filters []*transport.Filters

	mu     sync.Mutex
	drains []func() // the current snapshot's service's, if it has one to drain (older ones drain as they are replaced)

	// tls terminates TLS for a pipeline with a tls stage: one per
	// pipeline, so its ticket keys and counts outlive snapshots. Its
	// tls.Config is a value (Swap and reloadTLS set it); its
	// require_post_quantum, timeout and ticket_rotation are taken when
	// the pipeline is built, as listen addresses are.
	tls *transport.TLS
}

// snapshot is what one Values builds: immutable once stored.
type snapshot struct {
	values spec.Values
	accept func(transport.Stream)
	// tlsConfig is the tls stage's server configuration (nil without).
	tlsConfig *tls.Config
	// groups are the upstream groups it built; proxy and server its
	// http_proxy stage (nil for others).
	groups map[string]*l4.Group
	proxy  *httpproxy.Proxy
	server *httpd.Server
	// drain ends its service's idle connections (nil: nothing to end).
	drain func()
}

func newPipeline(plan *spec.Plan, pl *spec.Pipeline, log *slog.Logger, logs *accessLogs, reg *registry, tr *tracing) (*pipeline, error) {
	p := &pipeline{plan: plan, shape: pl.Shape, path: pl.Path, log: log.With("pipeline", pl.Shape.Name), logs: logs, dir: configDir(plan.File),
		retired: make(chan struct{}), loops: pl.Values.Loops, socket: pl.Values.Socket}
	if pl.Shape.Terminal == "http_proxy" {
		p.metrics = reg.httpStage(pl.Shape.Name)
		p.tracing = tr
	}
	if f := pl.Shape.Framer; f != nil {
		codec, err := newFramer(f)
		if err != nil {
			return nil, spec.Errors{plan.Errorf(p.stagePath(f.Kind), "%v", err)}
		}
		p.framer = codec
	}
	if pl.Shape.Terminal == "handle" {
		p.handler = handlers[pl.Shape.HandlerType]()
	}
	if t := pl.Values.TLS; t != nil {
		// The daemon rotates the ticket keys itself (daily by default, as
		// crypto/tls would), so that an upgrade can hand them over.
		p.tls = &transport.TLS{RequirePostQuantum: t.RequirePostQuantum, HandshakeTimeout: t.HandshakeTimeout,
			TicketRotation: cmp.Or(t.TicketRotation, defaultTicketRotation), Logger: p.log}
	}
	if err := p.Swap(plan, pl.Values); err != nil {
		return nil, err
	}
	return p, nil
}

// stagePath is the key path of the pipeline's stage of that kind.
func (p *pipeline) stagePath(kind string) string {
	for i, k := range p.shape.Kinds {
		if k == kind {
			return fmt.Sprintf("%s.stages[%d]", p.path, i)
		}
	}
	return p.path
}

// Accept hands a new stream to the current snapshot. It runs on the
// stream's loop.
func (p *pipeline) Accept(s transport.Stream) { p.cur.Load().accept(s) }

// Values returns the values that serve new streams. It is safe from any
// goroutine.
func (p *pipeline) Values() spec.Values { return p.cur.Load().values }

// Swap builds a snapshot from v, the values of a pipeline of this shape in
// plan (whose groups are the ones v names), and makes it serve the streams
// accepted from now on. It is safe from any goroutine; on an error the
// current snapshot stays.
func (p *pipeline) Swap(plan *spec.Plan, v spec.Values) error {
	s, drain, err := p.snapshot(plan, v)
	if err != nil {
		return err
	}
	p.install(s, drain, v)
	return nil
}

// install makes s, which snapshot built from v, serve the streams
// accepted from now on. The snapshot it replaces drains: its HTTP
// connections close between requests (HTTP/2 ones with GOAWAY), so that
// a keep-alive client moves to the new values with its next connection
// and nothing keeps the old snapshot alive; relays and requests under
// way finish on the values they started with. It is safe from any
// goroutine.
func (p *pipeline) install(s *snapshot, drain func(), v spec.Values) {
	s.drain = drain
	p.mu.Lock()
	p.drains = p.drains[:0]
	if drain != nil {
		p.drains = append(p.drains, drain)
	}
	p.mu.Unlock()
	if s.tlsConfig != nil {
		p.tls.SetConfig(s.tlsConfig)
	}
	if old := p.cur.Swap(s); old != nil && old.drain != nil {
		old.drain() // flags the old server and queues a task per connection: quick
	}
	if m := p.metrics; m != nil && s.proxy != nil {
		m.proxy.Store(s.proxy)
		m.groups.Store(&s.groups)
		srv := s.server
		m.server.Store(&http2Source{stats: func() map[string]uint64 { return http2Events(srv) }})
	}
	if len(p.filters) > 0 {
		rules := filterRules(v.Filters)
		for _, f := range p.filters {
			f.SetRules(rules)
		}
	}
}

// Drain ends what would otherwise wait out a graceful shutdown (idle HTTP
// keep-alive connections) in every snapshot's service. It runs on the
// goroutine that calls Transport.Shutdown; it is safe from any goroutine.
func (p *pipeline) Drain() {
	p.mu.Lock()
	drains := append([]func(){}, p.drains...)
	p.mu.Unlock()
	for _, d := range drains {
		d()
	}
}

// snapshot builds the services of v: the upstream groups its stages
// name, then the terminal, then the phases before it.
func (p *pipeline) snapshot(plan *spec.Plan, v spec.Values) (*snapshot, func(), error) {
	fail := func(kind, format string, args ...any) (*snapshot, func(), error) {
		return nil, nil, spec.Errors{plan.Errorf(p.stagePath(kind), format, args...)}
	}
	endpoints := map[string][]string{}
	failTimeout := map[string]time.Duration{}
	for _, name := range v.Groups {
		g := plan.Group(name)
		endpoints[name], failTimeout[name] = g.Endpoints, g.FailTimeout
	}
	groups, err := l4.NewGroups(endpoints, failTimeout)
	if err != nil {
		return fail(p.shape.Terminal, "%v", err)
	}
	for name, g := range groups {
		ut := plan.Group(name).TLS
		if ut == nil {
			continue
		}
		cfg, err := upstreamTLS(p.dir, ut, p.shape.Terminal == "http_proxy", plan.Group(name).Protocol)
		if err != nil {
			return nil, nil, spec.Errors{plan.Errorf("upstreams."+name+".tls", "%v", err)}
		}
		g.SetTLS(cfg)
	}
	var tlsConfig *tls.Config
	if p.tls != nil {
		tlsConfig, _, err = tlsFiles(p.dir, v.TLS).Load()
		if err != nil {
			return fail("tls", "%v", err)
		}
	}
	t := v.Timeouts
	var accept func(transport.Stream)
	var drain func()
	var proxyOf *httpproxy.Proxy
	var serverOf *httpd.Server
	switch p.shape.Terminal {
	case "relay":
		relays := map[string]func(transport.Stream){}
		for name, g := range groups {
			if p.shape.UDP {
				relays[name] = (&l4.UDPRelay{Upstreams: g, Logger: p.log}).Accept
			} else {
				relays[name] = (&l4.TCPRelay{Upstreams: g, DialTimeout: t.Connect, Idle: t.Idle,
					SendProxy: v.Relay.SendProxy, SpliceAfter: v.Relay.SpliceAfter, Logger: p.log}).Accept
			}
			if p.tls != nil {
				// After match (which peeks at the ClientHello), before the
				// relay: TLS in, plain or TLS (the group's) out.
				relays[name] = p.tls.Then(relays[name])
			}
		}
		if m := v.Match; m != nil {
			r := &transport.PeekRouter{MaxBytes: m.MaxBytes, Timeout: m.Timeout, Logger: p.log}
			for _, rt := range m.Routes {
				pr := transport.PeekRoute{Name: rt.Upstream, Accept: relays[rt.Upstream]}
				switch {
				case len(rt.TLSSNI) > 0:
					pr.Match = transport.SNI{Names: rt.TLSSNI}
				case len(rt.Prefix) > 0:
					var pre transport.Prefix
					for _, s := range rt.Prefix {
						pre = append(pre, []byte(s))
					}
					pr.Match = pre
				}
				r.Routes = append(r.Routes, pr)
			}
			accept = r.Accept
		} else {
			accept = relays[v.Relay.Upstream]
		}
	case "redis_proxy":
		g := plan.Group(v.Redis.Upstream)
		servers := make([]l4.KetamaServer, len(g.Endpoints))
		for i, ep := range g.Endpoints {
			servers[i] = l4.KetamaServer{Addr: ep, Weight: 1}
			if i < len(g.Names) {
				servers[i].Name = g.Names[i]
			}
			if i < len(g.Weights) {
				servers[i].Weight = g.Weights[i]
			}
		}
		r := v.Redis
		rp, err := redis.New(redis.Config{Servers: servers, HashTag: r.HashTag, Distribution: r.Distribution, ConnectTimeout: t.Connect,
			Timeout: t.Response, RetryAfter: r.RetryAfter, Password: r.Password, User: r.User, DB: r.DB,
			Limits: resp.Limits{MaxBulk: r.MaxBulk}, Logger: p.log})
		if err != nil {
			return fail("redis_proxy", "%v", err)
		}
		accept = rp.Accept
	case "http_proxy":
		h := v.HTTP
		proxy := &httpproxy.Proxy{Upstreams: groups[h.Upstream], ConnectTimeout: t.Connect, ResponseTimeout: t.Response,
			ReadTimeout: t.Read, MaxIdle: h.MaxIdle, Via: h.Via, ClientCertHeader: h.ClientCertHeader, Logger: p.log}
		for name := range groups {
			if proto, _ := httpproxy.ParseProtocol(plan.Group(name).Protocol); proto != httpproxy.HTTP1 {
				if proxy.UpstreamProtocols == nil {
					proxy.UpstreamProtocols = map[string]httpproxy.Protocol{}
				}
				proxy.UpstreamProtocols[name] = proto
			}
		}
		for _, r := range h.Routes {
			proxy.Routes = append(proxy.Routes, httpproxy.Route{Host: r.Host, PathPrefix: r.PathPrefix, Upstreams: groups[r.Upstream]})
		}
		srv := &httpd.Server{Handler: proxy, HeaderTimeout: t.Header, IdleTimeout: t.Idle, SendTimeout: t.Send, BodyTimeout: t.ClientBody,
			DisableHTTP2: !h.HTTP2, Logger: p.log}
		srv.Limits.MaxHeaderBytes, srv.Limits.MaxHeaders, srv.Limits.MaxLineBytes, srv.Limits.MaxBodyBytes =
			h.MaxHeaderBytes, h.MaxHeaders, h.MaxLineBytes, h.MaxBodyBytes
		if h.AccessLog != "" && p.logs != nil {
			w, err := p.logs.writer(p.shape.Name, inDir(p.dir, h.AccessLog))
			if err != nil {
				return fail("http_proxy", "access log: %v", err)
			}
			proxy.Logging = w.request
			srv.OnReject = w.reject
		}
		if m := p.metrics; m != nil {
			count := m.observer(proxy)
			if logf := proxy.Logging; logf != nil {
				proxy.Logging = func(s *httpproxy.Session, err error) {
					count(s, err)
					logf(s, err)
				}
			} else {
				proxy.Logging = count
			}
		}
		if p.tracing != nil {
			p.tracing.install(proxy) // around the hooks above: spans end before they log
		}
		accept, drain = srv.Accept, srv.Drain
		proxyOf, serverOf = proxy, srv
	case "serve":
		if p.shape.Service == "http" {
			srv := demoHTTP()
			accept, drain = srv.Accept, srv.Drain
		} else {
			accept = builtin(p.shape.Service)
		}
	case "handle":
		f, h, udp := p.framer, p.handler, p.shape.UDP
		log := p.log
		accept = func(s transport.Stream) { s.SetHandler(&frameSession{framer: f, handler: h, udp: udp, log: log}) }
	default:
		return fail(p.shape.Terminal, "the daemon cannot run %s stages", p.shape.Terminal)
	}
	if p.tls != nil && p.shape.Terminal != "relay" {
		accept = p.tls.Then(accept)
	}
	if pp := v.ProxyProtocol; pp != nil {
		trusted, _ := transport.ParsePrefixes(pp.Trusted) // checked by spec
		ph := &transport.ProxyHeader{Trusted: trusted, RejectV1: !pp.V1, RejectV2: !pp.V2, Timeout: pp.Timeout, Logger: p.log, Next: accept}
		accept = ph.Accept
	}
	return &snapshot{values: v, accept: accept, tlsConfig: tlsConfig, groups: groups, proxy: proxyOf, server: serverOf}, drain, nil
}

// configDir is the directory relative file names of a config are
// relative to: the config file's, or the working directory for a config
// that is not a file (a one-liner's, the embedded demo's).
func configDir(file string) string {
	if st, err := os.Stat(file); err == nil && !st.IsDir() {
		return filepath.Dir(file)
	}
	return ""
}

// inDir resolves a file name of the config against dir; absolute names,
// stdout and stderr stay as they are.
func inDir(dir, name string) string {
	if dir == "" || name == "" || name == "stdout" || name == "stderr" || name == "syslog" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// tlsFiles converts a checked tls stage, its files resolved against dir.
func tlsFiles(dir string, t *spec.TLS) transport.TLSFiles {
	f := transport.TLSFiles{ClientCA: inDir(dir, t.ClientCA), ALPN: t.ALPN}
	for _, c := range t.Certificates {
		f.Certificates = append(f.Certificates, transport.CertFiles{Cert: inDir(dir, c.Cert), Key: inDir(dir, c.Key)})
	}
	switch t.ClientAuth {
	case "optional":
		f.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		f.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if t.MinVersion == "1.3" {
		f.MinVersion = tls.VersionTLS13
	}
	for _, k := range t.ECHKeys {
		f.ECHKeys = append(f.ECHKeys, transport.ECHKeyFiles{Config: inDir(dir, k.Config), Key: inDir(dir, k.Key)})
	}
	return f
}

// upstreamTLS builds the client configuration of a group's tls block. An
// http_proxy offers by ALPN, when the block names no protocol, what the
// group's protocol speaks: http/1.1; h2 for h2; both for auto.
func upstreamTLS(dir string, t *spec.UpstreamTLS, http bool, protocol string) (*tls.Config, error) {
	f := transport.ClientTLSFiles{SNI: t.SNI, CA: inDir(dir, t.CA), InsecureSkipVerify: t.InsecureSkipVerify,
		Cert: inDir(dir, t.Cert), Key: inDir(dir, t.Key), ALPN: t.ALPN}
	if len(f.ALPN) == 0 && http {
		switch protocol {
		case "h2":
			f.ALPN = []string{"h2"}
		case "auto":
			f.ALPN = []string{"h2", "http/1.1"}
		default:
			f.ALPN = []string{"http/1.1"}
		}
	}
	return f.Load()
}

// reloadTLS reads the tls stage's files again and serves new handshakes
// with them; on an error the old certificates keep serving. Safe from any
// goroutine.
func (p *pipeline) reloadTLS(why string) {
	if p.tls == nil {
		return
	}
	cfg, _, err := tlsFiles(p.dir, p.Values().TLS).Load()
	if err != nil {
		p.log.Error("TLS reload refused; the old certificates keep serving", "trigger", why, "err", err)
		return
	}
	p.tls.SetConfig(cfg)
	p.log.Info("TLS certificates reloaded", "trigger", why)
}

// watchTLS reloads the tls stage's files when they change, until done
// closes.
func (p *pipeline) watchTLS(done <-chan struct{}) {
	if p.tls == nil {
		return
	}
	every := p.Values().TLS.Watch
	if every < 0 {
		return
	}
	if every == 0 {
		every = spec.DefaultWatch
	}
	w := &transport.FileWatch{Paths: tlsFiles(p.dir, p.Values().TLS).Paths()}
	w.Changed()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if paths := tlsFiles(p.dir, p.Values().TLS).Paths(); !slices.Equal(paths, w.Paths) {
				// A reload named other files: watch those from now on.
				w = &transport.FileWatch{Paths: paths}
				w.Changed()
				continue
			}
			if w.Changed() {
				p.reloadTLS("files changed")
			}
		case <-done:
			return
		case <-p.retired:
			return
		}
	}
}

// filters builds a listener's connection filters (checked by spec).
func filters(f spec.Filters) *transport.Filters {
	r := filterRules(f)
	return &transport.Filters{Allow: r.Allow, Deny: r.Deny, MaxConns: r.MaxConns, MaxConnsPerIP: r.MaxConnsPerIP,
		RatePerIP: r.RatePerIP, BurstPerIP: r.BurstPerIP}
}

// filterRules converts checked filter values.
func filterRules(f spec.Filters) transport.FilterRules {
	allow, _ := transport.ParsePrefixes(f.Allow)
	deny, _ := transport.ParsePrefixes(f.Deny)
	return transport.FilterRules{Allow: allow, Deny: deny, MaxConns: f.MaxConns, MaxConnsPerIP: f.MaxConnsPerIP,
		RatePerIP: f.RatePerIP, BurstPerIP: f.BurstPerIP}
}

// frameHandler is what a handle stage's type implements.
type frameHandler interface {
	ServeFrame(s transport.Stream, req, out []byte) ([]byte, error)
}

// handlers are the handle stage types compiled into the daemon, by the Go
// type a spec names; each pipeline gets its own.
var handlers = map[string]func() frameHandler{
	"github.com/penstock-proxy/penstock/pipelines/kvproto.Store": func() frameHandler { return kvproto.NewStore() },
}

func handlerNames() string {
	var names []string
	for n := range handlers {
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// frameCodec is what every framer of codecs/framing implements.
type frameCodec interface {
	Decode(in []byte) (frame []byte, n int, err error)
	Append(dst, payload []byte) ([]byte, error)
}

// newFramer builds a framer stage's codec and checks it as the codec does.
func newFramer(f *spec.Framer) (frameCodec, error) {
	var delims [][]byte
	for _, d := range f.Delimiters {
		delims = append(delims, []byte(d))
	}
	var c interface {
		frameCodec
		Validate() error
	}
	switch f.Kind {
	case "length_field":
		c = framing.LengthField{Offset: f.Offset, Length: f.Length, Adjust: f.Adjust, Strip: f.Strip, BigEndian: f.BigEndian, Max: f.Max, FailFast: f.FailFast}
	case "delimiter":
		c = framing.Delimiter{Delimiters: delims, Strip: f.StripDelimiter, Max: f.Max}
	case "line":
		c = framing.Line{Max: f.Max, Strip: f.StripDelimiter}
	case "fixed":
		c = framing.Fixed{Size: f.Size}
	case "datagram":
		c = framing.Datagram{Max: f.Max}
	default:
		return nil, fmt.Errorf("the daemon has no %s framer", f.Kind)
	}
	return c, c.Validate()
}

// frameSession is one stream of a handle pipeline: it decodes each frame,
// has the handler serve it, and writes the framed replies of one read at
// once (each datagram's at once on UDP). Its methods run on the stream's
// loop.
type frameSession struct {
	framer  frameCodec
	handler frameHandler
	udp     bool
	log     *slog.Logger
	payload []byte
	out     []byte
}

func (c *frameSession) OnData(s transport.Stream, in []byte) int {
	n := 0
	c.out = c.out[:0]
	for n < len(in) {
		frame, m, err := c.framer.Decode(in[n:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			c.fail(s, "bad frame", err)
			return len(in)
		}
		n += m
		reply, err := c.handler.ServeFrame(s, frame, c.payload[:0])
		if err != nil {
			c.fail(s, "handler", err)
			return len(in)
		}
		if len(reply) > 0 {
			if c.out, err = c.framer.Append(c.out, reply); err != nil {
				c.fail(s, "reply", err)
				return len(in)
			}
		}
		c.payload = reply[:0]
		if c.udp && len(c.out) > 0 {
			_, _ = s.Write(c.out)
			c.out = c.out[:0]
		}
	}
	if len(c.out) > 0 {
		if _, err := s.Write(c.out); err != nil {
			return len(in)
		}
		if !s.Writable() {
			s.PauseRead()
		}
	}
	return n
}

func (c *frameSession) fail(s transport.Stream, what string, err error) {
	c.log.Info("closing connection", "remote", s.RemoteAddr(), "cause", what, "err", err)
	_ = s.Close()
}

func (c *frameSession) OnReadEOF(s transport.Stream)    { _ = s.CloseWrite() }
func (c *frameSession) OnDrained(s transport.Stream)    { s.ResumeRead() }
func (c *frameSession) OnClose(transport.Stream, error) {}

// demoHTTP returns the built-in HTTP service: /echo streams the request
// body back; anything else gets a greeting naming the request.
func demoHTTP() *httpd.Server {
	return &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
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

// groups returns the upstream groups of the current snapshot. Safe from
// any goroutine.
func (p *pipeline) groups() []*l4.Group {
	m := p.cur.Load().groups
	out := make([]*l4.Group, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	return out
}

// http2Events names srv's HTTP/2 counters for metrics.
func http2Events(srv *httpd.Server) map[string]uint64 {
	st, conns := srv.HTTP2Stats()
	return map[string]uint64{
		"connections": conns, "streams": st.Streams, "refused_streams": st.Refused,
		"peer_resets": st.PeerResets, "stream_errors": st.StreamErrors, "malformed": st.Malformed,
		"header_list_too_large": st.HeaderListTooLarge, "header_block_too_big": st.HeaderBlockTooBig,
		"settings_flood": st.SettingsFlood, "ping_flood": st.PingFlood, "empty_data": st.EmptyData,
		"empty_fragments": st.EmptyFragments, "window_update_flood": st.WindowUpdateFlood,
		"glitches": st.Glitches, "calmed": st.Calmed,
	}
}
