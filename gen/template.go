package gen

// tmplText is the template of a generated pipeline; its input is a view.
const tmplText = `{{- /* the generated pipeline */ -}}
` + Header + `
// Source: {{.SpecFile}}

package {{.Shape.Package}}

import (
{{- range imports .}}{{if not (dotted .Path)}}
	{{if .Alias}}{{.Alias}} {{end}}{{q .Path}}
{{- end}}{{end}}
{{range imports .}}{{if dotted .Path}}
	{{if .Alias}}{{.Alias}} {{end}}{{q .Path}}
{{- end}}{{end}}
)

// Name is the pipeline's name in its spec.
const Name = {{q .Shape.Name}}
{{- with .Values.Relay}}
{{- if .SendProxy}}

// sendProxy is the PROXY protocol version written to each upstream before
// the client's bytes.
const sendProxy = {{.SendProxy}}
{{- end}}
{{- if .SpliceAfter}}

// spliceAfter is how many bytes a connection moves before it is relayed
// with splice(2).
const spliceAfter = {{size .SpliceAfter}}
{{- end}}
{{- end}}

// Config holds the values of the {{.Shape.Name}} pipeline: what may change
// without generating it again. DefaultConfig returns the spec's.
type Config struct {
	// Listen are the listen URLs (tcp://, tcp4://, tcp6://, udp://, unix://).
	Listen []string
	// Allow, when set, admits only these sources; Deny refuses these. Both
	// run at accept, before any byte is read.
	Allow, Deny []netip.Prefix
{{- with .Values.ProxyProtocol}}
	// Trusted are the load balancers whose PROXY header is read.
	Trusted []netip.Prefix
{{- end}}
	// MaxConns caps the open connections and MaxConnsPerIP those of one
	// source; RatePerIP bounds a source's new connections per second, with
	// bursts of BurstPerIP (0: no limit).
	MaxConns, MaxConnsPerIP, BurstPerIP int
	RatePerIP                           float64
{{- if .HasGroups}}
	// Upstreams are the endpoints of each upstream group.
	Upstreams map[string][]string
	// FailTimeout is how long a failed endpoint is tried last, per group
	// (absent: l4's default).
	FailTimeout map[string]time.Duration
	// UpstreamTLS makes the connections to a group's endpoints TLS, read
	// from these files (absent: plain).
	UpstreamTLS map[string]transport.ClientTLSFiles
{{- end}}
{{- if .Values.TLS}}
	// TLS names the files the tls stage serves with: certificates picked
	// by SNI, the client CA, ALPN, ECH keys. New and Swap read them.
	TLS transport.TLSFiles
	// RequirePostQuantum, HandshakeTimeout and TicketRotation tune the tls
	// stage (transport.TLS); they are taken from New's Config.
	RequirePostQuantum               bool
	HandshakeTimeout, TicketRotation time.Duration
{{- end}}
{{- if .ConnectApplies}}
	// ConnectTimeout bounds each upstream connect (0: the runtime's
	// default).
	ConnectTimeout time.Duration
{{- end}}
{{- if .IdleApplies}}
	// Idle closes a connection that moved no byte for that long{{if .Values.HTTP}} (for
	// http_proxy: a client's keep-alive connection between requests; 0:
	// httpd's default){{else}} (0:
	// never){{end}}.
	Idle time.Duration
{{- end}}
{{- if .Shape.UDP}}
	// SessionIdle expires a UDP session without a datagram either way for
	// that long, and MaxSessions caps the live sessions (0: transport's
	// defaults).
	SessionIdle time.Duration
	MaxSessions int
{{- end}}
{{- with .Values.Redis}}
	// Servers are the Redis shards, in twemproxy's order and naming.
	Servers []l4.KetamaServer
	// HashTag hashes only the part of a key between its two characters.
	HashTag string
	// RedisAuth, when set, is the password clients must AUTH with and the
	// proxy sends to its shards (twemproxy's redis_auth); RedisAuthUser
	// the ACL user with it; RedisDB the database shards select.
	RedisAuth, RedisAuthUser string
	RedisDB                  int
	// Timeout bounds the wait for a shard's reply (0: none); RetryAfter
	// is how long a shard that refused a connect is not tried (0: 1s;
	// negative: every request tries).
	Timeout, RetryAfter time.Duration
	// MaxBulk bounds a request's argument (0: 512 MiB, as
	// proto-max-bulk-len).
	MaxBulk int64
{{- end}}
{{- with .Values.HTTP}}
	// ResponseTimeout bounds the wait for an upstream's response head,
	// ReadTimeout every wait for upstream bytes, HeaderTimeout the wait for
	// a client's request head, ClientBodyTimeout every wait for request
	// body bytes, and SendTimeout a client that takes none of a congested
	// response (0: the runtime's defaults).
	ResponseTimeout, ReadTimeout, HeaderTimeout, ClientBodyTimeout, SendTimeout time.Duration
	// Limits bound the request heads and bodies clients send (zero fields:
	// http1's defaults).
	Limits http1.Limits
	// MaxIdle bounds the idle upstream connections kept per endpoint on each
	// event loop (0: httpproxy's default; negative: none kept).
	MaxIdle int
	// Via is the pseudonym in the Via field (empty: penstock).
	Via string
	// ClientCertHeader names the field that carries a verified client
	// certificate upstream (empty: none; a client's own is always
	// dropped).
	ClientCertHeader string
{{- end}}
	// Logger receives the pipeline's logs (slog.Default when nil).
	Logger *slog.Logger
}

// DefaultConfig returns the values written in the spec.
func DefaultConfig() Config {
	return Config{
		Listen: []string{ {{- strs .Values.Listen}} },
{{- with .Values.Filters}}
{{- if .Allow}}
		Allow: prefixes({{strs .Allow}}),
{{- end}}
{{- if .Deny}}
		Deny: prefixes({{strs .Deny}}),
{{- end}}
{{- if .MaxConns}}
		MaxConns: {{.MaxConns}},
{{- end}}
{{- if .MaxConnsPerIP}}
		MaxConnsPerIP: {{.MaxConnsPerIP}},
{{- end}}
{{- if .BurstPerIP}}
		BurstPerIP: {{.BurstPerIP}},
{{- end}}
{{- if .RatePerIP}}
		RatePerIP: {{.RatePerIP}},
{{- end}}
{{- end}}
{{- with .Values.ProxyProtocol}}
		Trusted: prefixes({{strs .Trusted}}),
{{- end}}
{{- with .Values.TLS}}
		TLS: {{$.TLSFiles}},
{{- if .RequirePostQuantum}}
		RequirePostQuantum: true,
{{- end}}
{{- if .HandshakeTimeout}}
		HandshakeTimeout: {{dur .HandshakeTimeout}},
{{- end}}
{{- if .TicketRotation}}
		TicketRotation: {{dur .TicketRotation}},
{{- end}}
{{- end}}
{{- if .HasGroups}}
		Upstreams: map[string][]string{
{{- range .Groups}}
			{{q .Name}}: { {{- strs .Endpoints -}} },
{{- end}}
		},
{{- with .FailTimeouts}}
		FailTimeout: map[string]time.Duration{
{{- range .}}
			{{q .Name}}: {{dur .FailTimeout}},
{{- end}}
		},
{{- end}}
{{- with .UpstreamTLS}}
		UpstreamTLS: map[string]transport.ClientTLSFiles{
{{- range .}}
			{{.}},
{{- end}}
		},
{{- end}}
{{- end}}
{{- with .Values.Timeouts}}
{{- if and $.ConnectApplies .Connect}}
		ConnectTimeout: {{dur .Connect}},
{{- end}}
{{- if and $.IdleApplies .Idle}}
		Idle: {{dur .Idle}},
{{- end}}
{{- end}}
{{- with .Values.Session}}
{{- if .Idle}}
		SessionIdle: {{dur .Idle}},
{{- end}}
{{- if .MaxSessions}}
		MaxSessions: {{.MaxSessions}},
{{- end}}
{{- end}}
{{- with .Values.Redis}}
		Servers: []l4.KetamaServer{
{{- $g := $.RedisGroup}}{{range $i, $ep := $g.Endpoints}}
			{{server $g $i}},
{{- end}}
		},
{{- if .HashTag}}
		HashTag: {{q .HashTag}},
{{- end}}
{{- if .Password}}
		RedisAuth: {{q .Password}},
{{- end}}
{{- if .User}}
		RedisAuthUser: {{q .User}},
{{- end}}
{{- if .DB}}
		RedisDB: {{.DB}},
{{- end}}
{{- if $.Values.Timeouts.Response}}
		Timeout: {{dur $.Values.Timeouts.Response}},
{{- end}}
{{- if .RetryAfter}}
		RetryAfter: {{dur .RetryAfter}},
{{- end}}
{{- if .MaxBulk}}
		MaxBulk: {{.MaxBulk}},
{{- end}}
{{- end}}
{{- with .Values.HTTP}}
{{- with $.Values.Timeouts}}
{{- if .Response}}
		ResponseTimeout: {{dur .Response}},
{{- end}}
{{- if .Read}}
		ReadTimeout: {{dur .Read}},
{{- end}}
{{- if .Header}}
		HeaderTimeout: {{dur .Header}},
{{- end}}
{{- if .ClientBody}}
		ClientBodyTimeout: {{dur .ClientBody}},
{{- end}}
{{- if .Send}}
		SendTimeout: {{dur .Send}},
{{- end}}
{{- end}}
{{- with $.Limits}}
		Limits: {{.}},
{{- end}}
{{- if .MaxIdle}}
		MaxIdle: {{.MaxIdle}},
{{- end}}
{{- if .Via}}
		Via: {{q .Via}},
{{- end}}
{{- if .ClientCertHeader}}
		ClientCertHeader: {{q .ClientCertHeader}},
{{- end}}
{{- end}}
	}
}
{{- if .Prefixes}}

// prefixes parses the spec's address lists, which pipegen has checked.
func prefixes(ss ...string) []netip.Prefix {
	p, _ := transport.ParsePrefixes(ss)
	return p
}
{{- end}}

// Pipeline is the {{.Shape.Name}} pipeline, built by New. Its shape (the
// stages, their order{{if .Shape.Framer}}, the framer{{end}}) is compiled in and its stages are
// fields of concrete types, called directly; its values (a Config) are
// held in a snapshot that Swap replaces while it serves.
{{- with .Shape.Doc}}
//
{{comment .}}
{{- end}}
type Pipeline struct {
	// bind is New's Config, {{if .Shape.UDP}}whose listen addresses and session limits
	// the listeners bind with.{{else}}whose listen addresses the listeners
	// bind with.{{end}}
	bind    Config
	filters *transport.Filters
	cur     atomic.Pointer[snapshot]
{{- if .Values.TLS}}
	// tls terminates TLS: one for every snapshot, so its ticket keys and
	// counts carry over; each Swap gives it the new files' config.
	tls *transport.TLS
{{- end}}
{{- with .Shape.Framer}}
	framer {{framerType .Kind}}
{{- end}}
{{- with .Handler}}
	// Handler serves each frame.
	Handler *{{.}}
{{- end}}
{{- with .Values.HTTP}}
	// Proxy forwards each request to the group its routes pick. Set its
	// hooks (RequestFilter, UpstreamRequestFilter, ResponseFilter, Logging,
	// ...) and any field Config does not carry after New and before the
	// listeners start; its fields must not change once it serves. New's
	// Config is served by Proxy itself, and each Swap's by a Clone of it
	// with the Config's values.
	Proxy *httpproxy.Proxy
	// Server reads the HTTP/1.1 requests of each stream and hands them to
	// the proxy, its Handler. The same rules hold for it.
	Server *httpd.Server

	mu      sync.Mutex
	servers []*httpd.Server // of every snapshot, for drain
{{- end}}
}

// snapshot is what one Config builds: immutable once stored, it serves
// the streams accepted while it is current, to their end.
type snapshot struct {
	cfg Config
{{- if .Handler}}
	p   *Pipeline // for its framer and handler
{{- end}}
{{- with .Values.ProxyProtocol}}
	proxy transport.ProxyHeader
{{- end}}
{{- with .Values.Match}}
	router transport.PeekRouter
{{- end}}
{{- with .Values.Relay}}
	relays map[string]*l4.{{if $.Shape.UDP}}UDPRelay{{else}}TCPRelay{{end}}
{{- end}}
{{- with .Values.Redis}}
	redis *redis.Proxy
{{- end}}
{{- with .Values.HTTP}}
	server *httpd.Server
{{- end}}
{{- if .Values.TLS}}
	tls *transport.TLS
{{- if not .Values.Match}}
	// secure terminates TLS, then serves.
	secure func(transport.Stream)
{{- end}}
{{- end}}
}

// New builds the pipeline from cfg{{if .Handler}} and the handler that serves its frames{{end}}.
// It is safe from any goroutine, and so is the Pipeline it returns; the
// Pipeline's Accept runs on each stream's loop.
func New(cfg Config{{with .Handler}}, h *{{.}}{{end}}) (*Pipeline, error) {
{{- with .Handler}}
	if h == nil {
		return nil, fmt.Errorf("%s: no handler", Name)
	}
{{- end}}
	p := &Pipeline{
		bind:    cfg,
		filters: &transport.Filters{},
{{- with .Shape.Framer}}
		framer: {{framer .}},
{{- end}}
{{- with .Handler}}
		Handler: h,
{{- end}}
{{- with .Values.HTTP}}
		Proxy:  &httpproxy.Proxy{},
		Server: &httpd.Server{},
{{- end}}
	}
{{- if .Values.TLS}}
	p.tls = &transport.TLS{RequirePostQuantum: cfg.RequirePostQuantum, HandshakeTimeout: cfg.HandshakeTimeout,
		TicketRotation: cfg.TicketRotation, Logger: cfg.Logger}
{{- end}}
	if err := p.swap(cfg{{if .Values.HTTP}}, p.Proxy, p.Server{{end}}); err != nil {
		return nil, err
	}
	return p, nil
}

// Swap makes cfg's values serve the streams accepted from now on; open
// streams stay with the values that accepted them, and filter counts and
// per-source state carry over. It is safe from any goroutine; on an error
// the current values stay. The listeners take their listen addresses
// {{if .Shape.UDP}}and session limits {{end}}from New's Config when they bind: Swap leaves those.
func (p *Pipeline) Swap(cfg Config) error {
	return p.swap(cfg{{if .Values.HTTP}}, p.Proxy.Clone(), p.Server.Clone(){{end}})
}

// Config returns the values serving new streams. It is safe from any
// goroutine.
func (p *Pipeline) Config() Config { return p.cur.Load().cfg }

// swap builds a snapshot of cfg{{if .Values.HTTP}} around proxy and server{{end}} and stores it.
func (p *Pipeline) swap(cfg Config{{if .Values.HTTP}}, proxy *httpproxy.Proxy, server *httpd.Server{{end}}) error {
	sn := &snapshot{cfg: cfg{{if .Handler}}, p: p{{end}}{{if .Values.TLS}}, tls: p.tls{{end}}}
{{- if .Values.TLS}}
	tlsConfig, _, err := cfg.TLS.Load()
	if err != nil {
		return fmt.Errorf("%s: tls: %w", Name, err)
	}
{{- end}}
{{- if .HasGroups}}
	groups, err := l4.NewGroups(cfg.Upstreams, cfg.FailTimeout)
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	for _, name := range []string{ {{- strs .Values.Groups -}} } {
		if groups[name] == nil {
			return fmt.Errorf("%s: no endpoints for upstream group %q", Name, name)
		}
	}
	for name, files := range cfg.UpstreamTLS {
		if groups[name] == nil {
			return fmt.Errorf("%s: TLS for upstream group %q, which has no endpoints", Name, name)
		}
		tc, err := files.Load()
		if err != nil {
			return fmt.Errorf("%s: upstream group %q: %w", Name, name, err)
		}
		groups[name].SetTLS(tc)
	}
{{- end}}
{{- with .Values.Relay}}
	sn.relays = map[string]*l4.{{if $.Shape.UDP}}UDPRelay{{else}}TCPRelay{{end}}{}
	for name, g := range groups {
{{- if $.Shape.UDP}}
		sn.relays[name] = &l4.UDPRelay{Upstreams: g, Logger: cfg.Logger}
{{- else}}
		sn.relays[name] = &l4.TCPRelay{Upstreams: g, DialTimeout: cfg.ConnectTimeout, Idle: cfg.Idle,
			{{- if .SendProxy}} SendProxy: sendProxy,{{end}}{{if .SpliceAfter}} SpliceAfter: spliceAfter,{{end}} Logger: cfg.Logger}
{{- end}}
	}
{{- end}}
{{- with .Values.Match}}
	sn.router = transport.PeekRouter{ {{- fields "MaxBytes" (size (int64 .MaxBytes)) "Timeout" (dur0 .Timeout)}}{{if or .MaxBytes .Timeout}}, {{end}}Logger: cfg.Logger, Routes: []transport.PeekRoute{
{{- range .Routes}}
		{Name: {{q .Upstream}}, {{if .TLSSNI}}Match: transport.SNI{Names: []string{ {{- strs .TLSSNI -}} }}, {{else if .Prefix}}Match: {{prefix .Prefix}}, {{end}}Accept: sn.relay({{q .Upstream}})},
{{- end}}
	}}
{{- end}}
{{- with .Values.Redis}}
	rp, err := redis.New(redis.Config{Servers: cfg.Servers, HashTag: cfg.HashTag, {{with .Distribution}}Distribution: {{q .}}, {{end}}ConnectTimeout: cfg.ConnectTimeout,
		Timeout: cfg.Timeout, RetryAfter: cfg.RetryAfter, Password: cfg.RedisAuth, User: cfg.RedisAuthUser, DB: cfg.RedisDB,
		Limits: resp.Limits{MaxBulk: cfg.MaxBulk}, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	sn.redis = rp
{{- end}}
{{- with .Values.HTTP}}
{{- if .Upstream}}
	proxy.Upstreams = groups[{{q .Upstream}}]
{{- end}}
{{- if .Routes}}
	proxy.Routes = []httpproxy.Route{
{{- range .Routes}}
		{ {{- fields "Host" (q .Host) "PathPrefix" (q .PathPrefix)}}, Upstreams: groups[{{q .Upstream}}]},
{{- end}}
	}
{{- end}}
	proxy.ConnectTimeout, proxy.ResponseTimeout, proxy.ReadTimeout = cfg.ConnectTimeout, cfg.ResponseTimeout, cfg.ReadTimeout
	proxy.MaxIdle, proxy.Via, proxy.ClientCertHeader, proxy.Logger = cfg.MaxIdle, cfg.Via, cfg.ClientCertHeader, cfg.Logger
	server.Handler, server.Limits, server.Logger = proxy, cfg.Limits, cfg.Logger
	server.HeaderTimeout, server.IdleTimeout, server.SendTimeout, server.BodyTimeout = cfg.HeaderTimeout, cfg.Idle, cfg.SendTimeout, cfg.ClientBodyTimeout
	sn.server = server
	p.mu.Lock()
	p.servers = append(p.servers, server)
	p.mu.Unlock()
{{- end}}
{{- with .Values.ProxyProtocol}}
	sn.proxy = transport.ProxyHeader{Trusted: cfg.Trusted, {{- fields "RejectV1" (str (not .V1)) "RejectV2" (str (not .V2)) "Timeout" (dur0 .Timeout)}}{{if or (not .V1) (not .V2) .Timeout}},{{end}} Logger: cfg.Logger, Next: sn.accept}
{{- end}}
{{- if and .Values.TLS (not .Values.Match)}}
	sn.secure = p.tls.Then(sn.serve)
{{- end}}
	p.filters.SetRules(transport.FilterRules{Allow: cfg.Allow, Deny: cfg.Deny, MaxConns: cfg.MaxConns,
		MaxConnsPerIP: cfg.MaxConnsPerIP, RatePerIP: cfg.RatePerIP, BurstPerIP: cfg.BurstPerIP})
{{- if .Values.TLS}}
	p.tls.SetConfig(tlsConfig)
{{- end}}
	p.cur.Store(sn)
	return nil
}
{{- with .Values.Relay}}

// relay returns the Accept func relaying to an upstream group.
func (sn *snapshot) relay(group string) func(transport.Stream) {
	r := sn.relays[group]
	if r == nil {
		return func(s transport.Stream) { _ = s.Close() }
	}
{{- if and $.Values.TLS $.Values.Match}}
	// TLS after match, which peeks at the ClientHello.
	return sn.tls.Then(r.Accept)
{{- else}}
	return r.Accept
{{- end}}
}
{{- end}}

// Listeners returns the transport listeners that run the pipeline. It is
// safe from any goroutine.
func (p *Pipeline) Listeners() []transport.Listener {
	var out []transport.Listener
	for _, addr := range p.bind.Listen {
		out = append(out, transport.Listener{
			Name: Name + " " + addr, Addr: addr, Filters: p.filters, Accept: p.Accept,
{{- if .Shape.UDP}}
			MaxSessions: p.bind.MaxSessions, SessionIdle: p.bind.SessionIdle,
{{- end}}
{{- if .Values.HTTP}}
			// A graceful Shutdown closes idle keep-alive connections and
			// the others after their response.
			Drain: p.drain,
{{- end}}
		})
	}
	return out
}
{{- if .Values.HTTP}}

// drain ends keep-alive in the server of every snapshot, current or not.
// It is safe from any goroutine.
func (p *Pipeline) drain() {
	p.mu.Lock()
	servers := append([]*httpd.Server(nil), p.servers...)
	p.mu.Unlock()
	for _, srv := range servers {
		srv.Drain()
	}
}
{{- end}}

// Accept takes a new stream from a listener to the current snapshot; it
// runs on the stream's loop.
func (p *Pipeline) Accept(s transport.Stream) {
{{- if .Values.ProxyProtocol}}
	p.cur.Load().proxy.Accept(s)
}

// accept takes a stream whose PROXY header, if any, has been read.
func (sn *snapshot) accept(s transport.Stream) {
{{- else}}
	p.cur.Load().accept(s)
}

// accept serves a stream with the snapshot's values.
func (sn *snapshot) accept(s transport.Stream) {
{{- end}}
{{- if and .Values.TLS (not .Values.Match)}}
	sn.secure(s)
}

// serve serves a stream once its TLS handshake is done.
func (sn *snapshot) serve(s transport.Stream) {
{{- end}}
{{- if .Values.Match}}
	sn.router.Accept(s)
{{- else if .Values.Relay}}
	sn.relay({{q .Values.Relay.Upstream}})(s)
{{- else if .Values.Redis}}
	sn.redis.Accept(s)
{{- else if .Values.HTTP}}
	sn.server.Accept(s)
{{- else}}
	s.SetHandler(&session{p: sn.p, log: sn.cfg.Logger})
{{- end}}
}
{{- if .Handler}}

// session is one stream's state: the scratch buffers for replies.
type session struct {
	p       *Pipeline
	log     *slog.Logger // the snapshot's that accepted it
	payload []byte
	out     []byte
}

// OnData decodes every complete frame in in, serves it, and writes the
// framed replies at once. It runs on the stream's loop.
func (c *session) OnData(s transport.Stream, in []byte) int {
	n := 0
	c.out = c.out[:0]
	framer, handler := c.p.framer, c.p.Handler
	for n < len(in) {
		frame, m, err := framer.Decode(in[n:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			c.fail(s, "bad frame", err)
			return len(in)
		}
		n += m
		reply, err := handler.ServeFrame(s, frame, c.payload[:0])
		if err != nil {
			c.fail(s, "handler", err)
			return len(in)
		}
		if len(reply) > 0 {
			if c.out, err = framer.Append(c.out, reply); err != nil {
				c.fail(s, "reply", err)
				return len(in)
			}
		}
		c.payload = reply[:0]
{{- if .Shape.UDP}}
		if len(c.out) > 0 {
			_, _ = s.Write(c.out)
			c.out = c.out[:0]
		}
{{- end}}
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

func (c *session) fail(s transport.Stream, what string, err error) {
	log := c.log
	if log == nil {
		log = slog.Default()
	}
	log.Info(Name+": closing connection", "remote", s.RemoteAddr().String(), "cause", what, "err", err)
	_ = s.Close()
}

// OnReadEOF answers the client's EOF with ours once the replies are out.
func (c *session) OnReadEOF(s transport.Stream) { _ = s.CloseWrite() }

// OnDrained resumes reading once the replies have drained.
func (c *session) OnDrained(s transport.Stream) { s.ResumeRead() }

// OnClose releases nothing: the session holds only buffers.
func (c *session) OnClose(transport.Stream, error) {}

var _ transport.Handler = (*session)(nil)
{{- end}}
`
