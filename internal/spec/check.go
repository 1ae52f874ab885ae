package spec

import (
	"fmt"
	"go/token"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var sprintf = fmt.Sprintf

// Parse reads a file (YAML; JSON is YAML too), checks it and returns its
// Plan. file names it in errors. A file with problems returns Errors with
// every problem found, in line order, each naming its line and key path.
func Parse(file string, data []byte) (*Plan, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	c := &checker{file: file, root: &root}
	d := &decoder{file: file}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == 0 {
		return nil, Errors{{File: file, Msg: "the file is empty: write version: 1 and pipelines"}}
	}
	d.decode(n, "", reflect.ValueOf(&c.f).Elem())
	c.errs = d.errs
	plan := c.check()
	if len(c.errs) > 0 {
		return nil, c.errs.sorted()
	}
	return plan, nil
}

// yamlError turns "yaml: line 3: ..." into an Error at line 3.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				e.Line, e.Msg = n, rest[i+2:]
			}
		}
	}
	return e
}

type checker struct {
	file string
	root *yaml.Node
	f    File
	errs Errors
	// listens maps each normalized listen URL to the path that has it.
	listens map[string]string
}

func (c *checker) errorf(path, format string, args ...any) {
	c.errs = append(c.errs, newError(c.file, c.root, path, format, args...))
}

func (c *checker) duration(d Duration) time.Duration { return time.Duration(d) }

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	upstreamRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	typeRE     = regexp.MustCompile(`^(?:([A-Za-z0-9_.\-~/]+)\.)?([A-Z][A-Za-z0-9_]*)$`)
	hostRE     = regexp.MustCompile(`^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`)
	pathRE     = regexp.MustCompile(`^/[!-~]*$`)
	tokenRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func (c *checker) check() *Plan {
	f := &c.f
	plan := &Plan{File: c.file, root: c.root}
	switch {
	case f.Version == 0 && len(f.Pipelines) > 0:
		c.errorf("version", "missing: start the file with version: 1")
	case f.Version == 0:
	case f.Version != 1:
		c.errorf("version", "unsupported version %d (want 1)", f.Version)
	}
	switch f.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		c.errorf("log.level", "unknown level %q%s (want debug, info, warn or error)", f.Log.Level, didYouMean(f.Log.Level, "debug", "info", "warn", "error"))
	}
	switch f.Log.Format {
	case "", "text", "json":
	default:
		c.errorf("log.format", "unknown format %q%s (want text or json)", f.Log.Format, didYouMean(f.Log.Format, "text", "json"))
	}
	if f.Loops < 0 {
		c.errorf("loops", "must not be negative")
	}
	plan.Daemon = Daemon{LogLevel: f.Log.Level, LogFormat: f.Log.Format, Loops: f.Loops, DrainTimeout: c.duration(f.DrainTimeout),
		Admin: f.Admin, AdminPprof: f.AdminPprof, PidFile: f.PidFile, Syslog: f.Log.Syslog, SyslogFacility: f.Log.Facility}
	if tr := f.Tracing; tr.OTLP != "" || tr.Sample != 0 || tr.Service != "" {
		plan.Daemon.TracingOTLP, plan.Daemon.TracingSample, plan.Daemon.TracingService = tr.OTLP, tr.Sample, tr.Service
		if plan.Daemon.TracingSample == 0 && !plan.Written("tracing.sample") {
			plan.Daemon.TracingSample = 1
		}
		if plan.Daemon.TracingService == "" {
			plan.Daemon.TracingService = "penstock"
		}
		if u, err := url.Parse(tr.OTLP); tr.OTLP == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errorf("tracing.otlp", "%q: want the OTLP/HTTP endpoint, such as http://127.0.0.1:4318", tr.OTLP)
		}
		if tr.Sample < 0 || tr.Sample > 1 {
			c.errorf("tracing.sample", "%v: want a share from 0 to 1", tr.Sample)
		}
	}
	if t := f.Log.Syslog; t != "" {
		scheme, addr, _ := strings.Cut(t, "://")
		switch {
		case scheme == "unix" && strings.HasPrefix(addr, "/"):
		case (scheme == "udp" || scheme == "tcp") && addr != "":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				c.errorf("log.syslog", "%q: %v", t, err)
			}
		default:
			c.errorf("log.syslog", "%q: want unix:///dev/log, udp://HOST:PORT or tcp://HOST:PORT", t)
		}
	}
	if fac := f.Log.Facility; fac != "" {
		if _, ok := SyslogFacilities[fac]; !ok {
			c.errorf("log.facility", "unknown syslog facility %q (want daemon, local0 to local7, or another of RFC 5424)", fac)
		} else if f.Log.Syslog == "" {
			c.errorf("log.facility", "needs log.syslog: where to send the log")
		}
	}
	if f.Admin != "" {
		if _, port, err := net.SplitHostPort(f.Admin); err != nil {
			c.errorf("admin", "%q is not host:port (%v)", f.Admin, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			c.errorf("admin", "%q: port %q is not a number from 0 to 65535", f.Admin, port)
		}
	} else if f.AdminPprof {
		c.errorf("admin_pprof", "needs admin: the address of the admin listener that serves it")
	}
	if plan.Daemon.DrainTimeout == 0 {
		plan.Daemon.DrainTimeout = 30 * time.Second
	}
	plan.Groups = c.groups()
	if len(f.Pipelines) == 0 && len(c.errs) == 0 {
		c.errorf("pipelines", "at least one pipeline is needed (name, listen and stages)")
	}
	c.listens = map[string]string{}
	names := map[string]string{}
	for i := range f.Pipelines {
		path := fmt.Sprintf("pipelines[%d]", i)
		pl := c.pipeline(path, &f.Pipelines[i])
		if prev, dup := names[pl.Shape.Name]; dup && pl.Shape.Name != "" {
			c.errorf(path+".name", "%q is also the name of %s", pl.Shape.Name, prev)
		}
		names[pl.Shape.Name] = path
		plan.Pipelines = append(plan.Pipelines, pl)
	}
	return plan
}

