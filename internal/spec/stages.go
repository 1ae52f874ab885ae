package spec

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// A stage kind's class decides where it may stand: phases first, then at
// most one framer, then the terminal, last.
type class int

const (
	classPhase class = iota
	classFramer
	classTerminal
)

// Kind describes a stage kind of the registry.
type kind struct {
	class class
	// keys are the keys the kind takes besides "kind".
	keys []string
	// udp and stream say which listeners the kind works on.
	udp, stream bool
}

// kinds is every stage kind of the schema.
var kinds = map[string]kind{
	"proxy_protocol": {classPhase, []string{"accept", "trusted", "timeout"}, false, true},
	"match":          {classPhase, []string{"max_bytes", "timeout", "routes"}, false, true},
	"tls": {classPhase, []string{"certificates", "client_auth", "client_ca", "alpn", "min_version", "require_post_quantum",
		"timeout", "ticket_rotation", "ech_keys", "watch"}, false, true},
	"length_field": {classFramer, []string{"offset", "length", "adjust", "strip", "endian", "max", "fail_fast"}, false, true},
	"delimiter":    {classFramer, []string{"delimiters", "strip_delimiter", "max"}, false, true},
	"line":         {classFramer, []string{"strip_delimiter", "max"}, false, true},
	"fixed":        {classFramer, []string{"size"}, false, true},
	"datagram":     {classFramer, []string{"max"}, true, false},
	"handle":       {classTerminal, []string{"type"}, true, true},
	"relay":        {classTerminal, []string{"upstream", "send_proxy", "splice_after"}, true, true},
	"redis_proxy": {classTerminal, []string{"upstream", "hash_tag", "hash", "distribution", "redis_auth", "redis_auth_user",
		"redis_db", "retry_after", "proto_max_bulk_len"}, false, true},
	"http_proxy": {classTerminal, []string{"upstream", "routes", "max_idle", "via", "max_header_bytes", "max_headers",
		"max_line_bytes", "max_body_bytes", "access_log", "client_cert_header", "http2"}, false, true},
	"serve": {classTerminal, []string{"service"}, true, true},
}

// Services are the built-in services of the serve stage, and whether each
// works on UDP.
var services = map[string]bool{"echo": true, "discard": true, "http": false}

// validKeys are the keys of the stage n holds, for the nearest-key hint.
func (*Stage) validKeys(n *yaml.Node) []string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			if k, ok := kinds[n.Content[i+1].Value]; ok {
				return append([]string{"kind"}, k.keys...)
			}
		}
	}
	return nil
}

