package transport

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// errWouldBlock is what a tlsWire's Read returns on the loop when it has no
// ciphertext: the error a socket gives on an expired read deadline. It is a
// net.Error whose Temporary is true, which crypto/tls returns to its caller
// without poisoning the connection (crypto/tls's readRecordOrCCS; net/http's
// own HTTPS server relies on the same behaviour when it sets a past read
// deadline on a *tls.Conn and keeps using it).
var errWouldBlock error = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

// tlsWire is the net.Conn under the tls.Conn of a TLS stream. It has two
// phases.
//
// During the handshake, which runs on a goroutine of its own, Read blocks
// until the loop feeds ciphertext (feed) or the handshake is ended (kill),
// and Write appends to an outbox that a loop task writes to the stream. The
// goroutine's result is posted to the same outbox (post), so the task that
// writes the handshake's last bytes is the one that switches the stream to
// the loop phase: no record written after the switch can overtake one the
// handshake queued.
//
// On the loop, after the switch, Read hands out the ciphertext the stream
// delivered and then errWouldBlock, and Write writes to the stream at once;
// no goroutine touches the wire any more.
//
// The deadline methods do nothing: crypto/tls's Close and CloseWrite call
// SetWriteDeadline, and the stream's own timers bound every wait.
type tlsWire struct {
	raw          Stream
	laddr, raddr net.Addr // cached: the handshake goroutine may ask

	// Handshake phase, under mu.
	mu       sync.Mutex
	cond     sync.Cond
	hsIn     []byte // ciphertext fed by the loop, not read yet
	hsOut    []byte // handshake records for the loop to write
	hsEOF    bool   // the peer sent EOF
	dead     error  // the handshake was ended: Read and Write fail with it
	posted   bool   // the goroutine posted its result
	result   error
	flushing bool // a flush task is queued
	// onFlush runs on the loop with the records to write and, once the
	// goroutine has posted, its result. Set before the handshake starts.
	onFlush func(out []byte, posted bool, result error)

	// records counts the records crypto/tls has taken whole through
	// Read (recLeft and hdr follow the record in progress, from the
	// connection's first byte on), less the reads that returned data:
	// when it is 0 and nothing waits in in, a read could only block.
	// The handshake goroutine updates it under mu, the loop after.
	records int
	recLeft int // bytes of the record in progress still to come
	hdrN    int // bytes of its header seen, while it is incomplete
	hdr     [recordHeader]byte

	// Loop phase, loop only.
	live bool
	in   []byte // ciphertext to read: borrowed from OnData, or own
	own  []byte // leftover ciphertext the wire keeps
	eof  bool
}

func newTLSWire(raw Stream) *tlsWire {
	w := &tlsWire{raw: raw, laddr: raw.LocalAddr(), raddr: raw.RemoteAddr()}
	w.cond.L = &w.mu
	return w
}

// Read implements net.Conn for crypto/tls.
func (w *tlsWire) Read(p []byte) (int, error) {
	if w.live {
		if len(w.in) == 0 {
			if w.eof {
				return 0, io.EOF
			}
			return 0, errWouldBlock
		}
		n := copy(p, w.in)
		w.frame(w.in[:n])
		w.in = w.in[n:]
		return n, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.hsIn) == 0 && !w.hsEOF && w.dead == nil {
		w.cond.Wait()
	}
	if w.dead != nil {
		return 0, w.dead
	}
	if len(w.hsIn) == 0 {
		return 0, io.EOF
	}
	n := copy(p, w.hsIn)
	w.frame(p[:n])
	w.hsIn = w.hsIn[:copy(w.hsIn, w.hsIn[n:])]
	return n, nil
}

// recordHeader is the size of a TLS record's header: type, version,
// length.
const recordHeader = 5

// frame follows the record framing over b, the next bytes crypto/tls
// reads, and counts the records it completes. It jumps by record
// lengths: a few steps per record, not per byte.
func (w *tlsWire) frame(b []byte) {
	for len(b) > 0 {
		if w.recLeft > 0 {
			k := min(w.recLeft, len(b))
			w.recLeft -= k
			b = b[k:]
			if w.recLeft == 0 {
				w.records++
			}
			continue
		}
		k := copy(w.hdr[w.hdrN:], b)
		w.hdrN += k
		b = b[k:]
		if w.hdrN == recordHeader {
			w.hdrN = 0
			w.recLeft = int(w.hdr[3])<<8 | int(w.hdr[4])
			if w.recLeft == 0 {
				w.records++
			}
		}
	}
}

// Write implements net.Conn for crypto/tls.
func (w *tlsWire) Write(p []byte) (int, error) {
	if w.live {
		return w.raw.Write(p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead != nil {
		return 0, w.dead
	}
	w.hsOut = append(w.hsOut, p...)
	w.scheduleLocked()
	return len(p), nil
}

// feed hands the handshake ciphertext from the loop. Loop only.
func (w *tlsWire) feed(p []byte, eof bool) {
	w.mu.Lock()
	w.hsIn = append(w.hsIn, p...)
	w.hsEOF = w.hsEOF || eof
	w.mu.Unlock()
	w.cond.Broadcast()
}

// kill ends the handshake: the goroutine's Read and Write fail with err.
// Safe from any goroutine.
func (w *tlsWire) kill(err error) {
	w.mu.Lock()
	if w.dead == nil {
		w.dead = err
	}
	w.mu.Unlock()
	w.cond.Broadcast()
}

// post is the handshake goroutine's last touch: its result, behind the
// records it wrote.
func (w *tlsWire) post(err error) {
	w.mu.Lock()
	w.posted, w.result = true, err
	w.scheduleLocked()
	w.mu.Unlock()
}

// scheduleLocked queues one flush task unless one is queued: the task
// takes everything queued when it runs, so tasks never reorder records
// even though Loop.Execute does not promise order.
func (w *tlsWire) scheduleLocked() {
	if w.flushing {
		return
	}
	w.flushing = true
	w.raw.Loop().Execute(w.flushTask)
}

// flushTask runs on the loop: it takes everything queued.
func (w *tlsWire) flushTask() {
	w.mu.Lock()
	out := w.hsOut
	w.hsOut = nil
	posted, result := w.posted, w.result
	w.flushing = false
	w.mu.Unlock()
	w.onFlush(out, posted, result)
}

// goLive switches to the loop phase, keeping the ciphertext fed but not
// read by the handshake. Loop only, after the goroutine posted.
func (w *tlsWire) goLive() {
	w.mu.Lock()
	w.live = true
	w.own = append(w.own[:0], w.hsIn...)
	w.in = w.own
	w.eof = w.hsEOF
	w.hsIn, w.hsOut = nil, nil
	w.mu.Unlock()
}

func (w *tlsWire) Close() error {
	if w.live {
		return w.raw.Close()
	}
	w.kill(net.ErrClosed)
	return nil
}

func (w *tlsWire) LocalAddr() net.Addr              { return w.laddr }
func (w *tlsWire) RemoteAddr() net.Addr             { return w.raddr }
func (w *tlsWire) SetDeadline(time.Time) error      { return nil }
func (w *tlsWire) SetReadDeadline(time.Time) error  { return nil }
func (w *tlsWire) SetWriteDeadline(time.Time) error { return nil }
