package redis

// This file is the state the proxy keeps per event loop. Every client and
// shard connection of a loop runs on it, so they share this state without
// locks; only finding it for a new client takes the Proxy's mutex.

import "github.com/penstock-proxy/penstock/transport"

// loopState is what one loop shares between its clients: its shard
// connections and the lists of what to flush after an event.
type loopState struct {
	p      *Proxy
	loop   transport.Loop
	shards []*shard
	// dirty are the shards with requests to write and the clients with
	// replies to write, flushed once per event.
	dirtyShards  []*shard
	dirtyClients []*client
	free         []*slot
	// spare is a large buffer the next large message may reuse, let go
	// by spareTimer after spareFor unused (buffers.go).
	spare      []byte
	spareTimer *transport.Timer
}

func (p *Proxy) loopState(loop transport.Loop) *loopState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.loops[loop]
	if ls == nil {
		ls = &loopState{p: p, loop: loop}
		for i, srv := range p.cfg.Servers {
			ls.shards = append(ls.shards, &shard{ls: ls, idx: i, addr: srv.Addr})
		}
		p.loops[loop] = ls
	}
	return ls
}

func (ls *loopState) flush() {
	for len(ls.dirtyShards) > 0 || len(ls.dirtyClients) > 0 {
		for i, sh := range ls.dirtyShards {
			sh.dirty = false
			sh.flush()
			ls.dirtyShards[i] = nil
		}
		ls.dirtyShards = ls.dirtyShards[:0]
		for i, c := range ls.dirtyClients {
			c.dirty = false
			c.flush()
			ls.dirtyClients[i] = nil
		}
		ls.dirtyClients = ls.dirtyClients[:0]
	}
}
