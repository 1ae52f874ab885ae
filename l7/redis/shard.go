package redis

// This file is a shard connection: one loop's pipelined connection to one
// Redis server, connected on first use, with the slots whose replies it
// owes in request order, and errors for them when it cannot connect or
// the connection is lost.

import (
	"errors"
	"net"
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
	wbuf    []byte
	dirty   bool
	// delivered counts the bytes the stream handed to OnData, which is
	// about what the shard sent when no input is handed over twice.
	delivered int64
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
	sh.delivered += int64(len(in))
	if len(sh.pending) > 0 {
		sh.pending = grow(sh.pending, len(in), sh.ls.p.pendingCap)
		sh.pending = append(sh.pending, in...)
		off := sh.replies(s, sh.pending, true)
		if off < 0 {
			return len(in)
		}
		sh.pending = keepRest(sh.pending, off)
		sh.ls.flush()
		return len(in)
	}
	off := sh.replies(s, in, false)
	if off < 0 {
		return len(in)
	}
	if len(in)-off >= takeOver {
		sh.pending = append(sh.pending[:0], in[off:]...)
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
	}
	return off
}

// grow makes room in buf for n more bytes, doubling rather than growing by
// append's quarter so that a large message is copied about once as it
// builds up, but not far past limit (the longest one the limits accept).
func grow(buf []byte, n, limit int) []byte {
	need := len(buf) + n
	if need <= cap(buf) {
		return buf
	}
	return append(make([]byte, 0, max(need, min(2*cap(buf)+n, limit))), buf...)
}

// keepRest drops the first off bytes of a pending buffer and returns what
// is left at its start; a buffer grown large for one message is let go
// once what is left is small.
func keepRest(buf []byte, off int) []byte {
	rest := buf[off:]
	switch {
	case len(rest) == 0 && cap(buf) > maxKeptPending:
		return nil
	case len(rest) == 0:
		return buf[:0]
	case off == 0:
		return buf
	case cap(buf) > maxKeptPending && len(rest) < takeOver:
		return append([]byte(nil), rest...)
	}
	return buf[:copy(buf, rest)]
}

func (sh *shard) OnReadEOF(s transport.Stream) { _ = s.Close() }
func (sh *shard) OnDrained(transport.Stream)   {}

func (sh *shard) OnClose(s transport.Stream, err error) {
	if sh.s != s {
		return
	}
	sh.s = nil
	sh.pending = nil
	msg := "closed"
	if err != nil {
		msg = err.Error()
	}
	sh.ls.p.log.Warn("redis shard connection lost", "shard", sh.addr, "err", msg)
	sh.failAll("ERR connection to shard " + sh.addr + " lost")
	sh.ls.flush()
}