func didYouMean(s string, valid ...string) string {
	if near := nearest(s, valid); near != "" {
		return ": did you mean " + near + "?"
	}
	return ""
}

func (c *checker) groups() []*Group {
	names := make([]string, 0, len(c.f.Upstreams))
	for n := range c.f.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*Group
	for _, n := range names {
		u := c.f.Upstreams[n]
		path := "upstreams." + n
		if !upstreamRE.MatchString(n) {
			c.errorf(path, "%q is not an upstream group name (lower case letters, digits, _ and -, starting with a letter)", n)
		}
		if len(u.Endpoints) == 0 {
			c.errorf(path+".endpoints", "an upstream group needs at least one endpoint (host:port or unix:/path)")
		}
		for i, ep := range u.Endpoints {
			if msg := checkEndpoint(ep); msg != "" {
				c.errorf(fmt.Sprintf("%s.endpoints[%d]", path, i), "%s", msg)
			}
		}
		if len(u.Names) > 0 && len(u.Names) != len(u.Endpoints) {
			c.errorf(path+".names", "%d names for %d endpoints", len(u.Names), len(u.Endpoints))
		}
		if len(u.Weights) > 0 && len(u.Weights) != len(u.Endpoints) {
			c.errorf(path+".weights", "%d weights for %d endpoints", len(u.Weights), len(u.Endpoints))
		}
		for i, w := range u.Weights {
			if w <= 0 {
				c.errorf(fmt.Sprintf("%s.weights[%d]", path, i), "a weight must be positive")
			}
		}
		if t := u.TLS; t != nil {
			if (t.Cert == "") != (t.Key == "") {
				c.errorf(path+".tls", "a client certificate needs both cert and key")
			}
			if t.SNI != "" && !hostRE.MatchString(t.SNI) {
				c.errorf(path+".tls.sni", "%q is not a host name", t.SNI)
			}
			if t.InsecureSkipVerify && t.CA != "" {
				c.errorf(path+".tls.ca", "a CA bundle verifies, and insecure_skip_verify turns verification off: choose one")
			}
		}
		switch u.Protocol {
		case "", "http1", "auto":
		case "h2":
			if u.TLS == nil {
				c.errorf(path+".protocol", "h2 is HTTP/2 over TLS: give the group a tls block, or use h2c for cleartext")
			}
		case "h2c":
			if u.TLS != nil {
				c.errorf(path+".protocol", "h2c is HTTP/2 over cleartext, and this group has a tls block: use h2")
			}
		default:
			c.errorf(path+".protocol", "%q: want http1, h2, h2c or auto%s", u.Protocol, didYouMean(u.Protocol, "http1", "h2", "h2c", "auto"))
		}
		out = append(out, &Group{Name: n, Endpoints: u.Endpoints, FailTimeout: c.duration(u.FailTimeout), Names: u.Names, Weights: u.Weights, TLS: u.TLS,
			Protocol: u.Protocol})
	}
	return out
}

