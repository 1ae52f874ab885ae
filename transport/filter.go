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

	total    atomic.Int64
	rejected [numReasons]atomic.Uint64
	admitted atomic.Uint64

	mu     sync.Mutex
	perIP  map[netip.Addr]*ipState
	sweeps int
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
	ip := ci.Remote.Addr().Unmap()
	for _, p := range f.Deny {
		if p.Contains(ip) {
			return f.reject(ReasonDenied), nil
		}
	}
	if len(f.Allow) > 0 {
		allowed := false
		for _, p := range f.Allow {
			if p.Contains(ip) {
				allowed = true
				break
			}
		}
		if !allowed {
			return f.reject(ReasonNotAllowed), nil
		}
	}
	if f.MaxConns > 0 && f.total.Load() >= int64(f.MaxConns) {
		return f.reject(ReasonGlobalCap), nil
	}
	if f.MaxConnsPerIP > 0 || f.RatePerIP > 0 {
		if r := f.admitIP(ip, time.Now()); r != ReasonNone {
			return f.reject(r), nil
		}
	}
	if f.Func != nil {
		if err := f.Func(ci); err != nil {
			f.releaseIP(ip)
			return f.reject(ReasonFunc), err
		}
	}
	if f.MaxConns > 0 && f.total.Add(1) > int64(f.MaxConns) {
		f.total.Add(-1)
		f.releaseIP(ip)
		return f.reject(ReasonGlobalCap), nil
	} else if f.MaxConns <= 0 {
		f.total.Add(1)
	}
	f.admitted.Add(1)
	return ReasonNone, nil
}

func (f *Filters) reject(r Reason) Reason {
	f.rejected[r].Add(1)
	return r
}

func (f *Filters) admitIP(ip netip.Addr, now time.Time) Reason {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perIP == nil {
		f.perIP = make(map[netip.Addr]*ipState)
	}
	st := f.perIP[ip]
	if st == nil {
		f.sweepLocked(now)
		st = &ipState{tokens: f.burst(), last: now}
		f.perIP[ip] = st
	}
	if f.MaxConnsPerIP > 0 && st.conns >= f.MaxConnsPerIP {
		return ReasonPerIPCap
	}
	if f.RatePerIP > 0 {
		st.tokens = min(f.burst(), st.tokens+now.Sub(st.last).Seconds()*f.RatePerIP)
		st.last = now
		if st.tokens < 1 {
			return ReasonPerIPRate
		}
		st.tokens--
	}
	st.conns++
	return ReasonNone
}

func (f *Filters) burst() float64 {
	if f.BurstPerIP > 0 {
		return float64(f.BurstPerIP)
	}
	if f.RatePerIP < 1 {
		return 1
	}
	return float64(int(f.RatePerIP + 0.999))
}

// sweepLocked drops idle per-IP entries now and then, so that the map holds
// only sources with open connections or a rate bucket still refilling.
func (f *Filters) sweepLocked(now time.Time) {
	f.sweeps++
	if f.sweeps < 1024 {
		return
	}
	f.sweeps = 0
	for ip, st := range f.perIP {
		if st.conns == 0 && (f.RatePerIP <= 0 || now.Sub(st.last).Seconds()*f.RatePerIP >= f.burst()) {
			delete(f.perIP, ip)
		}
	}
}

func (f *Filters) releaseIP(ip netip.Addr) {
	if f.MaxConnsPerIP <= 0 && f.RatePerIP <= 0 {
		return
	}
	f.mu.Lock()
	if st := f.perIP[ip]; st != nil && st.conns > 0 {
		st.conns--
		if st.conns == 0 && f.RatePerIP <= 0 {
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
