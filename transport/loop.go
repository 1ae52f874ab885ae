package transport

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// Loop runs functions one at a time. Every callback of a Stream runs on the
// stream's Loop.
type Loop interface {
	// Execute queues fn to run on the loop. It is safe from any goroutine.
	// It reports false when the loop has stopped and fn will never run.
	// Functions queued from one goroutine are not guaranteed to run in
	// the order queued (gnet moves tasks to a second queue under load):
	// keep one in flight, or make each one check state on the loop.
	Execute(fn func()) bool
}

// EventLoop is a gnet event loop seen through the Loop interface. Streams
// attached to it share its goroutine with every other connection of the
// loop, so its callbacks must never block.
type EventLoop struct {
	gl gnet.EventLoop
	tr *Transport

	// unbound holds the open loop streams that have no gnet connection
	// now (parked, resuming, or still writing after read EOF): gnet's stop
	// closes the others, closeParked these. Loop only.
	unbound map[*loopStream]struct{}
	// udp holds the UDP sessions of this loop by listener and client.
	// Loop only.
	udp map[udpKey]*udpSession
	// tlsBuf takes the plaintext TLS streams read, lent by tlsReadBuf
	// while tlsBusy. Loop only.
	tlsBuf     []byte
	tlsBusy    bool
	tlsRelease func()
	// buf is the loop's scratch buffer for reads it does itself.
	buf []byte
	// dgram takes the datagrams udpConn.drain reads; it is lent to
	// OnData, so nothing else uses it. Loop only.
	dgram []byte
	// The UDP listener that received the last datagram. Loop only.
	lastUDPAddr net.Addr
	lastUDPLn   *listener
	// timers is the loop's timer heap, made on first use.
	timers atomic.Pointer[loopTimers]
	// deferred holds the funcs Defer queued; they run when the outermost
	// callback running (depth deep) returns, or from runFn, the task
	// posted at the end of a turn of a busy loop. Loop only.
	deferred []func()
	depth    int
	posted   bool // runFn is queued: the deferred funcs wait for it
	busy     bool // the last posted task found the loop handling several callbacks a turn
	probe    uint8
	quiet    uint8  // quiet turns in a row of a busy loop
	calls    uint32 // outermost callbacks, counted for busy
	atPost   uint32 // calls when runFn was posted
	runFn    gnet.RunnableFunc
}

func (l *EventLoop) timerSlot() *atomic.Pointer[loopTimers] { return &l.timers }

// Execute runs fn on the event loop. It is safe from any goroutine.
func (l *EventLoop) Execute(fn func()) bool {
	err := l.gl.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		d := l.depth
		l.enter()
		l.call(fn)
		l.depth = d + 1 // a panic may have left a delivery's count behind
		l.leave()
		return nil
	}))
	return err == nil
}

// call runs fn, turning a panic into a log line.
func (l *EventLoop) call(fn func()) {
	defer l.recoverPanic()
	fn()
}

// enter starts a callback of the loop.
func (l *EventLoop) enter() {
	if l.depth++; l.depth == 1 {
		l.calls++
	}
}

// deferProbe is how often (in callbacks that deferred something) a loop
// that is not busy posts runFn anyway, to find out whether it has become
// busy.
const deferProbe = 64

// deferQuiet is how many turns in a row with one event make a busy loop
// quiet again.
const deferQuiet = 16

// leave ends a callback of the loop. The outermost one runs what Defer
// queued meanwhile, now, when the loop is quiet; on a busy loop it posts
// runFn instead, which runs it once the loop has handled the events it
// has in hand, so that the writes of every callback of that turn to one
// connection leave in one send.
func (l *EventLoop) leave() {
	if l.depth--; l.depth > 0 || len(l.deferred) == 0 || l.posted {
		return
	}
	if l.busy || l.probe >= deferProbe {
		l.probe = 0
		if l.post() {
			return
		}
	}
	l.probe++
	l.runDeferred()
}

