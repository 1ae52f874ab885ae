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
