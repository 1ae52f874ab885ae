package l4

import "sync/atomic"

// dialers runs upstream dials on long-lived goroutines. A dial goes deep
// into the net package, so a fresh goroutine per connection grows its
// stack once or twice (copying it each time); a worker that keeps running
// keeps its grown stack between dials. When every worker is busy the dial
// gets a goroutine of its own, so a slow upstream never queues the others.
type dialers struct {
	jobs    chan func()
	workers atomic.Int32
}

// maxDialers bounds the long-lived dial goroutines of a process.
const maxDialers = 64

var dialPool = dialers{jobs: make(chan func())}

// run runs fn on a waiting worker, on a new worker while there are fewer
// than maxDialers, or else on a goroutine of its own. It is safe from any
// goroutine and never blocks.
func (d *dialers) run(fn func()) {
	select {
	case d.jobs <- fn:
		return
	default:
	}
	if d.workers.Add(1) <= maxDialers {
		go d.work(fn)
		return
	}
	d.workers.Add(-1)
	go fn()
}

func (d *dialers) work(fn func()) {
	for {
		fn()
		fn = <-d.jobs
	}
}
