package redis

// This file is how a loop holds large messages: buffers that grow about
// once per message, and one spare large buffer that the next large
// message reuses. A large buffer is otherwise allocated (and zeroed) for
// each message and left to the garbage collector, which lets the heap grow
// to twice what is live before it collects: for a stream of 64 MiB values,
// hundreds of megabytes and a zeroing pass per value.

import (
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

// spareFor is how long the spare buffer is kept without use.
const spareFor = 2 * time.Second

// take returns an empty buffer of capacity size or more: the spare when it
// is big enough and not far bigger, else a new one. Loop only.
func (ls *loopState) take(size int) []byte {
	if s := ls.spare; cap(s) >= size && cap(s) <= 4*size {
		ls.spare = nil
		return s[:0]
	}
	return make([]byte, 0, size)
}

// give hands back a buffer nothing refers to any more: a large one may
// become the spare, the larger of the two kept. Loop only.
func (ls *loopState) give(buf []byte) {
	if cap(buf) <= maxKeptPending || cap(buf) <= cap(ls.spare) {
		return
	}
	ls.spare = buf[:0]
	if ls.spareTimer == nil {
		ls.spareTimer = transport.NewTimer(ls.loop, func() { ls.spare = nil })
	}
	ls.spareTimer.Reset(spareFor)
}

// hold copies rest, the start of an unfinished message, into buf (emptied)
// and returns it: a buffer of at least size when buf is smaller. Loop
// only.
func (ls *loopState) hold(buf, rest []byte, size int) []byte {
	if cap(buf) < size {
		ls.give(buf)
		buf = ls.take(size)
	}
	return append(buf[:0], rest...)
}

// grow makes room in buf for n more bytes, doubling rather than growing by
// append's quarter so that a large message is copied about once as it
// builds up, but not far past the longest message the limits accept.
// When need says how long the message being held is, the buffer is made
// that long (and a little more, for what follows) instead of twice its
// size, provided that still grows it by half: one twice the size of a 64
// MiB value costs as much again, while growing by less than half each time
// would copy a message of many large arguments over and over. Loop only.
func (ls *loopState) grow(buf []byte, n, need int) []byte {
	total := len(buf) + n
	if total <= cap(buf) {
		return buf
	}
	size := min(2*cap(buf)+n, ls.p.pendingCap)
	if exact := need + maxKeptPending; need >= total && exact < size && exact >= total+total/2 {
		size = exact
	}
	grown := append(ls.take(max(total, size)), buf...)
	ls.give(buf)
	return grown
}

// keepRest drops the first off bytes of a held buffer and returns what is
// left at its start; a buffer grown large for one message is let go once
// what is left is small. Loop only.
func (ls *loopState) keepRest(buf []byte, off int) []byte {
	rest := buf[off:]
	switch {
	case len(rest) == 0 && cap(buf) > maxKeptPending:
		ls.give(buf)
		return nil
	case len(rest) == 0:
		return buf[:0]
	case off == 0:
		return buf
	case cap(buf) > maxKeptPending && len(rest) < takeOver:
		small := append([]byte(nil), rest...)
		ls.give(buf)
		return small
	}
	return buf[:copy(buf, rest)]
}
