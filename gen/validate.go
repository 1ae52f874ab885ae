package gen

import (
	"fmt"
	"go/token"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A stage kind's class decides where it may stand: phases first, then at
// most one framer, then the terminal, last.
type class int

const (
	classPhase class = iota
	classFramer
	classTerminal
)

// kind describes a stage kind of the registry.
type kind struct {
	class class
	// keys are the spec keys the kind takes besides "kind".
	keys []string
	// nets are the listener networks the kind works on.
	nets []string
	doc  string
}

var stream = []string{"tcp", "unix"}

// registry is every stage kind pipegen knows.
var registry = map[string]kind{
	"proxy_protocol": {classPhase, []string{"accept", "trusted", "timeout"}, []string{"tcp"},
		"read the PROXY header (v1, v2) a trusted load balancer sends; the client's address replaces the peer's"},
	"match": {classPhase, []string{"max_bytes", "timeout", "routes"}, []string{"tcp"},
		"route by the first bytes (TLS SNI, byte prefixes) without consuming them"},
	"length_field": {classFramer, []string{"offset", "length", "adjust", "strip", "endian", "max", "fail_fast"}, stream,
		"frames with a length field (Netty/tokio knobs)"},
	"delimiter": {classFramer, []string{"delimiters", "strip_delimiter", "max"}, stream, "frames ended by a delimiter"},
	"line":      {classFramer, []string{"strip_delimiter", "max"}, stream, "lines ended by \\n or \\r\\n"},
	"fixed":     {classFramer, []string{"size"}, stream, "frames of a fixed size"},
	"datagram":  {classFramer, []string{"max"}, []string{"udp"}, "each datagram is a frame"},
	"handle": {classTerminal, []string{"type"}, []string{"tcp", "unix", "udp"},
		"a user type serves each frame: ServeFrame(s transport.Stream, req, out []byte) ([]byte, error)"},
	"redis_proxy": {classTerminal, []string{"upstream", "hash_tag", "hash", "distribution"}, stream,
		"a sharding Redis proxy, placing keys as twemproxy does (fnv1a_64, ketama)"},
	"http_proxy": {classTerminal, []string{"upstream", "routes", "max_idle", "via", "max_header_bytes", "max_headers", "max_line_bytes", "max_body_bytes"}, stream,
		"an HTTP/1.1 reverse proxy routing requests by host and path prefix, with hooks (l7/httpproxy)"},
	"relay": {classTerminal, []string{"upstream", "send_proxy", "splice_after"}, []string{"tcp", "unix", "udp"},
		"relay raw bytes (or datagrams) to an upstream group"},
}

// plan is a checked spec, in the shape the templates want.
type plan struct {
	Name, Package, Doc string
	Network            string
	Listen             []string
	Filters            filterPlan
	Match              *matchPlan
	Framer             *framerPlan
	Handler            *handlerPlan
	Relay              *relayPlan
	Redis              *redisPlan
	HTTP               *httpPlan
	Proxy              *proxyPlan
	Upstreams          []upstreamPlan
	ConnectTimeout     time.Duration
	Idle               time.Duration
	ResponseTimeout    time.Duration
	HeaderTimeout      time.Duration
	SessionIdle        time.Duration
	MaxSessions        int
	Imports            []importPlan
	SpecFile           string
}

type filterPlan struct {
	Allow, Deny   []string
	MaxConns      int
	MaxConnsPerIP int
	RatePerIP     float64
	BurstPerIP    int
}

type proxyPlan struct {
	Trusted            []string
	RejectV1, RejectV2 bool
	Timeout            time.Duration
}

type matchPlan struct {
	MaxBytes int
	Timeout  time.Duration
	Routes   []routePlan
}

type routePlan struct {
	SNI, Prefix      []string
	Host, PathPrefix string
	Upstream         string
}

type framerPlan struct {
	Kind    string
	Literal string // a Go composite literal of the framing config
}

type handlerPlan struct {
	Type string // the Go type as the generated file names it
}

type relayPlan struct {
	Upstream    string
	SendProxy   string
	SpliceAfter int64
}

type redisPlan struct {
	Upstream string
	HashTag  string
}

type httpPlan struct {
	Upstream string // the default group; "" for none (404)
	Routes   []routePlan
	Groups   []string // every group named, sorted
	MaxIdle  int
	Via      string
	// http1.Limits
	MaxHeaderBytes, MaxHeaders, MaxLineBytes int
	MaxBodyBytes                             int64
}

type upstreamPlan struct {
	Name        string
	Endpoints   []string
	FailTimeout time.Duration
	Names       []string
	Weights     []int
}

type importPlan struct {
	Alias, Path string
}

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	upstreamRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	typeRE     = regexp.MustCompile(`^(?:([A-Za-z0-9_.\-~/]+)\.)?([A-Z][A-Za-z0-9_]*)$`)
	hostRE     = regexp.MustCompile(`^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`)
	pathRE     = regexp.MustCompile(`^/[!-~]*$`)
	tokenRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// check validates p and builds its plan; importPath is the Go import path
// of the package the code is generated into (for a handler type in it).
func (p *parsed) check(importPath string) *plan {
	s := &p.spec
	pl := &plan{Name: s.Name, Package: s.Package, Doc: strings.TrimSpace(s.Doc), SpecFile: p.file}
	if s.Version != 1 {
		p.errorf("version", "unsupported spec version %d (want 1)", s.Version)
	}
	if !nameRE.MatchString(s.Name) {
		p.errorf("name", "%q is not a pipeline name (lower case letters, digits and _, starting with a letter)", s.Name)
	}
	if pl.Package == "" {
		pl.Package = strings.ReplaceAll(s.Name, "_", "")
	}
	if !token.IsIdentifier(pl.Package) {
		p.errorf("package", "%q is not a Go package name", pl.Package)
	}
	p.checkListen(pl)
	p.checkFilters(pl)
	p.checkUpstreams(pl)
	p.checkStages(pl, importPath)
	pl.ConnectTimeout = p.duration("timeouts.connect", s.Timeouts.Connect)
	pl.Idle = p.duration("timeouts.idle", s.Timeouts.Idle)
	pl.ResponseTimeout = p.duration("timeouts.response", s.Timeouts.Response)
	pl.HeaderTimeout = p.duration("timeouts.header", s.Timeouts.Header)
	if pl.HTTP == nil {
		if s.Timeouts.Response != "" {
			p.errorf("timeouts.response", "applies to http_proxy pipelines only")
		}
		if s.Timeouts.Header != "" {
			p.errorf("timeouts.header", "applies to http_proxy pipelines only")
		}
	}
	pl.SessionIdle = p.duration("session.idle", s.Session.Idle)
	pl.MaxSessions = s.Session.MaxSessions
	if pl.Network != "udp" && (s.Session.Idle != "" || s.Session.MaxSessions != 0) {
		p.errorf("session", "session settings apply to UDP pipelines only")
	}
	if s.Session.MaxSessions < 0 {
		p.errorf("session.max_sessions", "must not be negative")
	}
	return pl
}

func (p *parsed) checkListen(pl *plan) {
	if len(p.spec.Listen) == 0 {
		p.errorf("listen", "at least one listen address is needed (for example tcp://127.0.0.1:7000)")
	}
	for i, l := range p.spec.Listen {
		path := fmt.Sprintf("listen[%d]", i)
		scheme, rest, ok := strings.Cut(l, "://")
		if !ok {
			p.errorf(path, "%q needs a scheme: tcp://, udp:// or unix://", l)
			continue
		}
		network := ""
		switch scheme {
		case "tcp", "tcp4", "tcp6":
			network = "tcp"
		case "udp", "udp4", "udp6":
			network = "udp"
		case "unix":
			network = "unix"
		default:
			p.errorf(path, "unknown scheme %q", scheme)
			continue
		}
		if network != "unix" {
			if host, _, err := net.SplitHostPort(rest); err != nil {
				p.errorf(path, "%q: %v", l, err)
			} else if _, err := netip.ParseAddr(host); host != "" && err != nil {
				p.errorf(path, "listen host must be an IP address, not %q", host)
			}
		}
		if pl.Network == "" {
			pl.Network = network
		} else if streamNet(pl.Network) != streamNet(network) {
			p.errorf(path, "mixes %s with %s: a pipeline's listeners are all streams or all datagrams", network, pl.Network)
		}
		pl.Listen = append(pl.Listen, l)
	}
}

func streamNet(n string) bool { return n != "udp" }

func (p *parsed) checkFilters(pl *plan) {
	f := p.spec.Filters
	for i, c := range f.Allow {
		if !validPrefix(c) {
			p.errorf(fmt.Sprintf("filters.allow[%d]", i), "%q is not an IP address or CIDR prefix", c)
		}
	}
	for i, c := range f.Deny {
		if !validPrefix(c) {
			p.errorf(fmt.Sprintf("filters.deny[%d]", i), "%q is not an IP address or CIDR prefix", c)
		}
	}
	if f.MaxConns < 0 || f.MaxConnsPerIP < 0 || f.RatePerIP < 0 || f.BurstPerIP < 0 {
		p.errorf("filters", "limits must not be negative")
	}
	pl.Filters = filterPlan{f.Allow, f.Deny, f.MaxConns, f.MaxConnsPerIP, f.RatePerIP, f.BurstPerIP}
}

func validPrefix(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (p *parsed) checkUpstreams(pl *plan) {
	names := make([]string, 0, len(p.spec.Upstreams))
	for n := range p.spec.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := p.spec.Upstreams[n]
		path := "upstreams." + n
		if !upstreamRE.MatchString(n) {
			p.errorf(path, "%q is not an upstream name (lower case letters, digits, _ and -)", n)
		}
		if len(u.Endpoints) == 0 {
			p.errorf(path+".endpoints", "an upstream group needs at least one endpoint")
		}
		for i, ep := range u.Endpoints {
			if path, ok := strings.CutPrefix(ep, "unix:"); ok && path != "" {
				continue
			}
			if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
				p.errorf(fmt.Sprintf("%s.endpoints[%d]", path, i), "%q is not host:port or unix:/path", ep)
			}
		}
		if len(u.Names) > 0 && len(u.Names) != len(u.Endpoints) {
			p.errorf(path+".names", "%d names for %d endpoints", len(u.Names), len(u.Endpoints))
		}
		if len(u.Weights) > 0 && len(u.Weights) != len(u.Endpoints) {
			p.errorf(path+".weights", "%d weights for %d endpoints", len(u.Weights), len(u.Endpoints))
		}
		for i, w := range u.Weights {
			if w <= 0 {
				p.errorf(fmt.Sprintf("%s.weights[%d]", path, i), "a weight must be positive")
			}
		}
		pl.Upstreams = append(pl.Upstreams, upstreamPlan{n, u.Endpoints, p.duration(path+".fail_timeout", u.FailTimeout), u.Names, u.Weights})
	}
}

