package l4

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Endpoint is one upstream address with its passive health.
type Endpoint struct {
	// Addr is host:port, or unix:/path for a unix socket.
	Addr string
	// TLS, when set, is the client configuration every connection to the
	// endpoint speaks TLS with (its ServerName is the name sent and
	// verified). Set it before the endpoint serves (Group.SetTLS) and do
	// not change it after: a keep-alive pool keys on the endpoint, so one
	// endpoint's connections are all alike (address, SNI, client
	// certificate, verification).
	TLS *tls.Config
	// downUntil is the UnixNano time before which a failed endpoint is
	// tried only after the healthy ones.
	downUntil atomic.Int64
	failures  atomic.Uint64
}

// Network returns the endpoint's network and address for net.Dial.
func (e *Endpoint) Network() (network, addr string) {
	if path, ok := strings.CutPrefix(e.Addr, "unix:"); ok {
		return "unix", path
	}
	return "tcp", e.Addr
}

// Failures reports the connect failures seen on the endpoint. It is safe
// from any goroutine.
func (e *Endpoint) Failures() uint64 { return e.failures.Load() }

// Healthy reports whether the endpoint has had no connect failure within
// its group's FailTimeout. It is safe from any goroutine.
func (e *Endpoint) Healthy() bool {
	// No clock read for an endpoint without a failure mark, the usual case.
	d := e.downUntil.Load()
	return d == 0 || time.Now().UnixNano() >= d
}

// Group is a named set of upstream endpoints balanced round robin. A
// connect failure marks an endpoint down for FailTimeout: it is then tried
// after the healthy ones, so new connections fail over at once, and it
// takes traffic again when the time is up. A Group is safe from any
// goroutine.
type Group struct {
	Name        string
	Endpoints   []*Endpoint
	FailTimeout time.Duration
	next        atomic.Uint64
}

// SetTLS makes connections to the group's endpoints speak TLS with cfg:
// each endpoint gets its own copy whose ServerName, when cfg has none, is
// the endpoint's host (a name or an IP address, verified as such). A nil
// cfg turns TLS off. Call it before the group serves.
func (g *Group) SetTLS(cfg *tls.Config) {
	for _, e := range g.Endpoints {
		if cfg == nil {
			e.TLS = nil
			continue
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			if host, _, err := net.SplitHostPort(e.Addr); err == nil {
				c.ServerName = host
			}
		}
		e.TLS = c
	}
}

// NewGroup returns a group over addrs, each a host:port.
func NewGroup(name string, addrs ...string) (*Group, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("penstock/l4: upstream group %q has no endpoints", name)
	}
	g := &Group{Name: name, FailTimeout: 10 * time.Second}
	for _, a := range addrs {
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			if path == "" {
				return nil, fmt.Errorf("penstock/l4: upstream group %q: endpoint %q has no path", name, a)
			}
		} else if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("penstock/l4: upstream group %q: endpoint %q: %w", name, a, err)
		}
		g.Endpoints = append(g.Endpoints, &Endpoint{Addr: a})
	}
	return g, nil
}

// Order returns every endpoint once in the order to try them: round robin
// from the next start, healthy ones first.
func (g *Group) Order() []*Endpoint {
	n := len(g.Endpoints)
	out := make([]*Endpoint, 0, n)
	start := int(g.next.Add(1)-1) % n
	var down []*Endpoint
	for i := range n {
		e := g.Endpoints[(start+i)%n]
		if e.Healthy() {
			out = append(out, e)
		} else {
			down = append(down, e)
		}
	}
	return append(out, down...)
}

// Pick returns the next endpoint in round robin order that is healthy and
// not in skip; failing that, the first one not in skip; nil when skip holds
// them all. It allocates nothing and is safe from any goroutine.
func (g *Group) Pick(skip []*Endpoint) *Endpoint {
	n := len(g.Endpoints)
	if n == 0 {
		return nil
	}
	start := int(g.next.Add(1)-1) % n
	var fallback *Endpoint
	for i := range n {
		e := g.Endpoints[(start+i)%n]
		if slices.Contains(skip, e) {
			continue
		}
		if e.Healthy() {
			return e
		}
		if fallback == nil {
			fallback = e
		}
	}
	return fallback
}

// MarkFailed records a connect failure of e.
func (g *Group) MarkFailed(e *Endpoint) {
	e.failures.Add(1)
	e.downUntil.Store(time.Now().Add(g.FailTimeout).UnixNano())
}

// MarkOK clears e's failure mark.
func (g *Group) MarkOK(e *Endpoint) { e.downUntil.Store(0) }

// ErrNoUpstream is returned when every endpoint of a group failed.
var ErrNoUpstream = errors.New("penstock/l4: no upstream reachable")

// NewGroups makes a Group per name of endpoints; failTimeout sets a group's
// FailTimeout where it is positive.
func NewGroups(endpoints map[string][]string, failTimeout map[string]time.Duration) (map[string]*Group, error) {
	groups := make(map[string]*Group, len(endpoints))
	for name, eps := range endpoints {
		g, err := NewGroup(name, eps...)
		if err != nil {
			return nil, err
		}
		if d := failTimeout[name]; d > 0 {
			g.FailTimeout = d
		}
		groups[name] = g
	}
	return groups, nil
}
