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
// queue empties, so an idle stream holds none.
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
		w.buf, w.off, w.spare = nil, 0, nil
		w.mu.Unlock()
		return false, err
	}
	if len(p) > 0 {
		w.buf = append(w.buf, p...)
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
	w.buf = append(w.buf, p...)
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
	w.buf, w.off, w.spare = nil, 0, nil
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
			w.buf, w.spare = nil, nil
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
			w.buf, w.spare = nil, nil
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
			w.buf, w.off, w.spare = nil, 0, nil
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
		w.buf, w.off = nil, 0
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
		w.buf, w.off, w.spare = nil, 0, nil
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