func (p *parsed) upstreamRef(path, name string) {
	if name == "" {
		p.errorf(path, "missing: name an upstream group")
	} else if _, ok := p.spec.Upstreams[name]; !ok {
		p.errorf(path, "no upstream group named %q", name)
	}
}

// stageKeys returns the keys written in stage i.
func (p *parsed) stageKeys(i int) []string {
	n := &p.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var stages *yaml.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "stages" {
			stages = n.Content[j+1]
		}
	}
	if stages == nil || i >= len(stages.Content) || stages.Content[i].Kind != yaml.MappingNode {
		return nil
	}
	var keys []string
	for j := 0; j < len(stages.Content[i].Content); j += 2 {
		keys = append(keys, stages.Content[i].Content[j].Value)
	}
	return keys
}

func (p *parsed) checkStages(pl *plan, importPath string) {
	if len(p.spec.Stages) == 0 {
		p.errorf("stages", "a pipeline needs stages, ending with a terminal (handle, relay, redis_proxy or http_proxy)")
		return
	}
	last := classPhase
	seen := map[string]string{}
	for i, st := range p.spec.Stages {
		path := fmt.Sprintf("stages[%d]", i)
		k, ok := registry[st.Kind]
		if !ok {
			p.errorf(path+".kind", "unknown stage kind %q (known: %s)", st.Kind, knownKinds())
			continue
		}
		for _, key := range p.stageKeys(i) {
			if key != "kind" && !contains(k.keys, key) {
				p.errorf(path+"."+key, "does not apply to %s %s stage (it takes: %s)", article(st.Kind), st.Kind, strings.Join(k.keys, ", "))
			}
		}
		if pl.Network != "" && !contains(k.nets, pl.Network) {
			switch {
			case k.class == classFramer && pl.Network == "udp":
				p.errorf(path+".kind", "%s is a stream framer and this pipeline listens on UDP: use datagram", st.Kind)
			case k.class == classFramer:
				p.errorf(path+".kind", "datagram framing needs a UDP listener; this pipeline listens on %s", pl.Network)
			case pl.Network == "udp":
				p.errorf(path+".kind", "%s serves streams: it needs tcp or unix listeners, and this pipeline listens on UDP", st.Kind)
			default:
				p.errorf(path+".kind", "%s %s stage does not work on %s listeners", article(st.Kind), st.Kind, pl.Network)
			}
		}
		if k.class < last {
			p.errorf(path+".kind", "%s comes too late: phases (match) come first, then the framer, then the terminal", st.Kind)
		}
		if prev, dup := seen[classKey(k.class, st.Kind)]; dup {
			p.errorf(path+".kind", "a second %s: %s already has one", classLabel(k.class), prev)
		}
		seen[classKey(k.class, st.Kind)] = path
		last = k.class
		switch k.class {
		case classPhase:
			if st.Kind == "proxy_protocol" {
				if pl.Match != nil {
					p.errorf(path+".kind", "proxy_protocol comes too late: the PROXY header precedes the bytes match looks at")
				}
				p.checkProxy(pl, path, st)
			} else {
				p.checkMatch(pl, path, st)
			}
		case classFramer:
			pl.Framer = p.framer(path, st)
		case classTerminal:
			if i != len(p.spec.Stages)-1 {
				p.errorf(path+".kind", "%s is a terminal and must be the last stage", st.Kind)
			}
			p.checkTerminal(pl, path, st, importPath)
		}
	}
	if _, ok := seen["terminal"]; !ok {
		p.errorf("stages", "no terminal stage: end with handle, relay, redis_proxy or http_proxy")
	}
}