// indexOf is the index of s in list, or -1.
func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// checkEndpoint says what is wrong with an upstream endpoint, or "".
func checkEndpoint(ep string) string {
	if path, ok := strings.CutPrefix(ep, "unix:"); ok && path != "" {
		return ""
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil || host == "" {
		return fmt.Sprintf("%q is not host:port or unix:/path", ep)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port must be a number from 1 to 65535", ep)
	}
	return ""
}

// pipeline checks one pipeline and returns its plan.
func (c *checker) pipeline(path string, p *PipelineSpec) *Pipeline {
	pl := &Pipeline{Path: path}
	sh, v := &pl.Shape, &pl.Values
	sh.Name, sh.Package, sh.Doc = p.Name, p.Package, strings.TrimSpace(p.Doc)
	if p.Name == "" {
		c.errorf(path+".name", "missing: name the pipeline (lower case letters, digits, _ and -)")
	} else if !nameRE.MatchString(p.Name) {
		c.errorf(path+".name", "%q is not a pipeline name (lower case letters, digits, _ and -, starting with a letter)", p.Name)
	}
	if sh.Package == "" {
		sh.Package = strings.NewReplacer("_", "", "-", "").Replace(p.Name)
	} else if !token.IsIdentifier(sh.Package) || strings.ToLower(sh.Package) != sh.Package {
		c.errorf(path+".package", "%q is not a Go package name (lower case letters and digits)", sh.Package)
	}
	network := c.listen(path, p, v)
	sh.UDP = network == "udp"
	c.filters(path+".filters", p.Filters)
	v.Filters = p.Filters
	c.stages(path, p, pl, network)
	if t := v.TLS; t != nil && (sh.Terminal == "http_proxy" || sh.Service == "http") {
		h2 := sh.Service == "http" || v.HTTP != nil && v.HTTP.HTTP2
		if len(t.ALPN) == 0 {
			// Without ALPN a TLS client speaks HTTP/1.1: offer h2 too.
			t.ALPN = []string{"http/1.1"}
			if h2 {
				t.ALPN = []string{"h2", "http/1.1"}
			}
		}
		for i, a := range t.ALPN {
			if a == "h2" && !h2 {
				c.errorf(fmt.Sprintf("%s.stages[%d].alpn[%d]", path, indexOf(sh.Kinds, "tls"), i), "h2: this http_proxy has http2: false; offer http/1.1 only")
			}
		}
	}
	c.timeouts(path, p, pl)
	if p.Loops < 0 {
		c.errorf(path+".loops", "must not be negative")
	}
	v.Loops = p.Loops
	for _, b := range []struct {
		key string
		n   int
	}{{"send_buffer", p.Socket.SendBuffer}, {"recv_buffer", p.Socket.RecvBuffer}} {
		if b.n < 0 || b.n > maxSocketBuffer {
			c.errorf(path+".socket."+b.key, fmt.Sprintf("must be between 0 (the kernel's autotuning) and %d bytes", maxSocketBuffer))
		}
	}
	v.Socket = p.Socket
	groups := map[string]bool{}
	if v.Relay != nil && v.Relay.Upstream != "" {
		groups[v.Relay.Upstream] = true
	}
	if v.Match != nil {
		for _, r := range v.Match.Routes {
			groups[r.Upstream] = true
		}
	}
	if v.Redis != nil {
		groups[v.Redis.Upstream] = true
	}
	if v.HTTP != nil {
		if v.HTTP.Upstream != "" {
			groups[v.HTTP.Upstream] = true
		}
		for _, r := range v.HTTP.Routes {
			groups[r.Upstream] = true
		}
	}
	delete(groups, "")
	for g := range groups {
		v.Groups = append(v.Groups, g)
		if u, ok := c.f.Upstreams[g]; ok && u.TLS != nil {
			switch {
			case v.Redis != nil && v.Redis.Upstream == g:
				c.errorf("upstreams."+g+".tls", "redis_proxy speaks plain RESP to its shards; TLS upstreams serve relay and http_proxy")
			case sh.UDP:
				c.errorf("upstreams."+g+".tls", "TLS runs over streams; %s relays UDP", path)
			}
		}
	}
	sort.Strings(v.Groups)
	return pl
}

// listen checks the listen addresses and returns the network: tcp (for
// tcp and unix streams) or udp.
func (c *checker) listen(path string, p *PipelineSpec, v *Values) string {
	if len(p.Listen) == 0 {
		c.errorf(path+".listen", "missing: at least one listen address (for example tcp://127.0.0.1:7000)")
	}
	network := ""
	for i, l := range p.Listen {
		lp := fmt.Sprintf("%s.listen[%d]", path, i)
		if len(p.Listen) == 1 && c.isScalar(path+".listen") {
			lp = path + ".listen"
		}
		u := l
		if !strings.Contains(l, "://") {
			u = "tcp://" + l
		}
		scheme, rest, _ := strings.Cut(u, "://")
		net := ""
		switch scheme {
		case "tcp", "tcp4", "tcp6":
			net = "tcp"
		case "udp", "udp4", "udp6":
			net = "udp"
		case "unix":
			net = "unix"
		default:
			c.errorf(lp, "unknown scheme %q%s (want tcp://, tcp4://, tcp6://, udp://, udp4://, udp6:// or unix://)", scheme, didYouMean(scheme, "tcp", "udp", "unix"))
			continue
		}
		if net == "unix" {
			if rest == "" {
				c.errorf(lp, "%q: a unix listener needs a path, such as unix:///run/penstock.sock", l)
				continue
			}
		} else if msg := checkListenHostPort(rest); msg != "" {
			c.errorf(lp, "%q: %s", l, msg)
			continue
		}
		if prev, dup := c.listens[u]; dup {
			c.errorf(lp, "%s is also where %s listens", u, prev)
		}
		c.listens[u] = lp
		if network == "" {
			network = map[string]string{"tcp": "tcp", "unix": "tcp", "udp": "udp"}[net]
		} else if (network == "udp") != (net == "udp") {
			c.errorf(lp, "mixes udp with streams: a pipeline listens on streams (tcp, unix) or on udp, not both")
		}
		v.Listen = append(v.Listen, u)
	}
	return network
}

func checkListenHostPort(hp string) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "not host:port"
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("the listen host must be an IP address, not %q", host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("the port must be a number from 0 to 65535, not %q", port)
	}
	return ""
}

