// Package redis is a sharding Redis proxy on the event loop, a drop-in for
// twemproxy: keys are placed with ketama over fnv1a_64 exactly as
// twemproxy places them for the same server list, so a deployment can
// switch without moving data. Pipelining is kept (replies go back in
// request order), MGET, MSET, DEL, EXISTS, UNLINK and TOUCH are split
// across shards and answered as one, and a command the proxy cannot place
// gets a RESP error. A shard that is down answers its keys with errors and
// is tried again after RetryAfter.
//
// Every client and shard connection of one event loop lives on that loop:
// each loop keeps one pipelined connection per shard, shared by its
// clients, as twemproxy does per worker.
//
// A client's requests are parsed as they arrive, a request that spans many
// reads resuming where the last read stopped, so a request costs time in
// proportion to its size and a client trickling a huge one cannot starve
// the others on its loop. Config.Limits bounds what a client may send, with
// the defaults of redis-server: an argument of at most 512 MiB
// (proto-max-bulk-len), at most 1,048,576 arguments, an array request of at
// most 1 GiB (client-query-buffer-limit, which bounds what the proxy holds
// of a client's unfinished request) and an inline request of at most 64
// KiB. A client that exceeds a limit, or sends malformed input, gets
// "-ERR Protocol error: ..." as from redis-server, after the replies to its
// earlier requests; then the proxy closes its side of the connection and
// discards whatever else the client sends. Other clients are unaffected.
package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
)

// Config configures a Proxy.
type Config struct {
	// Servers are the shards in twemproxy's order; placement depends on
	// their names (or addresses) and weights, as in twemproxy.
	Servers []l4.KetamaServer
	// HashTag, two characters such as "{}", hashes only the part of a key
	// between them when present (twemproxy's hash_tag).
	HashTag string
	// ConnectTimeout bounds a shard connect (default 1s).
	ConnectTimeout time.Duration
	// RetryAfter is how long a shard whose connect failed answers errors
	// before it is tried again (default 1s).
	RetryAfter time.Duration
	// MaxPending bounds a client's requests in flight; past it the client
	// is not read until replies go out (default 4096).
	MaxPending int
	// Limits bound the requests clients send and the replies shards send;
	// a zero field takes the default of package resp, which is
	// redis-server's: MaxBulk, the longest argument, 512 MiB; MaxArgs, the
	// most arguments of a request, 1,048,576; MaxRequest, the longest
	// array request and so the most the proxy buffers of a client's
	// unfinished request, 1 GiB; MaxInline, the longest inline request or
	// reply line, 64 KiB; MaxDepth, the deepest reply nesting, 64. A
	// deployment whose clients send no huge requests can set MaxRequest
	// far lower to bound the memory one client can hold.
	Limits resp.Limits
	Logger *slog.Logger
}

// Proxy is a sharding Redis proxy. Its Accept method is a
// transport.Listener's Accept func. It is safe from any goroutine.
type Proxy struct {
	cfg    Config
	ketama *l4.Ketama
	log    *slog.Logger
	// pendingCap is the capacity past which a client's pending input is
	// not doubled: the longest request the limits accept, and a read.
	pendingCap int

	mu    sync.Mutex
	loops map[transport.Loop]*loopState
}

// New checks cfg and returns a Proxy. It is safe from any goroutine.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("penstock/redis: no servers")
	}
	if cfg.HashTag != "" && len(cfg.HashTag) != 2 {
		return nil, fmt.Errorf("penstock/redis: hash tag %q must be two characters", cfg.HashTag)
	}
	k, err := l4.NewKetama(cfg.Servers)
	if err != nil {
		return nil, fmt.Errorf("penstock/redis: %w", err)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	maxRequest := cfg.Limits.MaxRequest
	if maxRequest <= 0 {
		maxRequest = resp.DefaultMaxRequest
	}
	pendingCap := int(min(maxRequest, math.MaxInt32)) + maxKeptPending
	return &Proxy{cfg: cfg, ketama: k, log: log, pendingCap: pendingCap, loops: map[transport.Loop]*loopState{}}, nil
}

