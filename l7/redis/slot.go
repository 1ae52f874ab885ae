package redis

// This file is the slot, one reply a client waits for: taken from and
// given back to its loop's free list, completed by a shard's reply, and,
// for a command split across shards, merged from its children's replies.

import (
	"time"

	"github.com/penstock-proxy/penstock/codecs/resp"
)

// slot is one reply a client waits for, in request order. A split command
// has a parent slot for the client and one child per shard.
type slot struct {
	c      *client
	parent *slot
	kind   cmdKind
	done   bool
	// sent is when the request went to its shard (transport.Clock), for
	// Config.Timeout.
	sent time.Duration
	// refs counts the queues that hold the slot (the client's, a
	// shard's); it returns to the loop's free list at zero.
	refs  int8
	reply []byte
	// Split commands: children still waiting, merged values by key
	// position (MGET), the running sum, and the first error.
	waiting int
	pos     []int
	vals    [][]byte
	sum     int64
	err     []byte
	// shard is a child's shard; errShard the shard whose error err holds.
	shard, errShard int
	// owned are shard buffers an MGET's vals point into, taken whole from
	// the shard rather than copied value by value.
	owned [][]byte
	// parts says the reply is reply (an array header) followed by vals,
	// written as they lie rather than assembled: a large MGET.
	parts bool
}

func (ls *loopState) newSlot(c *client, kind cmdKind) *slot {
	var sl *slot
	if n := len(ls.free); n > 0 {
		sl = ls.free[n-1]
		ls.free = ls.free[:n-1]
	} else {
		sl = &slot{}
	}
	sl.c, sl.kind = c, kind
	return sl
}

func (ls *loopState) release(sl *slot) {
	sl.refs--
	if sl.refs > 0 {
		return
	}
	if sl.owned != nil {
		// vals point into buffers that go with the slot's use.
		clear(sl.vals)
		for i, b := range sl.owned {
			ls.give(b)
			sl.owned[i] = nil
		}
	}
	*sl = slot{reply: sl.reply[:0], pos: sl.pos[:0], vals: sl.vals[:0], owned: sl.owned[:0]}
	// A slot of a huge command goes back without its storage, so that the
	// free list does not pin it.
	if cap(sl.reply) > maxKeptPending || cap(sl.pos) > maxKeptKeys || cap(sl.vals) > maxKeptKeys {
		ls.give(sl.reply)
		*sl = slot{}
	}
	if len(ls.free) < 4096 {
		ls.free = append(ls.free, sl)
	}
}

// complete records a shard's reply (borrowed) for sl.
func (sl *slot) complete(reply []byte) {
	if p := sl.parent; p != nil {
		p.merge(sl, reply, false)
		return
	}
	sl.reply = append(sl.reply[:0], reply...)
	sl.finish()
}

// fail completes sl with an error reply the proxy makes.
func (sl *slot) fail(msg string) {
	if p := sl.parent; p != nil {
		p.setErr(sl, resp.AppendError(nil, msg))
		p.childDone()
		return
	}
	sl.complete(resp.AppendError(nil, msg))
}

// setErr records a child's error for a split command, which answers with
// the error of its lowest-numbered shard, as twemproxy answers with its
// first fragment's.
func (p *slot) setErr(child *slot, reply []byte) {
	if p.err == nil || child.shard < p.errShard {
		p.err = append(p.err[:0], reply...)
		p.errShard = child.shard
	}
}

// invalidArgument is the error of a split command one of whose shards
// answered with an error or with a reply of the wrong type: twemproxy's
// "-ERR Invalid argument" (EINVAL), followed here by what the shard said.
func invalidArgument(reply []byte) []byte {
	msg := "ERR Invalid argument"
	if resp.IsError(reply) && len(reply) > 3 {
		msg += ": " + printable(reply[1:len(reply)-2])
	}
	return resp.AppendError(nil, msg)
}

func (sl *slot) finish() {
	sl.done = true
	if c := sl.c; c != nil && !c.closed && !c.dirty {
		c.dirty = true
		c.ls.dirtyClients = append(c.ls.dirtyClients, c)
	}
}

// completeOwned records a shard's reply for sl, handing the reply's
// storage over to sl or its parent; it returns the storage the shard may
// use instead (possibly nil).
func (sl *slot) completeOwned(reply []byte) []byte {
	p := sl.parent
	if p == nil {
		old := sl.reply[:0]
		sl.reply = reply
		sl.finish()
		return old
	}
	if p.kind == kindMGet && !resp.IsError(reply) {
		p.owned = append(p.owned, reply)
		p.merge(sl, reply, true)
		return nil
	}
	p.merge(sl, reply, false)
	return reply[:0]
}

// merge folds a child's reply into its parent and finishes the parent when
// the last child is in. owned says the parent holds the reply's storage,
// so that MGET values may point into it.
func (p *slot) merge(child *slot, reply []byte, owned bool) {
	if resp.IsError(reply) {
		p.setErr(child, invalidArgument(reply))
	} else {
		switch p.kind {
		case kindMGet:
			p.mergeArray(child, reply, owned)
		case kindSum:
			if v, _, err := resp.ReadInteger(reply); err == nil {
				p.sum += v
			} else {
				p.setErr(child, invalidArgument(reply))
			}
		case kindMSet:
		}
	}
	p.childDone()
}

// childDone counts one child in and, after the last, writes the merged
// reply. split holds one count of its own while it creates the children,
// so a child answered at once cannot finish the parent early.
func (p *slot) childDone() {
	p.waiting--
	if p.waiting > 0 {
		return
	}
	switch {
	case p.err != nil:
		p.reply = append(p.reply[:0], p.err...)
	case p.kind == kindMGet:
		p.reply = resp.AppendArrayHeader(p.reply[:0], len(p.vals))
		size := 0
		for _, v := range p.vals {
			size += len(v)
		}
		if size >= takeOver && p.owned != nil {
			// Values that lie in the shards' buffers are written from
			// there, not copied into one more.
			p.parts = true
			break
		}
		for _, v := range p.vals {
			p.reply = append(p.reply, v...)
		}
	case p.kind == kindSum:
		p.reply = resp.AppendInt(p.reply[:0], p.sum)
	default:
		p.reply = resp.AppendSimple(p.reply[:0], "OK")
	}
	p.finish()
}

func (p *slot) mergeArray(child *slot, reply []byte, owned bool) {
	count, _, n, err := resp.ReadArrayHeader(reply)
	if err != nil || count != len(child.pos) {
		p.setErr(child, invalidArgument(reply))
		return
	}
	off := n
	for _, pos := range child.pos {
		m, err := resp.ScanValue(reply[off:], nil)
		if err != nil {
			p.setErr(child, invalidArgument(reply))
			return
		}
		if owned {
			p.vals[pos] = reply[off : off+m : off+m]
		} else {
			p.vals[pos] = append(p.vals[pos][:0], reply[off:off+m]...)
		}
		off += m
	}
}