func knownKinds() []string {
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// article is "a" or "an" before a kind's name as it is read aloud.
func article(kind string) string {
	if strings.HasPrefix(kind, "http") || strings.ContainsAny(kind[:1], "aeiou") {
		return "an"
	}
	return "a"
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

func (c *checker) stages(path string, p *PipelineSpec, pl *Pipeline, network string) {
	sh := &pl.Shape
	if len(p.Stages) == 0 {
		c.errorf(path+".stages", "missing: a pipeline needs stages, ending with a terminal (relay, http_proxy, redis_proxy, handle or serve)")
		return
	}
	last := classPhase
	seen := map[string]string{}
	for i := range p.Stages {
		st := &p.Stages[i]
		sp := fmt.Sprintf("%s.stages[%d]", path, i)
		k, ok := kinds[st.Kind]
		if !ok {
			if st.Kind == "" {
				c.errorf(sp+".kind", "missing: the stage's kind (%s)", strings.Join(knownKinds(), ", "))
			} else {
				c.errorf(sp+".kind", "unknown stage kind %q%s (known: %s)", st.Kind, didYouMean(st.Kind, knownKinds()...), strings.Join(knownKinds(), ", "))
			}
			continue
		}
		sh.Kinds = append(sh.Kinds, st.Kind)
		for _, key := range st.keys {
			if key != "kind" && !contains(k.keys, key) && st.lines != nil {
				if _, known := fieldKeys[key]; known {
					c.errorf(sp+"."+key, "does not apply to %s %s stage (it takes: %s)", article(st.Kind), st.Kind, strings.Join(k.keys, ", "))
				}
			}
		}
		switch {
		case network == "udp" && !k.udp && k.class == classFramer:
			c.errorf(sp+".kind", "%s is a stream framer and this pipeline listens on UDP: use datagram", st.Kind)
		case network == "udp" && !k.udp:
			c.errorf(sp+".kind", "%s works on streams: it needs tcp or unix listeners, and this pipeline listens on UDP", st.Kind)
		case network == "tcp" && !k.stream:
			c.errorf(sp+".kind", "datagram framing needs a UDP listener; this pipeline listens on streams")
		}
		if k.class < last {
			c.errorf(sp+".kind", "%s comes too late: phases (proxy_protocol, match) come first, then the framer, then the terminal", st.Kind)
		}
		key := st.Kind
		if k.class != classPhase {
			key = classLabel(k.class)
		}
		if prev, dup := seen[key]; dup {
			c.errorf(sp+".kind", "a second %s: %s already has one", classLabel(k.class), prev)
		}
		seen[key] = sp
		last = k.class
		switch k.class {
		case classPhase:
			switch st.Kind {
			case "proxy_protocol":
				if sh.Match || sh.TLS {
					c.errorf(sp+".kind", "proxy_protocol comes too late: the PROXY header precedes the bytes match and tls read")
				}
				c.proxyProtocol(sp, st, pl)
			case "match":
				if sh.TLS {
					c.errorf(sp+".kind", "match comes too late: it peeks at the ClientHello before TLS is terminated; put it before tls")
				}
				c.match(sp, st, pl)
			case "tls":
				c.tls(sp, st, pl)
			}
		case classFramer:
			sh.Framer = c.framer(sp, st)
		case classTerminal:
			if i != len(p.Stages)-1 {
				c.errorf(sp+".kind", "%s is a terminal and must be the last stage", st.Kind)
			}
			c.terminal(sp, st, pl, network)
		}
	}
	if _, ok := seen["terminal"]; !ok {
		c.errorf(path+".stages", "no terminal stage: end with relay, http_proxy, redis_proxy, handle or serve")
	}
}

// fieldKeys are every key a stage may have.
var fieldKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range kinds {
		for _, key := range k.keys {
			m[key] = true
		}
	}
	return m
}()

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *checker) proxyProtocol(path string, st *Stage, pl *Pipeline) {
	pp := &ProxyProtocol{Timeout: c.duration(st.Timeout), Trusted: st.Trusted, V1: len(st.Accept) == 0, V2: len(st.Accept) == 0}
	for j, v := range st.Accept {
		switch v {
		case "v1":
			pp.V1 = true
		case "v2":
			pp.V2 = true
		default:
			c.errorf(fmt.Sprintf("%s.accept[%d]", path, j), "%q: want v1 or v2", v)
		}
	}
	if len(st.Trusted) == 0 {
		c.errorf(path+".trusted", "missing: name the load balancers allowed to send a PROXY header (CIDRs)")
	}
	for j, s := range st.Trusted {
		if !validPrefix(s) {
			c.errorf(fmt.Sprintf("%s.trusted[%d]", path, j), "%q is not an IP address or CIDR prefix", s)
		}
	}
	pl.Shape.ProxyProtocol = true
	pl.Values.ProxyProtocol = pp
}

// tls checks a tls stage: its certificates, client authentication, ALPN
// protocols and versions. The files are read when the pipeline is built
// (the daemon's check does), not here: a spec for pipegen may name files
// of the machine it runs on.
func (c *checker) tls(path string, st *Stage, pl *Pipeline) {
	t := &TLS{Certificates: st.Certificates, ClientAuth: st.ClientAuth, ClientCA: st.ClientCA, ALPN: st.ALPN,
		MinVersion: st.MinVersion, RequirePostQuantum: st.RequirePostQuantum, HandshakeTimeout: c.duration(st.Timeout),
		TicketRotation: c.duration(st.TicketRotation), ECHKeys: st.ECHKeys, Watch: c.duration(st.Watch)}
	if len(st.Certificates) == 0 {
		c.errorf(path+".certificates", "missing: at least one {cert: FILE, key: FILE}, the first being the default")
	}
	for i, cp := range st.Certificates {
		cpath := fmt.Sprintf("%s.certificates[%d]", path, i)
		if cp.Cert == "" {
			c.errorf(cpath+".cert", "missing: the PEM file of the certificate chain")
		}
		if cp.Key == "" {
			c.errorf(cpath+".key", "missing: the PEM file of the private key")
		}
	}
	switch st.ClientAuth {
	case "", "none":
		if st.ClientCA != "" {
			c.errorf(path+".client_ca", "client certificates are not asked for: set client_auth to optional or require")
		}
	case "optional", "require":
		if st.ClientCA == "" {
			c.errorf(path+".client_ca", "missing: the PEM bundle of the CAs that sign client certificates")
		}
	default:
		c.errorf(path+".client_auth", "%q: want none, optional or require", st.ClientAuth)
	}
	for i, a := range st.ALPN {
		ap := fmt.Sprintf("%s.alpn[%d]", path, i)
		if a == "" {
			c.errorf(ap, "an ALPN protocol must not be empty")
		}
	}
	switch st.MinVersion {
	case "", "1.2", "1.3":
	default:
		c.errorf(path+".min_version", "%q: want 1.2 or 1.3 (older versions are refused)", st.MinVersion)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeout", t.HandshakeTimeout}, {"ticket_rotation", t.TicketRotation}} {
		if d.v < 0 {
			c.errorf(path+"."+d.key, "must not be negative")
		}
	}
	for i, k := range st.ECHKeys {
		kp := fmt.Sprintf("%s.ech_keys[%d]", path, i)
		if k.Config == "" {
			c.errorf(kp+".config", "missing: the file of the ECHConfig clients are given")
		}
		if k.Key == "" {
			c.errorf(kp+".key", "missing: the file of the ECH private key")
		}
	}
	pl.Shape.TLS = true
	pl.Values.TLS = t
}