// Accept serves a client stream. It is loop only: it runs on the stream's
// loop, as a transport.Listener's Accept does.
func (p *Proxy) Accept(s transport.Stream) {
	c := &client{p: p, ls: p.loopState(s.Loop()), s: s}
	c.cmd.Limits = p.cfg.Limits
	s.SetHandler(c)
}

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

// slot is one reply a client waits for, in request order. A split command
// has a parent slot for the client and one child per shard.
type slot struct {
	c      *client
	parent *slot
	kind   cmdKind
	done   bool
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
	*sl = slot{reply: sl.reply[:0], pos: sl.pos[:0], vals: sl.vals[:0]}
	// A slot of a huge command goes back without its storage, so that the
	// free list does not pin it.
	if cap(sl.reply) > maxKeptPending || cap(sl.pos) > maxKeptKeys || cap(sl.vals) > maxKeptKeys {
		*sl = slot{}
	}
	if len(ls.free) < 4096 {
		ls.free = append(ls.free, sl)
	}
}

// complete records a shard's reply (borrowed) for sl.
func (sl *slot) complete(reply []byte) {
	if p := sl.parent; p != nil {
		p.merge(sl, reply)
		return
	}
	sl.reply = append(sl.reply[:0], reply...)
	sl.finish()
}

// fail completes sl with an error reply.
func (sl *slot) fail(msg string) {
	sl.complete(resp.AppendError(nil, msg))
}

func (sl *slot) finish() {
	sl.done = true
	if c := sl.c; c != nil && !c.closed && !c.dirty {
		c.dirty = true
		c.ls.dirtyClients = append(c.ls.dirtyClients, c)
	}
}

