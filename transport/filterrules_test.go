package transport

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// SetRules changes what a Filters admits from the next connection on,
// while connections admitted before keep their admission and count
// toward the new caps; swapping under concurrent admissions is race-free.
func TestFilterRulesSwap(t *testing.T) {
	f := &Filters{}
	ci := func(ip string) ConnInfo { return ConnInfo{Remote: netip.MustParseAddrPort(ip + ":1000")} }
	r, _ := f.Admit(ci("10.0.0.1"))
	require.Equal(t, ReasonNone, r)

	f.SetRules(FilterRules{Deny: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	r, _ = f.Admit(ci("10.0.0.2"))
	require.Equal(t, ReasonDenied, r)
	r, _ = f.Admit(ci("192.0.2.1"))
	require.Equal(t, ReasonNone, r)

	// Two open now (10.0.0.1 and 192.0.2.1): a cap of two refuses a third.
	f.SetRules(FilterRules{MaxConns: 2})
	r, _ = f.Admit(ci("192.0.2.2"))
	require.Equal(t, ReasonGlobalCap, r)
	f.Release(ci("10.0.0.1"))
	r, _ = f.Admit(ci("192.0.2.2"))
	require.Equal(t, ReasonNone, r)

	// Per-source state kept under one rule is released under the next.
	f.SetRules(FilterRules{MaxConnsPerIP: 1})
	r, _ = f.Admit(ci("198.51.100.1"))
	require.Equal(t, ReasonNone, r)
	f.SetRules(FilterRules{})
	f.Release(ci("198.51.100.1"))
	f.SetRules(FilterRules{MaxConnsPerIP: 1})
	r, _ = f.Admit(ci("198.51.100.1"))
	require.Equal(t, ReasonNone, r, "the released connection no longer counts")

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 500 {
				c := ci(netip.AddrFrom4([4]byte{203, 0, 113, byte(i*50 + j%50)}).String())
				if r, _ := f.Admit(c); r == ReasonNone {
					f.Release(c)
				}
				if j%100 == 0 {
					f.SetRules(FilterRules{MaxConnsPerIP: 1 + j%3, RatePerIP: float64(1000 + j)})
				}
			}
		}()
	}
	wg.Wait()
}
