package redis

// This file is a client connection's handler: it parses the client's
// requests as they arrive, answers the ones the proxy serves itself, sends
// the others to their shards, split by key where the command allows, and
// writes the replies back in request order.

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/transport"
)

// client is one client connection's handler.
type client struct {
	p       *Proxy
	ls      *loopState
	s       transport.Stream
	cmd     resp.Command
	q       []*slot
	head    int
	out     []byte
	req     []byte
	shardOf []int
	// pending holds input the client took over from the stream: an
	// unfinished request of takeOver bytes or more, and what was read after
	// it. The stream hands unconsumed input back ahead of each read by
	// copying all of it, so a large request left there would be copied
	// again on every read; here each read is appended once. While pending
	// holds bytes, every read is appended to it and served from it.
	pending []byte
	// sent is how much of the large reply (or, for parts, of the part
	// numbered part) at the head of q is written; stalled says the stream
	// stopped taking it, and OnDrained goes on.
	sent, part int
	stalled    bool
	dirty      bool
	paused     bool
	kicked     bool // a task to serve pending after a resume is queued
	quit       bool // QUIT was served: the rest of the input is ignored
	authed     bool // the client sent AUTH with the password
	// lending is set while servePending serves pending, whose buffer a
	// shard may then take for a request that fills it; lent says one did.
	lending, lent bool
	eof           bool // the client sent EOF: serve what came before it, then close
	broken        bool
	closed        bool
}

const (
	// takeOver is the size from which an unfinished request is kept in
	// client.pending rather than left with the stream, which copies what
	// it is left on every read.
	takeOver = 4 << 10
	// maxKeptPending is the most capacity pending keeps once it no longer
	// holds a large request.
	maxKeptPending = 64 << 10
	// largePiece is how much of a large reply is written at a time.
	largePiece = 256 << 10
	// maxKeptKeys is the most keys whose storage a client or a free slot
	// keeps for the next split command.
	maxKeptKeys = 4096
)

func (c *client) OnData(s transport.Stream, in []byte) int {
	if c.broken || c.quit {
		return len(in)
	}
	if len(c.pending) > 0 {
		// The unfinished request starts pending, so Need is its length.
		c.pending = c.ls.grow(c.pending, len(in), c.cmd.Need())
		c.pending = append(c.pending, in...)
		c.servePending()
		return len(in)
	}
	off := c.serve(in)
	if len(in)-off >= takeOver && !c.paused && !c.broken && !c.quit {
		// An unfinished request, large enough that the stream's copying
		// of it on every read would cost more than keeping it here. The
		// loop's spare buffer takes it whole when it is big enough for
		// what the request announced: memory already held, so a client
		// announcing a length makes the proxy allocate nothing for it.
		rest := in[off:]
		size := len(rest)
		if need := c.cmd.Need(); need > size && cap(c.ls.spare) >= need+maxKeptPending {
			size = need + maxKeptPending // room for what follows, as grow leaves
		}
		c.pending = c.ls.hold(c.pending, rest, size)
		off = len(in)
	}
	c.endEvent()
	return off
}

