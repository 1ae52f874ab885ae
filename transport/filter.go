package transport

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ConnInfo describes a connection (or UDP session) at admission, before any
// of its bytes has been read.
type ConnInfo struct {
	Network  string // "tcp", "udp" or "unix"
	Listener string // the listener's name
	Remote   netip.AddrPort
	Local    netip.AddrPort
}

// Reason says why a connection was refused.
type Reason uint8

// The reasons a Filters refuses a connection, in the order it checks them.
const (
	ReasonNone Reason = iota
	ReasonDenied
	ReasonNotAllowed
	ReasonGlobalCap
	ReasonPerIPCap
	ReasonPerIPRate
	ReasonFunc
	ReasonDraining
	ReasonSessionCap
	// ReasonFDLimit: the process is near its open-file limit (see
	// CheckFD), or a UDP session's socket could not be made.
	ReasonFDLimit
	numReasons
)

var reasonNames = [numReasons]string{
	"none", "denied", "not_allowed", "global_cap", "per_ip_cap", "per_ip_rate", "func", "draining", "session_cap",
	"fd_limit",
}

// String returns the reason's metric label.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Filters decides at accept, before any byte is read, whether a connection
// may proceed. The zero value admits everything. A Filters is safe from any
// goroutine and may be shared by several listeners, which then share its
// counts and caps.
type Filters struct {
	// Allow, when not empty, admits only sources inside one of these
	// prefixes. Deny refuses sources inside any of them, and wins over Allow.
	Allow []netip.Prefix
	Deny  []netip.Prefix
	// MaxConns caps the connections admitted and still open (0: no cap).
	MaxConns int
	// MaxConnsPerIP caps the open connections from one source address.
	MaxConnsPerIP int
	// RatePerIP is the new connections per second one source address may
	// open, with bursts up to BurstPerIP (default: RatePerIP rounded up).
	RatePerIP  float64
	BurstPerIP int
	// Func, when set, runs last; a non-nil error refuses the connection.
	Func func(ci ConnInfo) error

	// rules, once SetRules stored them, replace the fields above.
	rules atomic.Pointer[FilterRules]
	// perIPUsed says admitIP has kept per-source state, which releases
	// must then update whatever the rules are now.
	perIPUsed atomic.Bool

	total    atomic.Int64
	rejected [numReasons]atomic.Uint64
	admitted atomic.Uint64

	mu     sync.Mutex
	perIP  map[netip.Addr]*ipState
	sweeps int
}

// FilterRules are the values of a Filters that may change while it
// serves: the fields of the same names. Counters, open connections and
// per-source state stay with the Filters.
type FilterRules struct {
	Allow, Deny   []netip.Prefix
	MaxConns      int
	MaxConnsPerIP int
	RatePerIP     float64
	BurstPerIP    int
	Func          func(ci ConnInfo) error
}

// SetRules makes r decide every connection from now on, in place of the
// Filters' fields and of rules set before; connections already admitted
// keep their admission (and count toward the new caps). r is copied, and
// its slices must not change afterwards. It is safe from any goroutine, as
// a config reload needs.
func (f *Filters) SetRules(r FilterRules) { f.rules.Store(&r) }

// current returns the rules in force: the last SetRules, else the fields,
// copied into buf.
func (f *Filters) current(buf *FilterRules) *FilterRules {
	if r := f.rules.Load(); r != nil {
		return r
	}
	*buf = FilterRules{Allow: f.Allow, Deny: f.Deny, MaxConns: f.MaxConns, MaxConnsPerIP: f.MaxConnsPerIP,
		RatePerIP: f.RatePerIP, BurstPerIP: f.BurstPerIP, Func: f.Func}
	return buf
}

type ipState struct {
	conns  int
	tokens float64
	last   time.Time
}

