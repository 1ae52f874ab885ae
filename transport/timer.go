package transport

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timer calls a function on a Loop once its time has come. It is the loop's
// replacement for deadlines, which gnet connections do not have. A Timer is
// reused: Reset re-arms it without allocating.
//
// The Timers of a Loop share one runtime timer and a heap ordered by when
// they are due, as timers in nginx and HAProxy share one tree per thread: a
// Timer costs a few dozen bytes instead of a runtime timer and its
// callbacks, which matters for idle connections, each holding one.
//
// Reset and Disarm are cheap enough to call for every request: a Timer's
// place in the heap moves only when its deadline comes earlier than the one
// it is filed under. A later deadline lets it come up early, find the
// deadline ahead and be filed again, so a connection answering requests
// every few milliseconds with a 60 s idle timeout touches the heap about
// once a minute.
type Timer struct {
	lt *loopTimers
	fn func()

	// Loop only. armed: fn is due at deadline. sched: the heap key while
	// idx >= 0. Times are monotonicNow values.
	deadline int64
	sched    int64
	idx      int32 // index in lt.heap; -1 when not in it
	armed    bool
}

// clockBase anchors Clock: time.Since of a time with a monotonic reading
// costs one clock read, time.Now two.
var clockBase = time.Now()

// Clock returns a monotonic clock reading: the time since an arbitrary
// point fixed at start-up. It takes one clock read where time.Now takes
// two, for stamps on hot paths that only measure intervals. It is safe
// from any goroutine.
func Clock() time.Duration { return time.Since(clockBase) }

// monotonicNow is Clock in the int64 nanoseconds the timer heap and UDP
// sessions keep.
func monotonicNow() int64 { return int64(Clock()) }

// NewTimer returns a stopped Timer that will run fn on loop. It is safe from
// any goroutine; the Timer's methods are loop only.
func NewTimer(loop Loop, fn func()) *Timer {
	return &Timer{lt: timersOf(loop), fn: fn, idx: -1}
}

// Init prepares t, a zero Timer embedded in a larger struct, to run fn on
// loop, as NewTimer does for one of its own allocation (an embedded Timer
// saves a pointer and an allocation per object that has one). t must not
// be in use. It is safe from any goroutine; the Timer's methods are loop
// only.
func (t *Timer) Init(loop Loop, fn func()) {
	*t = Timer{lt: timersOf(loop), fn: fn, idx: -1}
}

// AfterFunc returns a Timer that runs fn on loop after d. Loop only: the
// Timer is armed from the caller's goroutine.
func AfterFunc(loop Loop, d time.Duration, fn func()) *Timer {
	t := NewTimer(loop, fn)
	t.Reset(d)
	return t
}

// Reset makes the timer fire d from now, cancelling an earlier schedule.
// Loop only.
func (t *Timer) Reset(d time.Duration) {
	t.armed = true
	t.deadline = monotonicNow() + int64(d)
	lt := t.lt
	switch {
	case t.idx < 0:
		t.sched = t.deadline
		lt.push(t)
	case t.deadline < t.sched:
		t.sched = t.deadline
		lt.up(int(t.idx))
	default:
		return // filed under an earlier time: it comes up, and is refiled
	}
	lt.arm()
}

// Disarm cancels the timer as Stop does, but leaves it filed so that a
// Reset soon after costs nothing; it leaves the heap when its old time
// comes. For hot paths that disarm and re-arm per request; call Stop when
// the Timer is done with, so that the heap does not keep it (and what fn
// holds) until then. Loop only.
func (t *Timer) Disarm() { t.armed = false }

// Stop cancels the timer; fn will not run unless the timer is Reset. Loop
// only.
func (t *Timer) Stop() {
	t.armed = false
	if t.idx >= 0 {
		t.lt.remove(int(t.idx))
	}
}

// loopTimers is the timer heap of one Loop, and the one runtime timer that
// wakes the loop when the earliest is due.
type loopTimers struct {
	loop   Loop
	heap   []*Timer // min-heap on sched; loop only
	rt     *time.Timer
	rtAt   int64 // when rt fires; 0 when it is not armed. Loop only.
	expire func()
}

func newLoopTimers(loop Loop) *loopTimers {
	lt := &loopTimers{loop: loop}
	lt.expire = lt.onExpire
	lt.rt = time.AfterFunc(time.Hour, func() { lt.loop.Execute(lt.expire) })
	lt.rt.Stop()
	return lt
}

// timerHome is implemented by the Loops of this package, which keep their
// timer heap themselves; other Loops get theirs from otherTimers.
type timerHome interface {
	timerSlot() *atomic.Pointer[loopTimers]
}

var otherTimers sync.Map // Loop -> *loopTimers

func timersOf(loop Loop) *loopTimers {
	if h, ok := loop.(timerHome); ok {
		slot := h.timerSlot()
		if lt := slot.Load(); lt != nil {
			return lt
		}
		lt := newLoopTimers(loop)
		if slot.CompareAndSwap(nil, lt) {
			return lt
		}
		return slot.Load()
	}
	if v, ok := otherTimers.Load(loop); ok {
		return v.(*loopTimers)
	}
	v, _ := otherTimers.LoadOrStore(loop, newLoopTimers(loop))
	return v.(*loopTimers)
}

// arm sets the runtime timer for the earliest Timer, if it is not set for
// that time or earlier already.
func (lt *loopTimers) arm() {
	if len(lt.heap) == 0 {
		return
	}
	at := lt.heap[0].sched
	if lt.rtAt != 0 && lt.rtAt <= at {
		return
	}
	lt.rtAt = at
	lt.rt.Reset(time.Duration(max(at-monotonicNow(), 0)))
}

// onExpire runs on the loop when the runtime timer fires: it runs every
// Timer that is due and files again those whose deadline moved on.
func (lt *loopTimers) onExpire() {
	lt.rtAt = 0
	now := monotonicNow()
	for len(lt.heap) > 0 && lt.heap[0].sched <= now {
		t := lt.heap[0]
		switch {
		case !t.armed:
			lt.remove(0)
		case t.deadline > now:
			t.sched = t.deadline
			lt.down(0)
		default:
			lt.remove(0)
			t.armed = false
			runRecovered(t.fn)
		}
	}
	lt.arm()
}

func (lt *loopTimers) push(t *Timer) {
	t.idx = int32(len(lt.heap))
	lt.heap = append(lt.heap, t)
	lt.up(int(t.idx))
}

func (lt *loopTimers) remove(i int) {
	h := lt.heap
	last := len(h) - 1
	t := h[i]
	if i != last {
		h[i] = h[last]
		h[i].idx = int32(i)
	}
	h[last] = nil
	lt.heap = h[:last]
	if i != last {
		if !lt.down(i) {
			lt.up(i)
		}
	}
	t.idx = -1
	if cap(lt.heap) > 1024 && len(lt.heap) < cap(lt.heap)/4 {
		lt.heap = append([]*Timer(nil), lt.heap...)
	}
}

func (lt *loopTimers) up(i int) {
	h := lt.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].sched <= h[i].sched {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].idx, h[i].idx = int32(p), int32(i)
		i = p
	}
}

// down sifts h[i] down and reports whether it moved.
func (lt *loopTimers) down(i int) bool {
	h := lt.heap
	n := len(h)
	start := i
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].sched < h[l].sched {
			m = r
		}
		if h[i].sched <= h[m].sched {
			break
		}
		h[i], h[m] = h[m], h[i]
		h[i].idx, h[m].idx = int32(i), int32(m)
		i = m
	}
	return i > start
}
