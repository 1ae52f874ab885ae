package l4

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Picker places a key on one of a pool's servers: Pick returns an index
// into the server list the Picker was built from. Ketama, Modula and
// Random are twemproxy's three distributions; their Pick is safe from any
// goroutine.
type Picker interface {
	Pick(key []byte) int
}

var (
	_ Picker = (*Ketama)(nil)
	_ Picker = (*Modula)(nil)
	_ Picker = (*Random)(nil)
)

// NewPicker returns the Picker for twemproxy's distribution name:
// "ketama" (also ""), "modula" or "random". It is safe from any goroutine.
func NewPicker(distribution string, servers []KetamaServer) (Picker, error) {
	switch distribution {
	case "", "ketama":
		return NewKetama(servers)
	case "modula":
		return NewModula(servers)
	case "random":
		return NewRandom(servers)
	}
	return nil, fmt.Errorf("penstock/l4: distribution %q: want ketama, modula or random", distribution)
}

// Modula places keys on servers exactly as twemproxy does for a pool with
//
//	hash: fnv1a_64
//	distribution: modula
//
// The servers, in twemproxy's order (sorted by name as for Ketama: shorter
// names first, then byte by byte), each take as many slots as their
// weight; a key goes to slot hash % slots. Adding or removing a server
// moves most keys, as in twemproxy. A Modula is immutable and safe from
// any goroutine.
type Modula struct {
	slots []int32
}

// NewModula builds twemproxy's modula table for servers. Pick returns
// indexes into servers. Like twemproxy, it refuses two servers with the
// same name. It is safe from any goroutine.
func NewModula(servers []KetamaServer) (*Modula, error) {
	slots, err := weightedSlots("modula", servers)
	if err != nil {
		return nil, err
	}
	return &Modula{slots: slots}, nil
}

// Pick returns the index of the server twemproxy sends key to (key after
// HashKey for a pool with a hash_tag). It allocates nothing and is safe
// from any goroutine.
func (m *Modula) Pick(key []byte) int {
	if len(m.slots) == 1 {
		return int(m.slots[0])
	}
	var hash uint32
	if len(key) > 0 {
		hash = FNV1a64(key)
	}
	return int(m.slots[hash%uint32(len(m.slots))])
}

// Random sends each key to a server picked at random, in proportion to
// the servers' weights, as twemproxy's random distribution does: for pools
// of interchangeable servers (caches, replicas), not for data that must be
// read back where it was written. A Random is safe from any goroutine.
type Random struct {
	slots []int32
}

// NewRandom returns a Random over servers. It is safe from any goroutine.
func NewRandom(servers []KetamaServer) (*Random, error) {
	slots, err := weightedSlots("random", servers)
	if err != nil {
		return nil, err
	}
	return &Random{slots: slots}, nil
}

// Pick returns a random server's index; key is not looked at. It is safe
// from any goroutine.
func (r *Random) Pick([]byte) int {
	if len(r.slots) == 1 {
		return int(r.slots[0])
	}
	return int(r.slots[rand.IntN(len(r.slots))])
}

// weightedSlots is twemproxy's table for modula and random: the servers in
// its order, each taking as many slots as its weight.
func weightedSlots(what string, servers []KetamaServer) ([]int32, error) {
	order, _, err := twemproxyOrder(what, servers, 1<<20)
	if err != nil {
		return nil, err
	}
	var slots []int32
	for _, i := range order {
		for range servers[i].Weight {
			slots = append(slots, int32(i))
		}
	}
	return slots, nil
}

// twemproxyOrder checks servers as twemproxy's configuration does and
// returns their indexes in its order, sorted by name (shorter names first,
// then byte by byte; conf_validate_server), with their names. The total
// weight may not pass maxTotal.
func twemproxyOrder(what string, servers []KetamaServer, maxTotal uint64) (order []int, names []string, err error) {
	if len(servers) == 0 {
		return nil, nil, fmt.Errorf("penstock/l4: %s: no servers", what)
	}
	names = make([]string, len(servers))
	var total uint64
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, nil, fmt.Errorf("penstock/l4: %s: server %d (%s): weight %d is not positive", what, i, s.Addr, s.Weight)
		}
		total += uint64(s.Weight)
		if total > maxTotal {
			return nil, nil, fmt.Errorf("penstock/l4: %s: total weight exceeds %d", what, maxTotal)
		}
		name, err := s.continuumName()
		if err != nil {
			return nil, nil, fmt.Errorf("penstock/l4: %s: server %d: %w", what, i, err)
		}
		names[i] = name
	}
	order = make([]int, len(servers))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(len(names[a]), len(names[b])), strings.Compare(names[a], names[b]))
	})
	for i := 1; i < len(order); i++ {
		if names[order[i-1]] == names[order[i]] {
			return nil, nil, fmt.Errorf("penstock/l4: %s: servers %d and %d have the same name %q", what, order[i-1], order[i], names[order[i]])
		}
	}
	return order, names, nil
}
