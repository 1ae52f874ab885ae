package transport

import (
	"sync"
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
// blocks in the target's Write (through Go's netpoller) so the event loop
// never does, and it tells the loop through notify when the queue has
// drained or the shutdown it was asked for is done. Its buffers are released
// when the queue empties, so an idle stream holds none.
type asyncWriter struct {
	t      writeTarget
	low    int
	notify func() // schedules the stream's onWriter on its loop

	mu        sync.Mutex
	buf       []byte
	spare     []byte
	inflight  int
	running   bool
	congested bool
	shutReq   bool
	closed    bool
	events    uint8
	err       error
}

// busy reports whether writes must go through the queue to keep their order.
func (w *asyncWriter) busy() bool {
	w.mu.Lock()
	b := w.running || len(w.buf) > 0
	w.mu.Unlock()
	return b
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
	q := len(w.buf) + w.inflight
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
	q := len(w.buf) + w.inflight
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
// when the queue is already empty and the caller must shut down itself.
func (w *asyncWriter) requestShut() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running && len(w.buf) == 0 {
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
	w.buf, w.spare = nil, nil
	w.mu.Unlock()
	_ = w.t.Close()
}

func (w *asyncWriter) run() {
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