// serve decodes and dispatches the requests at the start of in and returns
// the bytes it consumed: up to the first unfinished request, or to where
// MaxPending paused the client, or all of in after QUIT or a protocol
// error.
func (c *client) serve(in []byte) int {
	off := 0
	for off < len(in) {
		if len(c.q)-c.head >= c.p.cfg.MaxPending {
			c.paused = true
			c.s.PauseRead()
			break
		}
		// Decode resumes a request left unfinished by the last call, which
		// comes back at the start of in, so a request that arrives in many
		// reads is not parsed again from its start on each.
		n, err := c.cmd.Decode(in[off:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			// As redis-server: answer the protocol error, then close.
			c.local(resp.AppendProtocolError(nil, err))
			c.broken = true
			return len(in)
		}
		c.dispatch(in[off : off+n])
		off += n
		if c.quit || c.broken {
			return len(in)
		}
	}
	return off
}

// servePending serves the requests in pending and keeps what is left of
// it: an unfinished request, or requests MaxPending held back.
func (c *client) servePending() {
	c.lending = true
	off := c.serve(c.pending)
	c.lending = false
	switch {
	case c.lent:
		// The request that filled pending went to its shard with the
		// buffer; pending is now the shard's old one, empty.
		c.lent = false
	case c.broken || c.quit || c.eof && !c.paused:
		// Nothing left to serve: an unfinished request after EOF never
		// finishes.
		c.pending = c.ls.keepRest(c.pending, len(c.pending))
	default:
		// off is 0 while one request is still arriving, so each byte
		// moves at most once.
		c.pending = c.ls.keepRest(c.pending, off)
	}
	c.endEvent()
}

// resumed serves, from a loop task, what pending holds once the client is
// read again: the stream delivers only new input.
func (c *client) resumed() {
	if len(c.pending) == 0 || c.kicked {
		return
	}
	c.kicked = true
	c.ls.loop.Execute(func() {
		c.kicked = false
		if c.closed || c.paused || c.broken || c.quit || len(c.pending) == 0 {
			return
		}
		c.servePending()
	})
}

func (c *client) endEvent() {
	c.markDirty()
	c.ls.flush()
}

func (c *client) markDirty() {
	if !c.dirty {
		c.dirty = true
		c.ls.dirtyClients = append(c.ls.dirtyClients, c)
	}
}

// push queues sl for the client's replies, in request order.
func (c *client) push(sl *slot) {
	sl.refs++
	c.q = append(c.q, sl)
}

// local queues a reply the proxy makes itself.
func (c *client) local(reply []byte) {
	sl := c.ls.newSlot(c, 0)
	sl.reply = append(sl.reply[:0], reply...)
	sl.done = true
	c.push(sl)
}

func (c *client) dispatch(raw []byte) {
	args := c.cmd.Args()
	if len(args) == 0 {
		// An empty request (an empty line, *0): redis-server skips it,
		// twemproxy closes the connection, and so does the proxy.
		c.refuse("empty request")
		return
	}
	name := c.cmd.Name()
	spec, known := commands[string(name)]
	switch {
	case known && !spec.fits(len(args)):
		// As twemproxy: a request it cannot parse for its keys closes
		// the connection, without a reply.
		c.refuse("wrong number of arguments")
		return
	case spec.kind == kindQuit:
		// As twemproxy: no reply, the connection closes once the replies
		// before it are out.
		c.quit = true
		return
	case spec.kind == kindAuth:
		c.auth(args[1:])
		return
	case c.p.cfg.Password != "" && !c.authed:
		c.local(resp.AppendError(nil, "NOAUTH Authentication required."))
		return
	}
	switch spec.kind {
	case 0:
		c.local(resp.AppendError(nil, fmt.Sprintf("ERR unsupported command '%s'", printable(name))))
	case kindRefuse:
		c.refuse("command refused")
	case kindPing:
		if len(args) > 1 {
			c.local(resp.AppendBulk(nil, args[1]))
		} else {
			c.local(resp.AppendSimple(nil, "PONG"))
		}
	case kindSingle, kindEval, kindNoKey:
		var key []byte
		switch spec.kind {
		case kindSingle:
			key = args[1]
		case kindEval:
			key = args[3]
		}
		sl := c.ls.newSlot(c, kindSingle)
		c.push(sl)
		sh := c.ls.shards[c.p.pick(key)]
		if c.lending && len(raw) >= takeOver && len(raw) == len(c.pending) && &raw[0] == &c.pending[0] {
			// A large request that fills pending: the shard may take the
			// buffer rather than a copy of it.
			if back, ok := sh.enqueueOwned(sl, c.pending); ok {
				c.pending, c.lent = back, true
				return
			}
		}
		sh.enqueue(sl, raw)
	case kindMGet, kindSum:
		c.split(spec.kind, name, args[1:], 1)
	case kindMSet:
		c.split(spec.kind, name, args[1:], 2)
	}
}

// refuse ends the connection as twemproxy does for a request it will not
// serve: no reply to it, the replies before it written, then the close.
func (c *client) refuse(why string) {
	c.p.log.Debug("redis client refused", "client", c.s.RemoteAddr(), "why", why, "command", printable(c.cmd.Name()))
	c.broken = true
}

// auth answers AUTH password or AUTH user password, as twemproxy does for
// its redis_auth: a wrong password also undoes an earlier AUTH.
func (c *client) auth(args [][]byte) {
	want := c.p.cfg.Password
	if want == "" {
		c.local(resp.AppendError(nil, "ERR Client sent AUTH, but no password is set"))
		return
	}
	pass := args[len(args)-1]
	ok := subtle.ConstantTimeCompare(pass, []byte(want)) == 1
	if len(args) == 2 {
		user := c.p.cfg.User
		if user == "" {
			user = "default"
		}
		ok = ok && string(args[0]) == user
	}
	c.authed = ok
	if ok {
		c.local(resp.AppendSimple(nil, "OK"))
		return
	}
	c.local(resp.AppendError(nil, "WRONGPASS invalid username-password pair or user is disabled."))
}

// split sends a multi-key command as one command per shard holding some of
// its keys; step is 2 for key-value pairs.
func (c *client) split(kind cmdKind, name []byte, args [][]byte, step int) {
	parent := c.ls.newSlot(c, kind)
	c.push(parent)
	parent.waiting = 1
	nkeys := len(args) / step
	if kind == kindMGet {
		if cap(parent.vals) >= nkeys {
			parent.vals = parent.vals[:nkeys]
		} else {
			parent.vals = make([][]byte, nkeys)
		}
	}
	shardOf := slices.Grow(c.shardOf[:0], nkeys)
	for i := range nkeys {
		shardOf = append(shardOf, c.p.pick(args[i*step]))
	}
	c.shardOf = shardOf
	for sh := range c.ls.shards {
		child := (*slot)(nil)
		req := c.req[:0]
		n := 0
		for i := range nkeys {
			if shardOf[i] != sh {
				continue
			}
			if child == nil {
				child = c.ls.newSlot(nil, kind)
				child.parent = parent
				parent.waiting++
			}
			child.pos = append(child.pos, i)
			n++
		}
		if child == nil {
			continue
		}
		if size := c.splitSize(name, args, child.pos, step); size > maxKeptPending && cap(req) < size {
			// Sized once rather than grown by append: a large MSET's
			// values are copied once.
			c.ls.give(req)
			req = c.ls.take(size)
		}
		req = resp.AppendArrayHeader(req, 1+n*step)
		req = resp.AppendBulk(req, name)
		for _, i := range child.pos {
			req = resp.AppendBulk(req, args[i*step])
			if step == 2 {
				req = resp.AppendBulk(req, args[i*step+1])
			}
		}
		if len(req) >= takeOver {
			// A large request: the shard may take the buffer rather than
			// a copy, giving its own for the next one.
			if back, ok := c.ls.shards[sh].enqueueOwned(child, req); ok {
				c.req = back
				continue
			}
		}
		c.req = req
		c.ls.shards[sh].enqueue(child, req)
	}
	parent.childDone()
	// Keep no huge command's scratch for the connection's life.
	if cap(c.shardOf) > maxKeptKeys {
		c.shardOf = nil
	}
	if cap(c.req) > maxKeptPending {
		c.ls.give(c.req)
		c.req = nil
	}
}

// splitSize bounds the length of the request split makes for the keys at
// pos: each argument with room for its header.
func (c *client) splitSize(name []byte, args [][]byte, pos []int, step int) int {
	size := 32 + len(name)
	for _, i := range pos {
		for _, a := range args[i*step : i*step+step] {
			size += len(a) + 24
		}
	}
	return size
}

// flush writes the replies that are ready, in request order.
func (c *client) flush() {
	if c.closed {
		return
	}
	for c.head < len(c.q) && c.q[c.head].done {
		sl := c.q[c.head]
		if !c.writeReply(sl) {
			c.stalled = true
			return // OnDrained goes on
		}
		c.q[c.head] = nil
		c.head++
		sl.c = nil
		c.ls.release(sl)
	}
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	} else if c.head > 1024 && c.head*2 > len(c.q) {
		n := copy(c.q, c.q[c.head:])
		c.q, c.head = c.q[:n], 0
	}
	if len(c.out) > 0 {
		_, _ = c.s.Write(c.out)
		c.out = c.out[:0]
	}
	if c.head == len(c.q) && (c.broken || c.quit || c.eof && len(c.pending) == 0) {
		_ = c.s.CloseWrite()
		return
	}
	if c.paused && len(c.q)-c.head < c.p.cfg.MaxPending/2 && c.s.Writable() {
		c.paused = false
		c.s.ResumeRead()
		c.resumed()
	}
}