func classKey(c class, kind string) string {
	switch c {
	case classFramer:
		return "framer"
	case classTerminal:
		return "terminal"
	}
	return kind
}

func classLabel(c class) string {
	switch c {
	case classFramer:
		return "framer"
	case classTerminal:
		return "terminal"
	}
	return "phase"
}

// article is "a" or "an" before a kind's name as it is read aloud.
func article(kind string) string {
	if strings.HasPrefix(kind, "http") || strings.ContainsAny(kind[:1], "aeiou") {
		return "an"
	}
	return "a"
}

func knownKinds() string {
	ks := make([]string, 0, len(registry))
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parsed) checkProxy(pl *plan, path string, st Stage) {
	pp := &proxyPlan{Timeout: p.duration(path+".timeout", st.Timeout), RejectV1: true, RejectV2: true}
	if len(st.Accept) == 0 {
		pp.RejectV1, pp.RejectV2 = false, false
	}
	for j, v := range st.Accept {
		switch v {
		case "v1":
			pp.RejectV1 = false
		case "v2":
			pp.RejectV2 = false
		default:
			p.errorf(fmt.Sprintf("%s.accept[%d]", path, j), "%q: want v1 or v2", v)
		}
	}
	if len(st.Trusted) == 0 {
		p.errorf(path+".trusted", "name the load balancers allowed to send a PROXY header (CIDRs)")
	}
	for j, c := range st.Trusted {
		if !validPrefix(c) {
			p.errorf(fmt.Sprintf("%s.trusted[%d]", path, j), "%q is not an IP address or CIDR prefix", c)
		}
	}
	pp.Trusted = st.Trusted
	pl.Proxy = pp
}

