package redis

// This file is a shard connection: one loop's pipelined connection to one
// Redis server, connected on first use, with the slots whose replies it
// owes in request order, and errors for them when it cannot connect or
// the connection is lost.

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/resp"
	"github.com/penstock-proxy/penstock/transport"
)

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
	scan resp.Scanner
	// pending holds a reply of takeOver bytes or more that is still
	// arriving, and what came after it: as on the client side, the stream
	// would copy unconsumed input again on every read, so a large reply
	// is taken over and each read appended to it once.
	pending []byte
	// wbuf holds requests not yet written, from woff on: a large one is
	// written a piece at a time as the shard takes it, not queued whole
	// in the stream.
	wbuf  []byte
	woff  int
	dirty bool
	// delivered counts the bytes the stream handed to OnData, which is
	// about what the shard sent when no input is handed over twice.
	delivered int64
	// timer bounds the wait for the oldest reply in flight when
	// Config.Timeout is set; nil until then.
	timer *transport.Timer
}

// enqueue sends req (copied) for sl, connecting first if needed.
func (sh *shard) enqueue(sl *slot, req []byte) {
	if sh.s == nil && !sh.connecting {
		if sh.ls.p.cfg.RetryAfter > 0 && time.Now().Before(sh.downUntil) {
			sl.fail("ERR " + sh.lastErr)
			return
		}
		sh.connect()
	}
	sh.push(sl)
	sh.wbuf = append(sh.wbuf, req...)
	sh.markDirty()
}

// enqueueOwned is enqueue for a request that fills buf, which the shard
// takes as its write buffer rather than copying the request into its own,
// when it is connected and nothing else waits to be written. It then
// returns its old buffer, emptied, for the caller to use instead, and
// true; otherwise the caller keeps buf and calls enqueue.
func (sh *shard) enqueueOwned(sl *slot, buf []byte) ([]byte, bool) {
	if sh.s == nil || len(sh.wbuf) != 0 {
		return nil, false
	}
	sh.push(sl)
	old := sh.wbuf[:0]
	sh.wbuf, sh.woff = buf, 0
	sh.markDirty()
	return old, true
}

// markDirty lists the shard for the write at the end of the event.
func (sh *shard) markDirty() {
	if !sh.dirty {
		sh.dirty = true
		sh.ls.dirtyShards = append(sh.ls.dirtyShards, sh)
	}
}

// push queues sl for the shard's next reply, stamped for the timeout.
func (sh *shard) push(sl *slot) {
	sl.refs++
	if t := sh.ls.p.cfg.Timeout; t > 0 {
		sl.sent = transport.Clock()
		if sh.head == len(sh.inflight) {
			if sh.timer == nil {
				sh.timer = transport.NewTimer(sh.ls.loop, sh.checkTimeout)
			}
			sh.timer.Reset(t)
		}
	}
	sh.inflight = append(sh.inflight, sl)
}

// checkTimeout runs when the oldest request in flight may have waited for
// its reply past Config.Timeout. If it has, the connection is given up as
// twemproxy gives it up: every request on it answered "Connection timed
// out" and the connection closed, so that no late reply can be taken for
// a later request's.
func (sh *shard) checkTimeout() {
	if sh.head == len(sh.inflight) {
		return
	}
	t := sh.ls.p.cfg.Timeout
	if sh.s == nil {
		sh.timer.Reset(t) // connecting: ConnectTimeout bounds that
		return
	}
	if age := transport.Clock() - sh.inflight[sh.head].sent; age < t {
		sh.timer.Reset(t - age)
		return
	}
	sh.ls.p.log.Warn("redis shard timed out; reconnecting", "shard", sh.addr, "timeout", t, "in_flight", len(sh.inflight)-sh.head)
	s := sh.s
	sh.s, sh.pending = nil, nil
	sh.failAll("ERR Connection timed out")
	_ = s.Close()
	sh.ls.flush()
}

func (sh *shard) flush() {
	if sh.s == nil || sh.woff == len(sh.wbuf) {
		return
	}
	for sh.woff < len(sh.wbuf) && sh.s.Writable() {
		end := min(len(sh.wbuf), sh.woff+largePiece)
		if _, err := sh.s.Write(sh.wbuf[sh.woff:end]); err != nil {
			return // closed: OnClose fails what is in flight
		}
		sh.woff = end
	}
	switch {
	case sh.woff == len(sh.wbuf):
		// All out; a buffer grown for a large request is let go.
		sh.wbuf, sh.woff = sh.ls.keepRest(sh.wbuf, len(sh.wbuf)), 0
	case sh.woff >= len(sh.wbuf)/2:
		// OnDrained goes on. What was written is dropped once it is half
		// the buffer, so that a shard that never quite catches up does not
		// make it grow without end.
		sh.wbuf = sh.wbuf[:copy(sh.wbuf, sh.wbuf[sh.woff:])]
		sh.woff = 0
	}
}