// writeReply writes sl's reply, or queues it in out when it is small, and
// reports whether all of it went; if not, c.part and c.sent say how far it
// got. A large reply is written from the slot, a piece at a time as the
// client takes it: copied neither into out (which would stay that large)
// nor whole into the stream's queue. An MGET with large values (parts)
// is written as its header and then each value from where it lies, never
// assembled.
func (c *client) writeReply(sl *slot) bool {
	if !sl.parts {
		return c.writeSegment(sl.reply)
	}
	for ; c.part <= len(sl.vals); c.part++ {
		seg := sl.reply // the array header
		if c.part > 0 {
			seg = sl.vals[c.part-1]
		}
		if !c.writeSegment(seg) {
			return false
		}
	}
	c.part = 0
	return true
}

// writeSegment queues seg in out when it is small; when it is large, it
// writes out and then seg from c.sent, as far as the stream takes it.
func (c *client) writeSegment(seg []byte) bool {
	if len(seg) < takeOver {
		if len(c.out) >= largePiece {
			// Many small parts: out goes in pieces too, and stays small.
			_, _ = c.s.Write(c.out)
			c.out = c.out[:0]
		}
		c.out = append(c.out, seg...)
		return true
	}
	if len(c.out) > 0 {
		_, _ = c.s.Write(c.out)
		c.out = c.out[:0]
	}
	return c.writeLarge(seg)
}