func (c *checker) match(path string, st *Stage, pl *Pipeline) {
	m := &Match{MaxBytes: st.MaxBytes, Timeout: c.duration(st.Timeout)}
	if st.MaxBytes < 0 {
		c.errorf(path+".max_bytes", "must not be negative")
	}
	if len(st.Routes) == 0 {
		c.errorf(path+".routes", "missing: a match stage needs routes")
	}
	for j, r := range st.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, j)
		if len(r.TLSSNI) > 0 && len(r.Prefix) > 0 {
			c.errorf(rp, "set tls_sni or prefix, not both")
		}
		if r.Host != "" {
			c.errorf(rp+".host", "host routes HTTP requests (http_proxy); a match route takes tls_sni or prefix")
		}
		if r.PathPrefix != "" {
			c.errorf(rp+".path_prefix", "path_prefix routes HTTP requests (http_proxy); a match route takes tls_sni or prefix")
		}
		for i, p := range r.Prefix {
			if p == "" {
				c.errorf(fmt.Sprintf("%s.prefix[%d]", rp, i), "a prefix must not be empty")
			}
		}
		if len(r.TLSSNI) == 0 && len(r.Prefix) == 0 && j != len(st.Routes)-1 {
			c.errorf(rp, "a default route (no tls_sni, no prefix) must come last")
		}
		c.upstreamRef(rp+".upstream", r.Upstream)
		m.Routes = append(m.Routes, Route{TLSSNI: r.TLSSNI, Prefix: r.Prefix, Upstream: r.Upstream})
	}
	pl.Shape.Match = true
	pl.Values.Match = m
}

func (c *checker) framer(path string, st *Stage) *Framer {
	f := &Framer{Kind: st.Kind}
	max := func(def int) int {
		if st.Max < 0 {
			c.errorf(path+".max", "must not be negative")
		}
		if st.Max <= 0 {
			return def
		}
		return st.Max
	}
	strip := st.StripDelimiter == nil || *st.StripDelimiter
	switch st.Kind {
	case "length_field":
		if !contains([]string{"1", "2", "3", "4", "8"}, fmt.Sprint(st.Length)) {
			c.errorf(path+".length", "the length field is 1, 2, 3, 4 or 8 bytes, not %d", st.Length)
		}
		if st.Offset < 0 {
			c.errorf(path+".offset", "must not be negative")
		}
		f.Strip = st.Offset + st.Length
		if st.Strip != nil {
			f.Strip = *st.Strip
		}
		if f.Strip < 0 {
			c.errorf(path+".strip", "must not be negative")
		}
		f.BigEndian = true
		switch st.Endian {
		case "", "big":
		case "little":
			f.BigEndian = false
		default:
			c.errorf(path+".endian", "%q: want big or little", st.Endian)
		}
		f.Offset, f.Length, f.Adjust, f.FailFast, f.Max = st.Offset, st.Length, st.Adjust, st.FailFast, max(1<<20)
		if f.Max < f.Offset+f.Length {
			c.errorf(path+".max", "%d is less than offset+length (%d): no frame would fit", f.Max, f.Offset+f.Length)
		}
	case "delimiter":
		if len(st.Delimiters) == 0 {
			c.errorf(path+".delimiters", "missing: at least one delimiter")
		}
		for j, d := range st.Delimiters {
			if d == "" {
				c.errorf(fmt.Sprintf("%s.delimiters[%d]", path, j), "a delimiter must not be empty")
			}
		}
		f.Delimiters, f.StripDelimiter, f.Max = st.Delimiters, strip, max(64<<10)
	case "line":
		f.StripDelimiter, f.Max = strip, max(64<<10)
	case "fixed":
		if st.Size <= 0 {
			c.errorf(path+".size", "a fixed frame size must be positive")
		}
		f.Size = st.Size
	case "datagram":
		f.Max = max(65507)
	}
	return f
}