func (sh *shard) connect() {
	sh.connecting = true
	if p := sh.ls.p; p.helloN > 0 {
		// AUTH and SELECT go first; their replies are the proxy's.
		for range p.helloN {
			sh.push(sh.ls.newSlot(nil, kindSwallow))
		}
		sh.wbuf = append(sh.wbuf, p.hello...)
	}
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
	sh.lastErr = errorText(err)
	sh.downUntil = time.Now().Add(sh.ls.p.cfg.RetryAfter)
	sh.ls.p.log.Warn("redis shard unavailable", "shard", sh.addr, "err", err)
	sh.failAll("ERR " + sh.lastErr)
	sh.ls.flush()
}

// errorText words a shard's connection error as twemproxy does, which
// clients of it match: the C library's text for a system error, capital
// first ("Connection refused", "Connection reset by peer", "Broken pipe",
// "Connection timed out").
func errorText(err error) string {
	var errno syscall.Errno
	var ne net.Error
	switch {
	case err == nil || errors.Is(err, io.EOF):
		return "Connection closed by server"
	case errors.As(err, &errno):
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "Connection timed out"
	}
	return err.Error()
}

// failAll answers every request in flight with an error.
func (sh *shard) failAll(msg string) {
	sh.wbuf, sh.woff = sh.ls.keepRest(sh.wbuf, len(sh.wbuf)), 0
	for i := sh.head; i < len(sh.inflight); i++ {
		sl := sh.inflight[i]
		sh.inflight[i] = nil
		sl.fail(msg)
		sh.ls.release(sl)
	}
	sh.inflight, sh.head = sh.inflight[:0], 0
}

func (sh *shard) OnData(s transport.Stream, in []byte) int {
	sh.delivered += int64(len(in))
	if len(sh.pending) > 0 {
		sh.pending = sh.ls.grow(sh.pending, len(in), sh.scan.Need())
		sh.pending = append(sh.pending, in...)
		off := sh.replies(s, sh.pending, true)
		if off < 0 {
			return len(in)
		}
		sh.pending = sh.ls.keepRest(sh.pending, off)
		sh.ls.flush()
		return len(in)
	}
	off := sh.replies(s, in, false)
	if off < 0 {
		return len(in)
	}
	if rest := in[off:]; len(rest) >= takeOver {
		// Sized for the whole reply when its header says how long it is:
		// a shard's reply is not grown step by step, each step a copy and
		// a zeroed buffer, as a client's request is (a client could
		// announce a length and send nothing).
		size := len(rest)
		if need := sh.scan.Need(); need > size {
			size = min(need+maxKeptPending, sh.ls.p.pendingCap)
		}
		sh.pending = sh.ls.hold(sh.pending, rest, size)
		off = len(in)
	}
	sh.ls.flush()
	return off
}

// replies completes a slot for each whole reply at the start of in and
// returns the bytes they took, or -1 after closing the connection for a
// bad or unexpected reply. own says in is sh.pending, whose storage a
// reply that fills all of it can be handed to its slot instead of copied.
func (sh *shard) replies(s transport.Stream, in []byte, own bool) int {
	off := 0
	for off < len(in) {
		n, err := sh.scan.Scan(in[off:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil || sh.head == len(sh.inflight) {
			sh.ls.p.log.Error("redis shard sent a bad or unexpected reply; reconnecting", "shard", sh.addr, "err", err)
			_ = s.Close()
			return -1
		}
		sl := sh.inflight[sh.head]
		sh.inflight[sh.head] = nil
		sh.head++
		if sl.kind == kindSwallow {
			if reply := in[off : off+n]; resp.IsError(reply) {
				sh.ls.p.log.Error("redis shard refused the proxy's AUTH or SELECT; its replies will say why", "shard", sh.addr,
					"reply", printable(reply[1:len(reply)-2]))
			}
			sh.ls.release(sl)
			off += n
			continue
		}
		if own && off == 0 && n == len(in) {
			// One large reply and nothing after it: the slot (or its
			// parent) takes the buffer rather than a copy, and pending
			// becomes what the slot gives back. Nothing of the new
			// pending is consumed.
			sh.pending = sl.completeOwned(in)
			sh.ls.release(sl)
			off = 0
			break
		}
		sl.complete(in[off : off+n])
		sh.ls.release(sl)
		off += n
	}
	if sh.head == len(sh.inflight) {
		sh.inflight, sh.head = sh.inflight[:0], 0
		if sh.timer != nil {
			sh.timer.Disarm()
		}
	}
	return off
}

func (sh *shard) OnReadEOF(s transport.Stream) { _ = s.Close() }
func (sh *shard) OnDrained(transport.Stream)   { sh.flush() }

func (sh *shard) OnClose(s transport.Stream, err error) {
	if sh.s != s {
		return
	}
	sh.s = nil
	sh.pending = nil
	msg := errorText(err)
	sh.ls.p.log.Warn("redis shard connection lost", "shard", sh.addr, "err", msg)
	sh.failAll("ERR " + msg)
	sh.ls.flush()
}
