package transport

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// writeTarget is where an asyncWriter's goroutine writes; Write may block.
type writeTarget interface {
	Write(p []byte) (int, error)
	CloseWrite() error
	Close() error
}

// Events an asyncWriter reports to its stream's loop.
const (
	evDrained uint8 = 1 << iota // the queue fell to the low watermark after congestion
	evShut                      // CloseWrite was done after the queue emptied
	evFailed                    // a write or the shutdown failed; see err
)

// asyncWriter owns a stream's write queue whenever the kernel does not take a
// write at once. A goroutine runs only while the queue is non-empty; it
// waits for the socket through Go's netpoller so the event loop never
// blocks, and it tells the loop through notify when the queue has drained or
// the shutdown it was asked for is done. Its buffers are released when the
// queue empties, so an idle stream holds none: they go back to queuePool
// for the next stream that congests.
//
// It works in one of two modes. Over a socket descriptor (newFDWriter, the
// loop streams) every send is a non-blocking send(2) made under mu from the
// queue's head, by the goroutine when the netpoller says the socket is
// writable and by the loop itself in write, before the new bytes: a loop
// that keeps getting input keeps the queue moving without waiting for the Go
// scheduler to poll the network (with one P and a busy loop that is sysmon's
// 10 ms poll), and the order of bytes holds because only the holder of mu
// sends. Over any other writeTarget (the detached streams) the goroutine
// takes the whole queue and blocks in the target's Write.
type asyncWriter struct {
	t      writeTarget
	low    int
	notify func() // schedules the stream's onWriter on its loop

	// fd mode: raw waits for writability; fd is the descriptor sends use
	// (the target's own, valid while !closed under mu).
	raw syscall.RawConn
	fd  int

	mu        sync.Mutex
	buf       []byte
	off       int // fd mode: buf[off:] is what is left to send
	spare     []byte
	inflight  int
	running   bool
	congested bool
	shutReq   bool
	closed    bool
	events    uint8
	err       error
}

// newFDWriter makes an fd-mode asyncWriter that owns f, made from fd, a
// non-blocking socket descriptor (os.NewFile registers it with Go's
// netpoller; f.Fd would not do: it can switch a descriptor to blocking).
func newFDWriter(f fileTarget, fd, low int) (*asyncWriter, error) {
	rc, err := f.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &asyncWriter{t: f, low: low, raw: rc, fd: fd}, nil
}

// busy reports whether output is still queued: in the goroutine's hands
// or (fd mode) not yet taken by the socket.
func (w *asyncWriter) busy() bool {
	w.mu.Lock()
	b := len(w.buf) > w.off || (w.running && w.raw == nil)
	w.mu.Unlock()
	return b
}

// write is the fd mode's Write from the loop while the writer exists: it
// sends what is queued, then p, as far as the socket takes them now, and
// queues the rest. It reports false when the writer is closed or a send
// failed (err then says why; the stream must finish).
func (w *asyncWriter) write(p []byte, high int) (bool, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false, nil
	}
	empty, err := w.flushLocked()
	if err == nil && empty {
		var n int
		n, err = writeFD(w.fd, p)
		p = p[n:]
	}
	if err != nil {
		w.closed = true
		w.dropLocked()
		w.mu.Unlock()
		return false, err
	}
	if len(p) > 0 {
		w.appendLocked(p, high)
	}
	q := len(w.buf) - w.off
	if q > high {
		w.congested = true
	}
	drained := w.congested && q <= w.low
	if drained {
		w.congested = false
		w.events |= evDrained
	}
	start := q > 0 && !w.running
	if start {
		w.running = true
	}
	w.mu.Unlock()
	if start {
		go w.run()
	}
	if drained {
		w.notify()
	}
	return true, nil
}

// flushLocked sends the queue's head without blocking and reports whether
// the queue is empty now. fd mode, w.mu held, !w.closed.
func (w *asyncWriter) flushLocked() (bool, error) {
	if w.off == len(w.buf) {
		return true, nil
	}
	n, err := writeFD(w.fd, w.buf[w.off:])
	w.off += n
	if err != nil {
		return false, err
	}
	if w.off < len(w.buf) {
		return false, nil
	}
	w.buf, w.off = w.buf[:0], 0
	return true, nil
}

// enqueue copies p to the queue and starts the goroutine if needed. It
// reports the queued total and false when the writer is closed.
func (w *asyncWriter) enqueue(p []byte, high int) (int, bool) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, false
	}
	w.appendLocked(p, high)
	q := len(w.buf) - w.off + w.inflight
	if q > high {
		w.congested = true
	}
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.run()
	}
	return q, true
}

// appendLocked copies p to the queue's tail. The queue's buffer comes from
// queuePool when it has none, with room for high and p, so that a queue
// that reaches its high watermark does not grow on the way; a full buffer
// whose head is sent moves its unsent rest to the front before it grows,
// so one that keeps being sent from and written to (the loop's write path)
// stays its size. w.mu held.
func (w *asyncWriter) appendLocked(p []byte, high int) {
	switch {
	case w.buf == nil:
		w.buf = getQueueBuf(high + len(p))
	case w.off > 0 && len(w.buf)+len(p) > cap(w.buf):
		n := copy(w.buf, w.buf[w.off:])
		w.buf, w.off = w.buf[:n], 0
	}
	w.buf = append(w.buf, p...)
}