func (p *parsed) checkMatch(pl *plan, path string, st Stage) {
	m := &matchPlan{MaxBytes: st.MaxBytes, Timeout: p.duration(path+".timeout", st.Timeout)}
	if st.MaxBytes < 0 {
		p.errorf(path+".max_bytes", "must not be negative")
	}
	if len(st.Routes) == 0 {
		p.errorf(path+".routes", "a match stage needs routes")
	}
	for j, r := range st.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, j)
		if len(r.TLSSNI) > 0 && len(r.Prefix) > 0 {
			p.errorf(rp, "set tls_sni or prefix, not both")
		}
		if r.Host != "" {
			p.errorf(rp+".host", "host routes HTTP requests (http_proxy); a match route takes tls_sni or prefix")
		}
		if r.PathPrefix != "" {
			p.errorf(rp+".path_prefix", "path_prefix routes HTTP requests (http_proxy); a match route takes tls_sni or prefix")
		}
		if len(r.TLSSNI) == 0 && len(r.Prefix) == 0 && j != len(st.Routes)-1 {
			p.errorf(rp, "a default route (no tls_sni, no prefix) must come last")
		}
		p.upstreamRef(rp+".upstream", r.Upstream)
		m.Routes = append(m.Routes, routePlan{SNI: r.TLSSNI, Prefix: r.Prefix, Upstream: r.Upstream})
	}
	pl.Match = m
}