func (c *checker) terminal(path string, st *Stage, pl *Pipeline, network string) {
	sh, v := &pl.Shape, &pl.Values
	sh.Terminal = st.Kind
	if st.Kind != "handle" && sh.Framer != nil {
		switch st.Kind {
		case "relay":
			c.errorf(path+".kind", "relay moves raw bytes: remove the %s framer, or serve frames with handle", sh.Framer.Kind)
		case "serve":
			c.errorf(path+".kind", "serve takes raw bytes: remove the %s framer", sh.Framer.Kind)
		case "redis_proxy":
			c.errorf(path+".kind", "redis_proxy frames RESP itself: remove the %s framer", sh.Framer.Kind)
		case "http_proxy":
			c.errorf(path+".kind", "http_proxy frames HTTP itself: remove the %s framer", sh.Framer.Kind)
		}
	}
	if st.Kind != "relay" && sh.Match {
		c.errorf(path+".kind", "match routes to upstream groups: it works with relay, not %s", st.Kind)
	}
	switch st.Kind {
	case "handle":
		if sh.Framer == nil {
			c.errorf(path+".kind", "handle needs a framer before it (length_field, delimiter, line, fixed or datagram)")
		}
		if typeRE.FindStringSubmatch(st.Type) == nil {
			c.errorf(path+".type", "%q is not a Go type such as example.org/kv.Store or Store", st.Type)
		}
		sh.HandlerType = st.Type
	case "serve":
		udpOK, ok := services[st.Service]
		switch {
		case st.Service == "":
			c.errorf(path+".service", "missing: echo, discard or http")
		case !ok:
			c.errorf(path+".service", "unknown service %q%s (want echo, discard or http)", st.Service, didYouMean(st.Service, "echo", "discard", "http"))
		case network == "udp" && !udpOK:
			c.errorf(path+".service", "%s serves streams: it needs tcp or unix listeners", st.Service)
		}
		sh.Service = st.Service
	case "redis_proxy":
		c.upstreamRef(path+".upstream", st.Upstream)
		if st.HashTag != "" && len(st.HashTag) != 2 {
			c.errorf(path+".hash_tag", "%q: a hash tag is two characters, such as \"{}\"", st.HashTag)
		}
		if st.Hash != "" && st.Hash != "fnv1a_64" {
			c.errorf(path+".hash", "%q: only fnv1a_64 is supported", st.Hash)
		}
		switch st.Distribution {
		case "", "ketama", "modula", "random":
		default:
			c.errorf(path+".distribution", "%q: want ketama, modula or random%s", st.Distribution, didYouMean(st.Distribution, "ketama", "modula", "random"))
		}
		if st.RedisAuthUser != "" && st.RedisAuth == "" {
			c.errorf(path+".redis_auth_user", "needs redis_auth, the password")
		}
		if st.RedisDB < 0 {
			c.errorf(path+".redis_db", "must not be negative")
		}
		if st.ProtoMaxBulkLen < 0 {
			c.errorf(path+".proto_max_bulk_len", "must not be negative")
		}
		r := &Redis{Upstream: st.Upstream, HashTag: st.HashTag, Distribution: st.Distribution, Password: st.RedisAuth,
			User: st.RedisAuthUser, DB: st.RedisDB, MaxBulk: st.ProtoMaxBulkLen}
		if d := st.RetryAfter; d != nil {
			r.RetryAfter = time.Duration(*d)
			if r.RetryAfter < 0 {
				c.errorf(path+".retry_after", "must not be negative")
			}
			if r.RetryAfter == 0 {
				r.RetryAfter = -1 // every request tries to connect
			}
		}
		v.Redis = r
	case "http_proxy":
		v.HTTP = c.http(path, st)
	case "relay":
		switch {
		case sh.Match && st.Upstream != "":
			c.errorf(path+".upstream", "the match routes pick the upstream: name it in a default route instead")
		case !sh.Match:
			c.upstreamRef(path+".upstream", st.Upstream)
		}
		r := &Relay{Upstream: st.Upstream, SpliceAfter: st.SpliceAfter}
		switch st.SendProxy {
		case "":
		case "v1":
			r.SendProxy = 1
		case "v2":
			r.SendProxy = 2
		default:
			c.errorf(path+".send_proxy", "%q: want v1 or v2", st.SendProxy)
		}
		if st.SendProxy != "" && network == "udp" {
			c.errorf(path+".send_proxy", "the PROXY header is sent on TCP relays only")
		}
		if st.SpliceAfter < 0 {
			c.errorf(path+".splice_after", "must not be negative")
		}
		v.Relay = r
	}
}

