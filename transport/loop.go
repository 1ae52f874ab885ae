package transport

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Loop runs functions one at a time. Every callback of a Stream runs on the
// stream's Loop.
type Loop interface {
	// Execute queues fn to run on the loop. It is safe from any goroutine.
	// It reports false when the loop has stopped and fn will never run.
	Execute(fn func()) bool
}

// EventLoop is a gnet event loop seen through the Loop interface. Streams
// attached to it share its goroutine with every other connection of the
// loop, so its callbacks must never block.
type EventLoop struct {
	gl gnet.EventLoop
	tr *Transport

	// streams lists the loop streams that live on this loop, including the
	// parked ones that gnet no longer knows about. Loop only.
	streams map[*loopStream]struct{}
	// udp holds the UDP sessions of this loop by listener and client.
	// Loop only.
	udp map[udpKey]*udpSession
	// buf is the loop's scratch buffer for reads it does itself.
	buf []byte
	// The UDP listener that received the last datagram. Loop only.
	lastUDPAddr net.Addr
	lastUDPLn   *listener
}

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
}

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

// Timer calls a function on a Loop once its time has come. It is the loop's
// replacement for deadlines, which gnet connections do not have. A Timer is
// reused: Reset re-arms it without allocating.
//
// Reset and Disarm are cheap enough to call for every request: the runtime
// timer underneath is moved only when a deadline comes earlier than the
// one it is set for. A later deadline lets it fire early, find the deadline
// ahead and sleep again for the rest, so a connection answering requests
// every few milliseconds with a 60 s idle timeout touches the runtime timer
// about once a minute.
type Timer struct {
	loop  Loop
	fn    func()
	t     *time.Timer
	check func()

	// Loop only. armed: fn is due at deadline. sched: when t fires (0: t
	// is stopped). A fire already on its way when Stop, Disarm or Reset
	// ran finds armed false or a deadline still ahead. Times are
	// monotonic nanoseconds since clockBase.
	armed    bool
	deadline int64
	sched    int64
}

// clockBase anchors monotonicNow: time.Since of a time with a monotonic
// reading costs one clock read, time.Now two.
var clockBase = time.Now()

func monotonicNow() int64 { return int64(time.Since(clockBase)) }

// NewTimer returns a stopped Timer that will run fn on loop. It is safe from
// any goroutine; the Timer's methods are loop only.
func NewTimer(loop Loop, fn func()) *Timer {
	t := &Timer{loop: loop, fn: fn}
	t.check = t.onLoop
	t.t = time.AfterFunc(time.Hour, t.fire)
	t.t.Stop()
	return t
}

// AfterFunc returns a Timer that runs fn on loop after d. Loop only: the
// Timer is armed from the caller's goroutine.
func AfterFunc(loop Loop, d time.Duration, fn func()) *Timer {
	t := NewTimer(loop, fn)
	t.Reset(d)
	return t
}

func (t *Timer) fire() { t.loop.Execute(t.check) }

func (t *Timer) onLoop() {
	t.sched = 0
	if !t.armed {
		return
	}
	if left := t.deadline - monotonicNow(); left > 0 {
		t.t.Reset(time.Duration(left))
		t.sched = t.deadline
		return
	}
	t.armed = false
	t.fn()
}

// Reset makes the timer fire d from now, cancelling an earlier schedule.
// Loop only.
func (t *Timer) Reset(d time.Duration) {
	t.armed = true
	t.deadline = monotonicNow() + int64(d)
	if t.sched == 0 || t.deadline < t.sched {
		t.t.Reset(d)
		t.sched = t.deadline
	}
}

// Disarm cancels the timer as Stop does, but leaves the runtime timer
// running so that a Reset soon after costs nothing; when it fires it does
// nothing. For hot paths that disarm and re-arm per request; call Stop when
// the Timer is done with, so that nothing keeps it (and what fn holds)
// alive until then. Loop only.
func (t *Timer) Disarm() { t.armed = false }

// Stop cancels the timer; fn will not run unless the timer is Reset. Loop
// only.
func (t *Timer) Stop() {
	t.armed = false
	t.sched = 0
	t.t.Stop()
}