// isScalar reports whether the node at path is a scalar.
func (c *checker) isScalar(path string) bool {
	n := lookup(c.root, path)
	return n != nil && n.Kind == yaml.ScalarNode
}

// lookup returns the node a key path leads to, or nil.
func lookup(root *yaml.Node, path string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
		}
		var next *yaml.Node
		if n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == name {
					next = n.Content[j+1]
				}
			}
		}
		if next == nil {
			return nil
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return nil
			}
			n = n.Content[idx]
		}
	}
	return n
}

func (c *checker) filters(path string, f Filters) {
	for i, s := range f.Allow {
		if !validPrefix(s) {
			c.errorf(fmt.Sprintf("%s.allow[%d]", path, i), "%q is not an IP address or CIDR prefix", s)
		}
	}
	for i, s := range f.Deny {
		if !validPrefix(s) {
			c.errorf(fmt.Sprintf("%s.deny[%d]", path, i), "%q is not an IP address or CIDR prefix", s)
		}
	}
	for _, n := range []struct {
		key string
		neg bool
	}{{"max_conns", f.MaxConns < 0}, {"max_conns_per_ip", f.MaxConnsPerIP < 0}, {"rate_per_ip", f.RatePerIP < 0}, {"burst_per_ip", f.BurstPerIP < 0}} {
		if n.neg {
			c.errorf(path+"."+n.key, "must not be negative")
		}
	}
}