// Admit decides on a new connection. On success the caller must call
// Release exactly once when the connection ends. It is safe from any
// goroutine.
func (f *Filters) Admit(ci ConnInfo) (Reason, error) {
	if f == nil {
		return ReasonNone, nil
	}
	var buf FilterRules
	r := f.current(&buf)
	ip := ci.Remote.Addr().Unmap()
	for _, p := range r.Deny {
		if p.Contains(ip) {
			return f.reject(ReasonDenied), nil
		}
	}
	if len(r.Allow) > 0 {
		allowed := false
		for _, p := range r.Allow {
			if p.Contains(ip) {
				allowed = true
				break
			}
		}
		if !allowed {
			return f.reject(ReasonNotAllowed), nil
		}
	}
	if r.MaxConns > 0 && f.total.Load() >= int64(r.MaxConns) {
		return f.reject(ReasonGlobalCap), nil
	}
	if r.MaxConnsPerIP > 0 || r.RatePerIP > 0 {
		if r := f.admitIP(ip, time.Now(), r); r != ReasonNone {
			return f.reject(r), nil
		}
	}
	if r.Func != nil {
		if err := r.Func(ci); err != nil {
			f.releaseIP(ip)
			return f.reject(ReasonFunc), err
		}
	}
	if r.MaxConns > 0 && f.total.Add(1) > int64(r.MaxConns) {
		f.total.Add(-1)
		f.releaseIP(ip)
		return f.reject(ReasonGlobalCap), nil
	} else if r.MaxConns <= 0 {
		f.total.Add(1)
	}
	f.admitted.Add(1)
	return ReasonNone, nil
}

func (f *Filters) reject(r Reason) Reason {
	f.rejected[r].Add(1)
	return r
}

func (f *Filters) admitIP(ip netip.Addr, now time.Time, r *FilterRules) Reason {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perIP == nil {
		f.perIP = make(map[netip.Addr]*ipState)
		f.perIPUsed.Store(true)
	}
	st := f.perIP[ip]
	if st == nil {
		f.sweepLocked(now, r)
		st = &ipState{tokens: r.burst(), last: now}
		f.perIP[ip] = st
	}
	if r.MaxConnsPerIP > 0 && st.conns >= r.MaxConnsPerIP {
		return ReasonPerIPCap
	}
	if r.RatePerIP > 0 {
		st.tokens = min(r.burst(), st.tokens+now.Sub(st.last).Seconds()*r.RatePerIP)
		st.last = now
		if st.tokens < 1 {
			return ReasonPerIPRate
		}
		st.tokens--
	}
	st.conns++
	return ReasonNone
}

func (r *FilterRules) burst() float64 {
	if r.BurstPerIP > 0 {
		return float64(r.BurstPerIP)
	}
	if r.RatePerIP < 1 {
		return 1
	}
	return float64(int(r.RatePerIP + 0.999))
}

// sweepLocked drops idle per-IP entries now and then, so that the map holds
// only sources with open connections or a rate bucket still refilling.
func (f *Filters) sweepLocked(now time.Time, r *FilterRules) {
	f.sweeps++
	if f.sweeps < 1024 {
		return
	}
	f.sweeps = 0
	for ip, st := range f.perIP {
		if st.conns == 0 && (r.RatePerIP <= 0 || now.Sub(st.last).Seconds()*r.RatePerIP >= r.burst()) {
			delete(f.perIP, ip)
		}
	}
}

func (f *Filters) releaseIP(ip netip.Addr) {
	if !f.perIPUsed.Load() {
		return
	}
	var buf FilterRules
	r := f.current(&buf)
	f.mu.Lock()
	if st := f.perIP[ip]; st != nil && st.conns > 0 {
		st.conns--
		if st.conns == 0 && r.RatePerIP <= 0 {
			delete(f.perIP, ip)
		}
	}
	f.mu.Unlock()
}

// Release returns what Admit took for a connection from ci. It is safe from
// any goroutine.
func (f *Filters) Release(ci ConnInfo) {
	if f == nil {
		return
	}
	f.total.Add(-1)
	f.releaseIP(ci.Remote.Addr().Unmap())
}

// Count records a refusal decided outside Admit (draining, session cap).
// It is safe from any goroutine.
func (f *Filters) Count(r Reason) {
	if f != nil && r < numReasons {
		f.rejected[r].Add(1)
	}
}

// FilterStats is a snapshot of a Filters' counters.
type FilterStats struct {
	Admitted uint64
	Open     int64
	Rejected map[string]uint64 // by Reason.String, only non-zero entries
}

// Stats returns the counters. It is safe from any goroutine.
func (f *Filters) Stats() FilterStats {
	st := FilterStats{Rejected: map[string]uint64{}}
	if f == nil {
		return st
	}
	st.Admitted = f.admitted.Load()
	st.Open = f.total.Load()
	for r := Reason(1); r < numReasons; r++ {
		if n := f.rejected[r].Load(); n > 0 {
			st.Rejected[r.String()] = n
		}
	}
	return st
}

// ParsePrefixes parses CIDR prefixes and single addresses (which become
// /32 or /128 prefixes), for filter lists written in configs and specs.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, fmt.Errorf("penstock/transport: %q is not an IP address or CIDR prefix", s)
		}
	}
	return out, nil
}
