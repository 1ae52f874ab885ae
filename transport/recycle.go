package transport

import (
	"sync"
	"time"
)

// Recycler keeps objects for reuse, a free list per Loop. An object put
// back on a loop is taken again only on that loop, so between its Put and
// the next Get it has one owner, the loop, and it never moves between
// loops: code on one loop cannot race with a later user on another, as it
// could with a sync.Pool, whose objects go to whichever goroutine asks
// next. Put must be the last touch of an object by its user.
//
// What a loop's list did not need for a whole trim period (about ten
// seconds) is dropped, so a burst of load does not pin its memory for
// good, as sync.Pool drops what two garbage collections found unused.
// The zero value is ready to use. Get and Put are loop only; a Recycler
// itself is safe from any goroutine.
type Recycler[T any] struct {
	// Max bounds the objects kept per loop (0: 1024); Put drops the rest.
	Max int

	loops sync.Map // Loop -> *freeList[T]
}

// recycleTrim is how often a loop's free list drops what it did not use
// (a variable for tests).
var recycleTrim = 10 * time.Second

// freeList is one loop's free objects: a stack, most recently put on top.
// Loop only.
type freeList[T any] struct {
	items []*T
	// low is the fewest items the list held since the last trim: the
	// bottom low items were not needed in that time.
	low   int
	trim  Timer
	armed bool
}

// Get takes an object put back on loop, or returns nil when there is
// none. Loop only.
func (r *Recycler[T]) Get(loop Loop) *T {
	f := r.list(loop)
	n := len(f.items) - 1
	if n < 0 {
		return nil
	}
	v := f.items[n]
	f.items[n] = nil
	f.items = f.items[:n]
	f.low = min(f.low, n)
	return v
}

// Put gives v back for a later Get on loop. The caller must not touch v
// afterwards. Loop only.
func (r *Recycler[T]) Put(loop Loop, v *T) {
	f := r.list(loop)
	limit := r.Max
	if limit <= 0 {
		limit = 1024
	}
	if len(f.items) >= limit {
		return
	}
	f.items = append(f.items, v)
	if !f.armed {
		f.armed = true
		f.low = len(f.items)
		f.trim.Reset(recycleTrim)
	}
}

// Len reports the objects kept for loop. Loop only.
func (r *Recycler[T]) Len(loop Loop) int { return len(r.list(loop).items) }

func (r *Recycler[T]) list(loop Loop) *freeList[T] {
	if v, ok := r.loops.Load(loop); ok {
		return v.(*freeList[T])
	}
	f := &freeList[T]{}
	f.trim.Init(loop, f.dropUnused)
	v, _ := r.loops.LoadOrStore(loop, f)
	return v.(*freeList[T])
}

// dropUnused drops the objects at the bottom of the stack that no Get
// reached since the last trim.
func (f *freeList[T]) dropUnused() {
	keep := copy(f.items, f.items[f.low:])
	clear(f.items[keep:])
	f.items = f.items[:keep]
	if keep == 0 {
		f.items = nil
		f.armed = false
		return
	}
	f.low = keep
	f.trim.Reset(recycleTrim)
}
