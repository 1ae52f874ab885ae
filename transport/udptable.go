package transport

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// udpTable holds every live UDP session of a Transport by listener and
// client, across loops, so that a client has one session however the
// kernel spreads its datagrams over the loops' SO_REUSEPORT sockets. (It
// hashes a client to a loop by the group's size, which changes as session
// sockets join and leave the group, so a client's first datagrams can
// reach two loops before its session's own socket exists.) A loop looks
// here only for a client its own map does not have. It is safe from any
// goroutine; a session found here may be read only for its loop.
type udpTable struct {
	seed   maphash.Seed
	shards [udpTableShards]udpTableShard
}

const udpTableShards = 64

type udpTableShard struct {
	mu sync.Mutex
	m  map[udpKey]*udpSession
	_  [40]byte // keep shards on separate cache lines
}

func newUDPTable() *udpTable {
	t := &udpTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[udpKey]*udpSession{}
	}
	return t
}

func (t *udpTable) shard(k udpKey) *udpTableShard {
	return &t.shards[maphash.Comparable[netip.AddrPort](t.seed, k.client)%udpTableShards]
}

// get returns the session of k, or nil.
func (t *udpTable) get(k udpKey) *udpSession {
	sh := t.shard(k)
	sh.mu.Lock()
	s := sh.m[k]
	sh.mu.Unlock()
	return s
}

// add files s under k unless k has a session already, which it returns.
func (t *udpTable) add(k udpKey, s *udpSession) *udpSession {
	sh := t.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if o := sh.m[k]; o != nil {
		return o
	}
	sh.m[k] = s
	return nil
}

// remove takes s off k, if k still holds it.
func (t *udpTable) remove(k udpKey, s *udpSession) {
	sh := t.shard(k)
	sh.mu.Lock()
	if sh.m[k] == s {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}