// writeLarge writes what is left of reply from c.sent, in pieces while the
// stream stays under its high watermark, and reports whether all of it is
// out; if not, OnDrained calls flush to go on.
func (c *client) writeLarge(reply []byte) bool {
	for c.sent < len(reply) {
		if !c.s.Writable() {
			return false
		}
		end := min(len(reply), c.sent+largePiece)
		if _, err := c.s.Write(reply[c.sent:end]); err != nil {
			return true // closed: OnClose releases the rest
		}
		c.sent = end
	}
	c.sent = 0
	return true
}

func (c *client) OnReadEOF(s transport.Stream) {
	c.eof = true
	if len(c.pending) > 0 && !c.paused && !c.broken && !c.quit {
		c.servePending() // requests held back before the EOF
	}
	if c.head == len(c.q) && len(c.pending) == 0 {
		_ = s.CloseWrite()
	}
}

func (c *client) OnDrained(s transport.Stream) {
	if c.stalled {
		c.stalled = false
		c.flush()
	}
	if c.paused && len(c.q)-c.head < c.p.cfg.MaxPending/2 {
		c.paused = false
		s.ResumeRead()
		c.resumed()
	}
}

func (c *client) OnClose(transport.Stream, error) {
	c.closed = true
	c.pending = nil
	for i := c.head; i < len(c.q); i++ {
		sl := c.q[i]
		sl.c = nil
		c.ls.release(sl)
	}
	c.q, c.head = nil, 0
}

// printable keeps a command name safe to echo in an error line.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}