// dropLocked empties the queue and gives its buffers back to queuePool:
// nothing else refers to them (the goroutine of the non-fd mode holds only
// what it is writing, which is in neither w.buf nor w.spare). w.mu held.
func (w *asyncWriter) dropLocked() {
	putQueueBuf(w.buf)
	putQueueBuf(w.spare)
	w.buf, w.off, w.spare = nil, 0, nil
}

// queuePool recycles write-queue buffers between the congested episodes of
// all streams. A relay whose consumer is slower than its producer fills and
// empties a queue many times a second (once per burst the kernel's send
// buffer does not take); a new buffer for each was most of what congestion
// cost a TLS termination stream: the allocation, then the GC and the
// scavenger giving the memory back (benchmarks/README.md, TLS section).
var queuePool sync.Pool // of *[]byte

// queueBufMax bounds what queuePool keeps: larger buffers (a queue written
// far past its high watermark) are left to the GC.
const queueBufMax = 4 << 20

// getQueueBuf returns an empty buffer with room for n bytes.
func getQueueBuf(n int) []byte {
	if v, ok := queuePool.Get().(*[]byte); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]byte, 0, n)
}

func putQueueBuf(b []byte) {
	if c := cap(b); c == 0 || c > queueBufMax {
		return
	}
	b = b[:0]
	queuePool.Put(&b)
}

func (w *asyncWriter) queued() int {
	w.mu.Lock()
	q := len(w.buf) - w.off + w.inflight
	w.mu.Unlock()
	return q
}

func (w *asyncWriter) isCongested() bool {
	w.mu.Lock()
	c := w.congested
	w.mu.Unlock()
	return c
}

// requestShut asks for CloseWrite once the queue is empty. It reports false
// when the queue is already empty and the caller must shut down itself (in
// fd mode also while the goroutine still waits for a socket the loop has
// written the queue to: nothing of the stream's is left to send).
func (w *asyncWriter) requestShut() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == w.off && (!w.running || w.raw != nil) {
		return false
	}
	w.shutReq = true
	return true
}

// take returns and clears the events reported so far.
func (w *asyncWriter) take() (uint8, error) {
	w.mu.Lock()
	ev, err := w.events, w.err
	w.events = 0
	w.mu.Unlock()
	return ev, err
}

// close drops the queue, unblocks a Write in progress and releases the
// target.
func (w *asyncWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.dropLocked()
	w.mu.Unlock()
	_ = w.t.Close()
}

func (w *asyncWriter) run() {
	if w.raw != nil {
		w.runFD()
		return
	}
	for {
		w.mu.Lock()
		if w.closed {
			w.running = false
			w.mu.Unlock()
			return
		}
		if len(w.buf) == 0 {
			w.running = false
			shut := w.shutReq
			w.shutReq = false
			w.dropLocked()
			w.mu.Unlock()
			if shut {
				w.report(evShut, w.t.CloseWrite())
			}
			return
		}
		b := w.buf
		w.buf, w.spare = w.spare[:0], nil
		w.inflight = len(b)
		w.mu.Unlock()

		_, err := w.t.Write(b)

		w.mu.Lock()
		w.inflight = 0
		if cap(b) <= 1<<20 {
			w.spare = b[:0]
		}
		if err != nil {
			w.running = false
			if w.closed {
				w.mu.Unlock()
				return
			}
			w.closed = true
			w.dropLocked()
			w.mu.Unlock()
			w.report(evFailed, err)
			return
		}
		drained := w.congested && len(w.buf) <= w.low
		if drained {
			w.congested = false
		}
		w.mu.Unlock()
		if drained {
			w.report(evDrained, nil)
		}
	}
}

// runFD is the fd mode's goroutine: it sends the queue's head whenever Go's
// netpoller finds the socket writable, until the queue is empty, and then
// does a shutdown that was asked for.
func (w *asyncWriter) runFD() {
	var ev uint8
	var ferr error
	err := w.raw.Write(func(fd uintptr) bool {
		w.mu.Lock()
		if w.closed {
			w.running = false
			w.mu.Unlock()
			return true
		}
		empty, err := w.flushLocked()
		if err != nil {
			w.running = false
			w.closed = true
			w.dropLocked()
			w.mu.Unlock()
			ev, ferr = evFailed, err
			return true
		}
		if w.congested && len(w.buf)-w.off <= w.low {
			w.congested = false
			ev |= evDrained
		}
		if !empty {
			w.mu.Unlock()
			if ev != 0 {
				w.report(ev, nil)
				ev = 0
			}
			return false // wait until the socket is writable again
		}
		w.running = false
		shut := w.shutReq
		w.shutReq = false
		w.dropLocked()
		w.mu.Unlock()
		if shut {
			ev |= evShut
			if err := unix.Shutdown(int(fd), unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
				ev, ferr = evFailed, err
			}
		}
		return true
	})
	if err != nil && ferr == nil {
		// The descriptor was closed under the wait (close) or the
		// netpoller failed it.
		w.mu.Lock()
		closed := w.closed
		w.running = false
		w.closed = true
		w.dropLocked()
		w.mu.Unlock()
		if closed {
			return
		}
		ev, ferr = evFailed, err
	}
	if ev != 0 {
		w.report(ev, ferr)
	}
}

func (w *asyncWriter) report(ev uint8, err error) {
	w.mu.Lock()
	if err != nil {
		ev = evFailed
		if w.err == nil {
			w.err = err
		}
	}
	w.events |= ev
	w.mu.Unlock()
	w.notify()
}