// http checks an http_proxy stage: its default group, its routes by host
// and path prefix, and the limits of the requests it reads.
func (c *checker) http(path string, st *Stage) *HTTP {
	if st.ClientCertHeader != "" && !tokenRE.MatchString(st.ClientCertHeader) {
		c.errorf(path+".client_cert_header", "%q is not a header field name", st.ClientCertHeader)
	}
	h := &HTTP{Upstream: st.Upstream, MaxIdle: st.MaxIdle, Via: st.Via, AccessLog: st.AccessLog, ClientCertHeader: st.ClientCertHeader,
		MaxHeaderBytes: st.MaxHeaderBytes, MaxHeaders: st.MaxHeaders, MaxLineBytes: st.MaxLineBytes, MaxBodyBytes: st.MaxBodyBytes,
		HTTP2: st.HTTP2 == nil || *st.HTTP2}
	if st.Upstream == "" && len(st.Routes) == 0 {
		c.errorf(path+".upstream", "missing: an http_proxy stage needs an upstream (for the requests no route takes), routes, or both")
	}
	if st.Upstream != "" {
		c.upstreamRef(path+".upstream", st.Upstream)
	}
	for j, r := range st.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, j)
		if len(r.TLSSNI) > 0 {
			c.errorf(rp+".tls_sni", "tls_sni routes streams (match); an http_proxy route takes host and path_prefix")
		}
		if len(r.Prefix) > 0 {
			c.errorf(rp+".prefix", "prefix routes streams by their first bytes (match); an http_proxy route takes host and path_prefix")
		}
		if r.Host != "" && !hostRE.MatchString(r.Host) {
			c.errorf(rp+".host", "%q is not a host such as api.example.org (no scheme, port or wildcard)", r.Host)
		}
		if r.PathPrefix != "" && !pathRE.MatchString(r.PathPrefix) {
			if !strings.HasPrefix(r.PathPrefix, "/") {
				c.errorf(rp+".path_prefix", "%q must start with /", r.PathPrefix)
			} else {
				c.errorf(rp+".path_prefix", "%q: a path prefix is visible ASCII, without spaces", r.PathPrefix)
			}
		} else if strings.ContainsAny(r.PathPrefix, "?#") {
			c.errorf(rp+".path_prefix", "%q: routes match the path, which has no query or fragment", r.PathPrefix)
		}
		if r.Host == "" && r.PathPrefix == "" && len(r.TLSSNI) == 0 && len(r.Prefix) == 0 {
			c.errorf(rp, "a route needs host, path_prefix or both; the stage's upstream takes the requests no route matches")
		}
		for i, prev := range st.Routes[:j] {
			if (prev.Host != "" || prev.PathPrefix != "") && (prev.Host == "" || strings.EqualFold(prev.Host, r.Host)) &&
				strings.HasPrefix(r.PathPrefix, prev.PathPrefix) {
				c.errorf(rp, "never matches: routes[%d] comes first and takes every request it would", i)
				break
			}
		}
		c.upstreamRef(rp+".upstream", r.Upstream)
		h.Routes = append(h.Routes, Route{Host: r.Host, PathPrefix: r.PathPrefix, Upstream: r.Upstream})
	}
	if st.Via != "" && !tokenRE.MatchString(st.Via) {
		c.errorf(path+".via", "%q is not a Via pseudonym: one token, such as penstock", st.Via)
	}
	for _, n := range []struct {
		key string
		v   int64
	}{{"max_header_bytes", int64(st.MaxHeaderBytes)}, {"max_headers", int64(st.MaxHeaders)},
		{"max_line_bytes", int64(st.MaxLineBytes)}, {"max_body_bytes", st.MaxBodyBytes}} {
		if n.v < 0 {
			c.errorf(path+"."+n.key, "must not be negative")
		}
	}
	return h
}

// GoType splits a handle stage's type into its package path (empty for
// the generated package's own) and its name.
func GoType(t string) (pkgPath, name string) {
	m := typeRE.FindStringSubmatch(t)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}
