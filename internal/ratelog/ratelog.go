// Package ratelog logs a condition that can repeat once per connection,
// request or datagram (a refusal, a failed upstream) at most once per
// interval, with the count of the repeats it left out: a flood then costs
// one log line a second, not one per packet.
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Every is the interval between two lines of one Limiter.
const Every = time.Second

// Limiter rate-limits one kind of log line. Its zero value is ready, and
// it is safe from any goroutine.
type Limiter struct {
	next    atomic.Int64 // UnixNano before which nothing is logged
	skipped atomic.Int64
}

// Log writes msg with args at level unless a line went out within Every;
// the first line after a quiet spell carries "repeated" with the count of
// the lines left out. It reports whether it wrote. Safe from any
// goroutine.
func (r *Limiter) Log(l *slog.Logger, level slog.Level, msg string, args ...any) bool {
	if !l.Enabled(context.Background(), level) {
		return false
	}
	now := time.Now().UnixNano()
	next := r.next.Load()
	if now < next {
		r.skipped.Add(1)
		return false
	}
	// The lines left out before this one won the interval are its
	// repeats: read them before the CAS, so that one a loser of the same
	// race counts after it goes to the next line, not to this one.
	n := r.skipped.Load()
	if !r.next.CompareAndSwap(next, now+int64(Every)) {
		r.skipped.Add(1)
		return false
	}
	if n > 0 {
		r.skipped.Add(-n)
		args = append(args, "repeated", n)
	}
	l.Log(context.Background(), level, msg, args...)
	return true
}
