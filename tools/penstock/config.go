package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/penstock-proxy/penstock/internal/yamlpath"
)

// Config is the daemon's configuration file (YAML; JSON is valid YAML
// too). docs/config.md is its reference.
type Config struct {
	Log          LogConfig                 `yaml:"log"`
	Loops        int                       `yaml:"loops"`
	DrainTimeout time.Duration             `yaml:"drain_timeout"`
	Listeners    []ListenerConfig          `yaml:"listeners"`
	Upstreams    map[string]UpstreamConfig `yaml:"upstreams"`
}

// LogConfig sets the structured log.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// ListenerConfig is one address and what happens to its connections: relay
// to an upstream group, route by the first bytes, or serve a built-in.
type ListenerConfig struct {
	Name           string        `yaml:"name"`
	Listen         string        `yaml:"listen"`
	Upstream       string        `yaml:"upstream"`
	Routes         []RouteConfig `yaml:"routes"`
	Serve          string        `yaml:"serve"`
	Protocol       string        `yaml:"protocol"`
	HashTag        string        `yaml:"hash_tag"`
	Filters        FilterConfig  `yaml:"filters"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	// ResponseTimeout bounds the wait for an upstream's response head
	// (protocol: http).
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// ReadTimeout bounds every wait for upstream bytes, response head and
	// body alike (protocol: http), as nginx's proxy_read_timeout.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// ClientBodyTimeout bounds every wait for request body bytes from the
	// client (protocol: http), as nginx's client_body_timeout.
	ClientBodyTimeout time.Duration `yaml:"client_body_timeout"`
	// SendTimeout closes a client that takes none of a congested
	// response for that long (protocol: http).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// AccessLog writes a line per proxied request (protocol: http) to
	// stdout, stderr or a file opened for appending, in the log format;
	// SIGUSR1 reopens files, for rotation. Empty: no access log.
	AccessLog    string        `yaml:"access_log"`
	PeekTimeout  time.Duration `yaml:"peek_timeout"`
	PeekMaxBytes int           `yaml:"peek_max_bytes"`
	MaxSessions  int           `yaml:"max_sessions"`
	SessionIdle  time.Duration `yaml:"session_idle"`
}

// RouteConfig sends streams whose first bytes match to an upstream group.
// A route with neither sni nor prefix is the default.
//
// On a listener with protocol: http, a route matches requests by host
// (empty: any) and path_prefix instead, and the listener's upstream takes
// the requests no route matches.
type RouteConfig struct {
	SNI        []string `yaml:"sni"`
	Prefix     []string `yaml:"prefix"`
	Host       string   `yaml:"host"`
	PathPrefix string   `yaml:"path_prefix"`
	Upstream   string   `yaml:"upstream"`
}

// FilterConfig holds the connection filters that run before any byte is
// read.
type FilterConfig struct {
	Allow         []string `yaml:"allow"`
	Deny          []string `yaml:"deny"`
	MaxConns      int      `yaml:"max_conns"`
	MaxConnsPerIP int      `yaml:"max_conns_per_ip"`
	RatePerIP     float64  `yaml:"rate_per_ip"`
	BurstPerIP    int      `yaml:"burst_per_ip"`
}

// UpstreamConfig is a group of endpoints balanced round robin.
type UpstreamConfig struct {
	Endpoints   []string      `yaml:"endpoints"`
	FailTimeout time.Duration `yaml:"fail_timeout"`
	// Names and Weights place Redis keys as twemproxy's server lines
	// "host:port:weight name" do.
	Names   []string `yaml:"names"`
	Weights []int    `yaml:"weights"`
}

// builtins are the handlers a listener can serve instead of relaying.
var builtins = map[string]bool{"echo": true, "discard": true, "http": true}

// ConfigError lists every problem found in a config, each with its line.
type ConfigError struct {
	File     string
	Problems []Problem
}

// Problem is one error in a config: where it is and what is wrong.
type Problem struct {
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// ParseConfig reads, checks and returns a config. name labels errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	cerr := &ConfigError{File: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		cerr.Problems = append(cerr.Problems, yamlProblems(err)...)
		return nil, cerr
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		cerr.Problems = append(cerr.Problems, yamlProblems(err)...)
		return nil, cerr
	}
	v := validator{root: &root, err: cerr}
	v.check(cfg)
	if len(cerr.Problems) > 0 {
		sort.SliceStable(cerr.Problems, func(i, j int) bool { return cerr.Problems[i].Line < cerr.Problems[j].Line })
		return nil, cerr
	}
	cfg.defaults()
	return cfg, nil
}

// yamlProblems turns yaml's errors ("line 3: field x not found in type
// main.ListenerConfig") into Problems that name the key.
func yamlProblems(err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
		}
		if f, ok := strings.CutPrefix(p.Msg, "field "); ok {
			if k, _, ok := strings.Cut(f, " not found in type"); ok {
				p.Key, p.Msg = k, "unknown key"
			}
		}
		p.Msg = strings.ReplaceAll(p.Msg, "main.", "")
		out = append(out, p)
	}
	return out
}

func (c *Config) defaults() {
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Name == "" {
			l.Name = l.Listen
		}
		l.Listen = withScheme(l.Listen)
	}
}

// withScheme makes a bare host:port a TCP listen URL.
func withScheme(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "tcp://" + addr
}

type validator struct {
	root *yaml.Node
	err  *ConfigError
}

// add records a problem at the YAML node that path leads to (the nearest
// existing ancestor when the key is missing).
func (v *validator) add(path string, format string, args ...any) {
	v.err.Problems = append(v.err.Problems, Problem{Line: yamlpath.Line(v.root, path), Key: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) check(c *Config) {
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		v.add("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		v.add("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
	if c.Loops < 0 {
		v.add("loops", "must not be negative")
	}
	if len(c.Listeners) == 0 {
		v.add("listeners", "at least one listener is needed")
	}
	for name, u := range c.Upstreams {
		key := "upstreams." + name
		if len(u.Endpoints) == 0 {
			v.add(key+".endpoints", "an upstream group needs at least one endpoint")
		}
		if len(u.Names) > 0 && len(u.Names) != len(u.Endpoints) {
			v.add(key+".names", "%d names for %d endpoints", len(u.Names), len(u.Endpoints))
		}
		if len(u.Weights) > 0 && len(u.Weights) != len(u.Endpoints) {
			v.add(key+".weights", "%d weights for %d endpoints", len(u.Weights), len(u.Endpoints))
		}
		for i, w := range u.Weights {
			if w <= 0 {
				v.add(fmt.Sprintf("%s.weights[%d]", key, i), "a weight must be positive")
			}
		}
		for i, ep := range u.Endpoints {
			if path, ok := strings.CutPrefix(ep, "unix:"); ok && path != "" {
				continue
			}
			if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
				v.add(fmt.Sprintf("%s.endpoints[%d]", key, i), "%q is not host:port or unix:/path", ep)
			}
		}
	}
	seen := map[string]string{}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		v.checkListener(c, key, l)
		addr := withScheme(l.Listen)
		if prev, dup := seen[addr]; dup {
			v.add(key+".listen", "%s is also used by %s", l.Listen, prev)
		}
		seen[addr] = key
	}
}

func (v *validator) checkListener(c *Config, key string, l ListenerConfig) {
	if l.Listen == "" {
		v.add(key+".listen", "missing (for example tcp://127.0.0.1:8000)")
		return
	}
	network := "tcp"
	u := withScheme(l.Listen)
	scheme, rest, _ := strings.Cut(u, "://")
	switch scheme {
	case "tcp", "tcp4", "tcp6":
	case "udp", "udp4", "udp6":
		network = "udp"
	case "unix":
		network = "unix"
	default:
		v.add(key+".listen", "unknown scheme %q (want tcp://, udp:// or unix://)", scheme)
		return
	}
	if network != "unix" {
		host, _, err := net.SplitHostPort(rest)
		if err != nil {
			v.add(key+".listen", "%q: %v", l.Listen, err)
		} else if host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				v.add(key+".listen", "listen host must be an IP address, not %q", host)
			}
		}
	}
	modes := 0
	for _, set := range []bool{l.Upstream != "", len(l.Routes) > 0, l.Serve != ""} {
		if set {
			modes++
		}
	}
	switch {
	case l.Protocol == "http":
		if l.Serve != "" || l.Upstream == "" && len(l.Routes) == 0 {
			v.add(key, "an HTTP proxy needs an upstream (the default group), routes, or both")
		}
	case modes != 1:
		v.add(key, "set exactly one of upstream, routes or serve")
	}
	if l.Upstream != "" {
		v.checkGroup(c, key+".upstream", l.Upstream)
	}
	switch l.Protocol {
	case "":
	case "redis":
		if network != "tcp" && network != "unix" {
			v.add(key+".protocol", "the Redis proxy needs a TCP or unix listener")
		}
		if l.Upstream == "" {
			v.add(key+".upstream", "the Redis proxy needs an upstream group of shards")
		}
	case "http":
		if network != "tcp" && network != "unix" {
			v.add(key+".protocol", "the HTTP proxy needs a TCP or unix listener")
		}
	default:
		v.add(key+".protocol", "unknown protocol %q (want http or redis, or leave it out to relay bytes)", l.Protocol)
	}
	if l.AccessLog != "" {
		switch {
		case l.Protocol != "http":
			v.add(key+".access_log", "access logs are for protocol: http listeners")
		case l.AccessLog == "stdout" || l.AccessLog == "stderr":
		default:
			if fi, err := os.Stat(filepath.Dir(l.AccessLog)); err != nil || !fi.IsDir() {
				v.add(key+".access_log", "the directory of %q does not exist", l.AccessLog)
			}
		}
	}
	if l.HashTag != "" && (l.Protocol != "redis" || len(l.HashTag) != 2) {
		v.add(key+".hash_tag", "a hash tag is two characters, such as \"{}\", for protocol: redis")
	}
	if l.Serve != "" && !builtins[l.Serve] {
		v.add(key+".serve", "unknown built-in %q (want echo, discard or http)", l.Serve)
	}
	if len(l.Routes) > 0 && network != "tcp" && l.Protocol != "http" {
		v.add(key+".routes", "routes need a TCP listener: they peek at a byte stream")
	}
	for j, r := range l.Routes {
		rk := fmt.Sprintf("%s.routes[%d]", key, j)
		if l.Protocol == "http" {
			if len(r.SNI) > 0 || len(r.Prefix) > 0 {
				v.add(rk, "HTTP routes match host and path_prefix, not sni or prefix")
			}
			if r.Upstream == "" {
				v.add(rk+".upstream", "missing")
			} else {
				v.checkGroup(c, rk+".upstream", r.Upstream)
			}
			if r.PathPrefix != "" && r.PathPrefix[0] != '/' {
				v.add(rk+".path_prefix", "a path prefix starts with /")
			}
			continue
		}
		if r.Host != "" || r.PathPrefix != "" {
			v.add(rk, "host and path_prefix are for protocol: http routes")
		}
		if len(r.SNI) > 0 && len(r.Prefix) > 0 {
			v.add(rk, "set sni or prefix, not both")
		}
		if r.Upstream == "" {
			v.add(rk+".upstream", "missing")
		} else {
			v.checkGroup(c, rk+".upstream", r.Upstream)
		}
		if len(r.SNI) == 0 && len(r.Prefix) == 0 && j != len(l.Routes)-1 {
			v.add(rk, "a default route (no sni, no prefix) must come last")
		}
	}
	for j, p := range l.Filters.Allow {
		if _, err := parsePrefix(p); err != nil {
			v.add(fmt.Sprintf("%s.filters.allow[%d]", key, j), "%v", err)
		}
	}
	for j, p := range l.Filters.Deny {
		if _, err := parsePrefix(p); err != nil {
			v.add(fmt.Sprintf("%s.filters.deny[%d]", key, j), "%v", err)
		}
	}
	f := l.Filters
	if f.MaxConns < 0 || f.MaxConnsPerIP < 0 || f.RatePerIP < 0 || f.BurstPerIP < 0 {
		v.add(key+".filters", "limits must not be negative")
	}
	if network != "udp" && (l.MaxSessions != 0 || l.SessionIdle != 0) {
		v.add(key, "max_sessions and session_idle apply to udp listeners only")
	}
	if l.PeekMaxBytes < 0 || l.MaxSessions < 0 {
		v.add(key, "limits must not be negative")
	}
}

func (v *validator) checkGroup(c *Config, key, name string) {
	if _, ok := c.Upstreams[name]; !ok {
		v.add(key, "no upstream group named %q", name)
	}
}

// parsePrefix accepts a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
