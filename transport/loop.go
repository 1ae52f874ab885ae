package transport

import (
	"context"
	"fmt"
	"log/slog"
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
}

func (l *EventLoop) timerSlot() *atomic.Pointer[loopTimers] { return &l.timers }

// Execute runs fn on the event loop. It is safe from any goroutine.
func (l *EventLoop) Execute(fn func()) bool {
	err := l.gl.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		defer l.recoverPanic()
		fn()
		return nil
	}))
	return err == nil
}

// recoverPanic keeps a panicking loop task from taking the process down.
func (l *EventLoop) recoverPanic() {
	if r := recover(); r != nil {
		l.tr.log.Error("loop task panicked", "panic", fmt.Sprint(r))
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
			slog.Default().Error("loop task panicked", "panic", fmt.Sprint(r))
		}
	}()
	fn()
}