func (p *parsed) framer(path string, st Stage) *framerPlan {
	f := &framerPlan{Kind: st.Kind}
	max := func(def int) int {
		if st.Max < 0 {
			p.errorf(path+".max", "must not be negative")
		}
		if st.Max == 0 {
			return def
		}
		return st.Max
	}
	switch st.Kind {
	case "length_field":
		if !contains([]string{"1", "2", "3", "4", "8"}, fmt.Sprint(st.Length)) {
			p.errorf(path+".length", "the length field is 1, 2, 3, 4 or 8 bytes, not %d", st.Length)
		}
		if st.Offset < 0 {
			p.errorf(path+".offset", "must not be negative")
		}
		strip := st.Offset + st.Length
		if st.Strip != nil {
			strip = *st.Strip
		}
		if strip < 0 {
			p.errorf(path+".strip", "must not be negative")
		}
		big := true
		switch st.Endian {
		case "", "big":
		case "little":
			big = false
		default:
			p.errorf(path+".endian", "%q: want big or little", st.Endian)
		}
		f.Literal = fmt.Sprintf("framing.LengthField{Offset: %d, Length: %d, Adjust: %d, Strip: %d, BigEndian: %t, Max: %d, FailFast: %t}",
			st.Offset, st.Length, st.Adjust, strip, big, max(1<<20), st.FailFast)
	case "delimiter":
		if len(st.Delimiters) == 0 {
			p.errorf(path+".delimiters", "at least one delimiter is needed")
		}
		var ds []string
		for j, d := range st.Delimiters {
			if d == "" {
				p.errorf(fmt.Sprintf("%s.delimiters[%d]", path, j), "a delimiter must not be empty")
			}
			ds = append(ds, fmt.Sprintf("[]byte(%q)", d))
		}
		f.Literal = fmt.Sprintf("framing.Delimiter{Delimiters: [][]byte{%s}, Strip: %t, Max: %d}",
			strings.Join(ds, ", "), st.StripDelim == nil || *st.StripDelim, max(64<<10))
	case "line":
		f.Literal = fmt.Sprintf("framing.Line{Strip: %t, Max: %d}", st.StripDelim == nil || *st.StripDelim, max(64<<10))
	case "fixed":
		if st.Size <= 0 {
			p.errorf(path+".size", "a fixed frame size must be positive")
		}
		f.Literal = fmt.Sprintf("framing.Fixed{Size: %d}", st.Size)
	case "datagram":
		f.Literal = fmt.Sprintf("framing.Datagram{Max: %d}", max(65507))
	}
	return f
}

