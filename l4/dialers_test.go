package l4

import (
	"sync"
	"testing"
)

// run never blocks: with every worker held up, more jobs still start, on
// goroutines of their own, and the long-lived workers stay bounded.
func TestDialersNeverBlock(t *testing.T) {
	d := dialers{jobs: make(chan func())}
	release := make(chan struct{})
	var started, done sync.WaitGroup
	const n = 3 * maxDialers
	started.Add(n)
	done.Add(n)
	for range n {
		d.run(func() {
			started.Done()
			<-release
			done.Done()
		})
	}
	started.Wait() // all n run at once: none waits for a worker
	if w := d.workers.Load(); w > maxDialers {
		t.Fatalf("%d workers, more than %d", w, maxDialers)
	}
	close(release)
	done.Wait()
	// Idle workers take the next jobs.
	var again sync.WaitGroup
	again.Add(10)
	for range 10 {
		d.run(again.Done)
	}
	again.Wait()
	if w := d.workers.Load(); w > maxDialers {
		t.Fatalf("%d workers, more than %d", w, maxDialers)
	}
}