func validPrefix(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (c *checker) upstreamRef(path, name string) {
	if name == "" {
		c.errorf(path, "missing: name an upstream group")
		return
	}
	if _, ok := c.f.Upstreams[name]; !ok {
		names := make([]string, 0, len(c.f.Upstreams))
		for n := range c.f.Upstreams {
			names = append(names, n)
		}
		c.errorf(path, "no upstream group named %q%s", name, didYouMean(name, names...))
	}
}

// timeouts checks that each timeout set applies to the pipeline's
// terminal, and fills the values.
func (c *checker) timeouts(path string, p *PipelineSpec, pl *Pipeline) {
	t, s := p.Timeouts, p.Session
	term, udp := pl.Shape.Terminal, pl.Shape.UDP
	tcpRelay := term == "relay" && !udp
	applies := func(key string, set bool, ok bool, where string) {
		if set && !ok && term != "" {
			c.errorf(path+".timeouts."+key, "applies to %s only", where)
		}
	}
	applies("connect", t.Connect != 0, tcpRelay || term == "redis_proxy" || term == "http_proxy", "TCP relay, redis_proxy and http_proxy pipelines")
	applies("idle", t.Idle != 0, tcpRelay || term == "http_proxy", "TCP relay and http_proxy pipelines (UDP sessions: session.idle)")
	for _, k := range []struct {
		key string
		set bool
	}{{"header", t.Header != 0}, {"read", t.Read != 0}, {"client_body", t.ClientBody != 0}, {"send", t.Send != 0}} {
		applies(k.key, k.set, term == "http_proxy", "http_proxy pipelines")
	}
	applies("response", t.Response != 0, term == "http_proxy" || term == "redis_proxy", "http_proxy and redis_proxy pipelines")
	if !udp && pl.Shape.Terminal != "" && (s.Idle != 0 || s.MaxSessions != 0) {
		c.errorf(path+".session", "applies to UDP pipelines only")
	}
	if s.MaxSessions < 0 {
		c.errorf(path+".session.max_sessions", "must not be negative")
	}
	pl.Values.Timeouts = TimeoutValues{Connect: c.duration(t.Connect), Idle: c.duration(t.Idle), Response: c.duration(t.Response),
		Header: c.duration(t.Header), Read: c.duration(t.Read), ClientBody: c.duration(t.ClientBody), Send: c.duration(t.Send)}
	pl.Values.Session = SessionValues{Idle: c.duration(s.Idle), MaxSessions: s.MaxSessions}
}

// maxSocketBuffer bounds socket.send_buffer and recv_buffer: 1 GiB, far
// above any kernel's cap (net.core.wmem_max, rmem_max), so a typo of a few
// digits is caught rather than silently capped.
const maxSocketBuffer = 1 << 30