func (p *parsed) checkTerminal(pl *plan, path string, st Stage, importPath string) {
	switch st.Kind {
	case "handle":
		if pl.Framer == nil {
			p.errorf(path+".kind", "handle needs a framer before it (length_field, delimiter, line, fixed or datagram)")
		}
		if pl.Match != nil {
			p.errorf(path+".kind", "match routes to upstream groups: it works with relay, not handle")
		}
		m := typeRE.FindStringSubmatch(st.Type)
		if m == nil {
			p.errorf(path+".type", "%q is not a Go type such as example.org/kv.Store or Store", st.Type)
			return
		}
		pkgPath, name := m[1], m[2]
		if pkgPath == "" || pkgPath == importPath {
			pl.Handler = &handlerPlan{Type: name}
			return
		}
		alias := "handler" + strings.ReplaceAll(pkgPath[strings.LastIndex(pkgPath, "/")+1:], "-", "")
		pl.Imports = append(pl.Imports, importPlan{alias, pkgPath})
		pl.Handler = &handlerPlan{Type: alias + "." + name}
	case "redis_proxy":
		if pl.Framer != nil {
			p.errorf(path+".kind", "redis_proxy frames RESP itself: remove the %s framer", pl.Framer.Kind)
		}
		if pl.Match != nil {
			p.errorf(path+".kind", "match routes to upstream groups: it works with relay, not redis_proxy")
		}
		p.upstreamRef(path+".upstream", st.Upstream)
		if st.HashTag != "" && len(st.HashTag) != 2 {
			p.errorf(path+".hash_tag", "%q: a hash tag is two characters, such as \"{}\"", st.HashTag)
		}
		if st.Hash != "" && st.Hash != "fnv1a_64" {
			p.errorf(path+".hash", "%q: only fnv1a_64 is supported", st.Hash)
		}
		if st.Distribution != "" && st.Distribution != "ketama" {
			p.errorf(path+".distribution", "%q: only ketama is supported", st.Distribution)
		}
		pl.Redis = &redisPlan{st.Upstream, st.HashTag}
	case "http_proxy":
		pl.HTTP = p.checkHTTP(pl, path, st)
	case "relay":
		if pl.Framer != nil {
			p.errorf(path+".kind", "relay moves raw bytes: remove the %s framer, or serve frames with handle", pl.Framer.Kind)
		}
		switch {
		case pl.Match != nil && st.Upstream != "":
			p.errorf(path+".upstream", "the match routes pick the upstream: name it in a default route instead")
		case pl.Match == nil:
			p.upstreamRef(path+".upstream", st.Upstream)
		}
		switch st.SendProxy {
		case "", "v1", "v2":
		default:
			p.errorf(path+".send_proxy", "%q: want v1 or v2", st.SendProxy)
		}
		if st.SendProxy != "" && pl.Network == "udp" {
			p.errorf(path+".send_proxy", "the PROXY header is sent on TCP relays only")
		}
		if st.SpliceAfter < 0 {
			p.errorf(path+".splice_after", "must not be negative")
		}
		pl.Relay = &relayPlan{st.Upstream, st.SendProxy, st.SpliceAfter}
	}
}