// post queues runFn; it reports false when the loop has stopped.
func (l *EventLoop) post() bool {
	if l.runFn == nil {
		l.runFn = func(context.Context) error {
			l.posted = false
			// Two callbacks or more between the post and now: the loop
			// has more than one event a turn, and batching pays. It is
			// busy at once, and quiet after deferQuiet quiet turns in a
			// row (one turn with a single event says little under load).
			if l.calls-l.atPost >= 2 {
				l.busy, l.quiet = true, 0
			} else if l.quiet++; l.quiet >= deferQuiet {
				l.busy = false
			}
			l.runDeferred()
			return nil
		}
	}
	l.posted, l.atPost = true, l.calls
	if l.gl.Execute(context.Background(), l.runFn) != nil {
		l.posted = false
		return false
	}
	return true
}

// runDeferred runs the deferred funcs, those they defer in turn too.
func (l *EventLoop) runDeferred() {
	l.depth++
	for i := 0; i < len(l.deferred); i++ {
		fn := l.deferred[i]
		l.deferred[i] = nil
		l.call(fn)
	}
	l.deferred = l.deferred[:0]
	l.depth--
}

// unwind puts the callback depth back to depth, what it was when a
// callback that a panic cut short began (deliveries inside it may have
// left counts behind), and runs what Defer queued when that was the
// outermost callback.
func (l *EventLoop) unwind(depth int) {
	l.depth = depth + 1
	l.leave()
}

// Defer runs fn on loop l soon, on the loop, batched with the other funcs
// deferred meanwhile: once the callback running there now returns (a
// stream's OnData, with what it delivers to other streams' handlers
// meanwhile, TLS plaintext included, or a task of Execute, the Timers'
// funcs among them) while the loop is quiet; once the loop has handled
// the events it has in hand (its turn) while it is busy. Writes that
// several sessions make to one connection in one callback, or in one
// turn under load, thus leave in one send. It costs nothing per call on
// a quiet loop (Execute costs a wake-up of the loop and allocations), and
// one task a turn on a busy one. Loop only; on a Loop other than an
// EventLoop it is Execute. It reports false when fn will never run (the
// loop stopped).
func Defer(l Loop, fn func()) bool {
	el, ok := l.(*EventLoop)
	if !ok {
		return l.Execute(fn)
	}
	el.deferred = append(el.deferred, fn)
	if el.depth == 0 && !el.posted && !el.post() {
		// Outside a callback (OnClose, say) it waits for a task, which a
		// stopped loop will not run.
		el.deferred = el.deferred[:len(el.deferred)-1]
		return false
	}
	return true
}

// recoverPanic keeps a panicking loop task from taking the process down.
func (l *EventLoop) recoverPanic() {
	if r := recover(); r != nil {
		Recovered(l.tr.log, "loop task panicked", r)
	}
}

// SerialLoop is a Loop driven by its own goroutine. It carries detached and
// in-memory streams that are not tied to a gnet event loop, and it is handy
// in tests.
type SerialLoop struct {
	mu      sync.Mutex
	queue   []func()
	running bool
	stopped bool
	timers  atomic.Pointer[loopTimers]
}

func (l *SerialLoop) timerSlot() *atomic.Pointer[loopTimers] { return &l.timers }

// NewSerialLoop returns a SerialLoop that starts a goroutine only while it
// has work.
func NewSerialLoop() *SerialLoop { return &SerialLoop{} }

// Execute queues fn. It is safe from any goroutine.
func (l *SerialLoop) Execute(fn func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, fn)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		go l.run()
	}
	return true
}

// Stop makes later Execute calls fail. Functions already queued still run.
// It is safe from any goroutine.
func (l *SerialLoop) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

func (l *SerialLoop) run() {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.running = false
			l.queue = nil
			l.mu.Unlock()
			return
		}
		fn := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.mu.Unlock()
		runRecovered(fn)
	}
}

// runRecovered runs fn and logs a panic instead of letting it end the
// process: a handler's bug closes at most its own stream.
func runRecovered(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			Recovered(nil, "loop task panicked", r)
		}
	}()
	fn()
}