// merge folds a child's reply into its parent and finishes the parent when
// the last child is in.
func (p *slot) merge(child *slot, reply []byte) {
	if resp.IsError(reply) {
		if p.err == nil {
			p.err = append([]byte(nil), reply...)
		}
	} else {
		switch p.kind {
		case kindMGet:
			p.mergeArray(child, reply)
		case kindSum:
			if v, _, err := resp.ReadInteger(reply); err == nil {
				p.sum += v
			} else if p.err == nil {
				p.err = resp.AppendError(nil, "ERR unexpected reply from shard")
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

func (p *slot) mergeArray(child *slot, reply []byte) {
	count, _, n, err := resp.ReadArrayHeader(reply)
	if err != nil || count != len(child.pos) {
		if p.err == nil {
			p.err = resp.AppendError(nil, "ERR unexpected reply from shard")
		}
		return
	}
	off := n
	for _, pos := range child.pos {
		m, err := resp.ScanValue(reply[off:], nil)
		if err != nil {
			if p.err == nil {
				p.err = resp.AppendError(nil, "ERR unexpected reply from shard")
			}
			return
		}
		p.vals[pos] = append(p.vals[pos][:0], reply[off:off+m]...)
		off += m
	}
}

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
	dirty   bool
	paused  bool
	kicked  bool // a task to serve pending after a resume is queued
	quit    bool // QUIT was served: the rest of the input is ignored
	eof     bool // the client sent EOF: serve what came before it, then close
	broken  bool
	closed  bool
}

const (
	// takeOver is the size from which an unfinished request is kept in
	// client.pending rather than left with the stream, which copies what
	// it is left on every read.
	takeOver = 4 << 10
	// maxKeptPending is the most capacity pending keeps once it no longer
	// holds a large request.
	maxKeptPending = 64 << 10
	// maxKeptKeys is the most keys whose storage a client or a free slot
	// keeps for the next split command.
	maxKeptKeys = 4096
)

func (c *client) OnData(s transport.Stream, in []byte) int {
	if c.broken || c.quit {
		return len(in)
	}
	if len(c.pending) > 0 {
		if need := len(c.pending) + len(in); need > cap(c.pending) {
			// Double, rather than grow by append's quarter, so that a
			// large request is copied about once as it builds up, but not
			// far past the longest request the limits let it become.
			c.pending = append(make([]byte, 0, max(need, min(2*cap(c.pending)+len(in), c.p.pendingCap))), c.pending...)
		}
		c.pending = append(c.pending, in...)
		c.servePending()
		return len(in)
	}
	off := c.serve(in)
	if len(in)-off >= takeOver && !c.paused && !c.broken && !c.quit {
		// An unfinished request, large enough that the stream's copying
		// of it on every read would cost more than keeping it here.
		c.pending = append(c.pending[:0], in[off:]...)
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
		if c.quit {
			return len(in)
		}
	}
	return off
}

// servePending serves the requests in pending and keeps what is left of
// it: an unfinished request, or requests MaxPending held back.
func (c *client) servePending() {
	off := c.serve(c.pending)
	switch {
	case c.broken || c.quit || off == len(c.pending) || c.eof && !c.paused:
		// Nothing left to serve: an unfinished request after EOF never
		// finishes.
		if cap(c.pending) > maxKeptPending {
			c.pending = nil
		} else {
			c.pending = c.pending[:0]
		}
	case off > 0:
		// Move the rest to the front; off is 0 while one request is still
		// arriving, so each byte moves at most once.
		if rest := c.pending[off:]; cap(c.pending) > maxKeptPending && len(rest) < takeOver {
			c.pending = append([]byte(nil), rest...)
		} else {
			c.pending = c.pending[:copy(c.pending, rest)]
		}
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
	name := c.cmd.Name()
	if len(args) == 0 {
		return // an empty request: redis-server ignores it too
	}
	kind := commands[string(name)]
	switch kind {
	case 0:
		c.local(resp.AppendError(nil, fmt.Sprintf("ERR unsupported command '%s'", printable(name))))
	case kindPing:
		if len(args) > 1 {
			c.local(resp.AppendBulk(nil, args[1]))
		} else {
			c.local(resp.AppendSimple(nil, "PONG"))
		}
	case kindQuit:
		c.local(resp.AppendSimple(nil, "OK"))
		c.quit = true
	case kindSingle:
		if len(args) < 2 {
			c.wrongArgs(name)
			return
		}
		sl := c.ls.newSlot(c, kindSingle)
		c.push(sl)
		c.ls.shards[c.p.pick(args[1])].enqueue(sl, raw)
	case kindMGet, kindSum:
		if len(args) < 2 {
			c.wrongArgs(name)
			return
		}
		c.split(kind, name, args[1:], 1)
	case kindMSet:
		if len(args) < 3 || len(args)%2 == 0 {
			c.wrongArgs(name)
			return
		}
		c.split(kind, name, args[1:], 2)
	}
}

func (c *client) wrongArgs(name []byte) {
	c.local(resp.AppendError(nil, fmt.Sprintf("ERR wrong number of arguments for '%s' command", printable(name))))
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
		req = resp.AppendArrayHeader(req, 1+n*step)
		req = resp.AppendBulk(req, name)
		for _, i := range child.pos {
			req = resp.AppendBulk(req, args[i*step])
			if step == 2 {
				req = resp.AppendBulk(req, args[i*step+1])
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
		c.req = nil
	}
}

func (p *Proxy) pick(key []byte) int {
	return p.ketama.Pick(l4.HashKey(key, p.cfg.HashTag))
}

// flush writes the replies that are ready, in request order.
func (c *client) flush() {
	if c.closed {
		return
	}
	for c.head < len(c.q) && c.q[c.head].done {
		sl := c.q[c.head]
		c.out = append(c.out, sl.reply...)
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

// shard is one loop's pipelined connection to one Redis server.
type shard struct {
	ls         *loopState
	idx        int
	addr       string
	s          transport.Stream
	connecting bool
	downUntil  time.Time
	lastErr    string
	inflight   []*slot
	head       int
	// scan resumes a reply that spans reads where it left off, so a huge
	// reply costs time in proportion to its size.
	scan  resp.Scanner
	wbuf  []byte
	dirty bool
}

// enqueue sends req (copied) for sl, connecting first if needed.
func (sh *shard) enqueue(sl *slot, req []byte) {
	if sh.s == nil && !sh.connecting {
		if time.Now().Before(sh.downUntil) {
			sl.fail("ERR shard " + sh.addr + " unavailable: " + sh.lastErr)
			return
		}
		sh.connect()
	}
	sl.refs++
	sh.inflight = append(sh.inflight, sl)
	sh.wbuf = append(sh.wbuf, req...)
	if !sh.dirty {
		sh.dirty = true
		sh.ls.dirtyShards = append(sh.ls.dirtyShards, sh)
	}
}

func (sh *shard) flush() {
	if sh.s == nil || len(sh.wbuf) == 0 {
		return
	}
	_, _ = sh.s.Write(sh.wbuf)
	sh.wbuf = sh.wbuf[:0]
}

func (sh *shard) connect() {
	sh.connecting = true
	timeout := sh.ls.p.cfg.ConnectTimeout
	loop := sh.ls.loop
	go func() {
		// DialControl refuses the socket near the open-file limit, so the
		// transport keeps descriptors to accept and refuse with.
		nc, err := (&net.Dialer{Timeout: timeout, Control: transport.DialControl}).Dial("tcp", sh.addr)
		if err != nil {
			loop.Execute(func() { sh.connectFailed(err) })
			return
		}
		transport.AttachWait(loop, nc, func(s transport.Stream, err error) {
			if err != nil {
				sh.connectFailed(err)
				return
			}
			sh.connecting = false
			sh.s = s
			sh.scan.Reset()
			sh.scan.Limits = sh.ls.p.cfg.Limits
			s.SetHandler(sh)
			sh.flush()
		})
	}()
}

func (sh *shard) connectFailed(err error) {
	sh.connecting = false
	sh.lastErr = err.Error()
	sh.downUntil = time.Now().Add(sh.ls.p.cfg.RetryAfter)
	sh.ls.p.log.Warn("redis shard unavailable", "shard", sh.addr, "err", err)
	sh.failAll("ERR shard " + sh.addr + " unavailable: " + sh.lastErr)
	sh.ls.flush()
}

// failAll answers every request in flight with an error.
func (sh *shard) failAll(msg string) {
	sh.wbuf = sh.wbuf[:0]
	for i := sh.head; i < len(sh.inflight); i++ {
		sl := sh.inflight[i]
		sh.inflight[i] = nil
		sl.fail(msg)
		sh.ls.release(sl)
	}
	sh.inflight, sh.head = sh.inflight[:0], 0
}

func (sh *shard) OnData(s transport.Stream, in []byte) int {
	off := 0
	for off < len(in) {
		n, err := sh.scan.Scan(in[off:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil || sh.head == len(sh.inflight) {
			sh.ls.p.log.Error("redis shard sent a bad or unexpected reply; reconnecting", "shard", sh.addr, "err", err)
			_ = s.Close()
			return len(in)
		}
		sl := sh.inflight[sh.head]
		sh.inflight[sh.head] = nil
		sh.head++
		sl.complete(in[off : off+n])
		sh.ls.release(sl)
		off += n
	}
	if sh.head == len(sh.inflight) {
		sh.inflight, sh.head = sh.inflight[:0], 0
	}
	sh.ls.flush()
	return off
}

func (sh *shard) OnReadEOF(s transport.Stream) { _ = s.Close() }
func (sh *shard) OnDrained(transport.Stream)   {}

func (sh *shard) OnClose(s transport.Stream, err error) {
	if sh.s != s {
		return
	}
	sh.s = nil
	msg := "closed"
	if err != nil {
		msg = err.Error()
	}
	sh.ls.p.log.Warn("redis shard connection lost", "shard", sh.addr, "err", msg)
	sh.failAll("ERR connection to shard " + sh.addr + " lost")
	sh.ls.flush()
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

var (
	_ transport.Handler = (*client)(nil)
	_ transport.Handler = (*shard)(nil)
)