// checkHTTP checks an http_proxy stage: its default group, its routes by
// host and path prefix, and the limits of the requests it reads.
func (p *parsed) checkHTTP(pl *plan, path string, st Stage) *httpPlan {
	if pl.Framer != nil {
		p.errorf(path+".kind", "http_proxy frames HTTP itself: remove the %s framer", pl.Framer.Kind)
	}
	if pl.Match != nil {
		p.errorf(path+".kind", "match routes to upstream groups: it works with relay, not http_proxy")
	}
	h := &httpPlan{Upstream: st.Upstream, MaxIdle: st.MaxIdle, Via: st.Via,
		MaxHeaderBytes: st.MaxHeaderBytes, MaxHeaders: st.MaxHeaders, MaxLineBytes: st.MaxLineBytes, MaxBodyBytes: st.MaxBodyBytes}
	groups := map[string]bool{}
	if st.Upstream == "" && len(st.Routes) == 0 {
		p.errorf(path+".upstream", "missing: an http_proxy stage needs an upstream (for the requests no route takes), routes, or both")
	}
	if st.Upstream != "" {
		p.upstreamRef(path+".upstream", st.Upstream)
		groups[st.Upstream] = true
	}
	for j, r := range st.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, j)
		if len(r.TLSSNI) > 0 {
			p.errorf(rp+".tls_sni", "tls_sni routes streams (match); an http_proxy route takes host and path_prefix")
		}
		if len(r.Prefix) > 0 {
			p.errorf(rp+".prefix", "prefix routes streams by their first bytes (match); an http_proxy route takes host and path_prefix")
		}
		if r.Host != "" && !hostRE.MatchString(r.Host) {
			p.errorf(rp+".host", "%q is not a host such as api.example.org (no scheme, port or wildcard)", r.Host)
		}
		if r.PathPrefix != "" && !pathRE.MatchString(r.PathPrefix) {
			if !strings.HasPrefix(r.PathPrefix, "/") {
				p.errorf(rp+".path_prefix", "%q must start with /", r.PathPrefix)
			} else {
				p.errorf(rp+".path_prefix", "%q: a path prefix is visible ASCII, without spaces", r.PathPrefix)
			}
		} else if strings.ContainsAny(r.PathPrefix, "?#") {
			p.errorf(rp+".path_prefix", "%q: routes match the path, which has no query or fragment", r.PathPrefix)
		}
		if r.Host == "" && r.PathPrefix == "" && len(r.TLSSNI) == 0 && len(r.Prefix) == 0 {
			p.errorf(rp, "a route needs host, path_prefix or both; the stage's upstream takes the requests no route matches")
		}
		for i, prev := range st.Routes[:j] {
			if (prev.Host != "" || prev.PathPrefix != "") && (prev.Host == "" || strings.EqualFold(prev.Host, r.Host)) &&
				strings.HasPrefix(r.PathPrefix, prev.PathPrefix) {
				p.errorf(rp, "never matches: routes[%d] comes first and takes every request it would", i)
				break
			}
		}
		p.upstreamRef(rp+".upstream", r.Upstream)
		if r.Upstream != "" {
			groups[r.Upstream] = true
		}
		h.Routes = append(h.Routes, routePlan{Host: r.Host, PathPrefix: r.PathPrefix, Upstream: r.Upstream})
	}
	for g := range groups {
		h.Groups = append(h.Groups, g)
	}
	sort.Strings(h.Groups)
	if st.Via != "" && !tokenRE.MatchString(st.Via) {
		p.errorf(path+".via", "%q is not a Via pseudonym: one token, such as penstock", st.Via)
	}
	for _, n := range []struct {
		key string
		v   int64
	}{{"max_header_bytes", int64(st.MaxHeaderBytes)}, {"max_headers", int64(st.MaxHeaders)},
		{"max_line_bytes", int64(st.MaxLineBytes)}, {"max_body_bytes", st.MaxBodyBytes}} {
		if n.v < 0 {
			p.errorf(path+"."+n.key, "must not be negative")
		}
	}
	return h
}
