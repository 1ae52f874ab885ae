package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// onLoop runs fn on loop and waits for it.
func onLoop(t *testing.T, loop Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	require.True(t, loop.Execute(func() { fn(); close(done) }))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("loop did not run the func")
	}
}

func TestRecyclerKeepsObjectsOnTheirLoop(t *testing.T) {
	a, b := NewSerialLoop(), NewSerialLoop()
	var r Recycler[int]
	x, y := new(int), new(int)
	onLoop(t, a, func() {
		require.Nil(t, r.Get(a))
		r.Put(a, x)
		r.Put(a, y)
	})
	onLoop(t, b, func() {
		require.Nil(t, r.Get(b), "another loop's objects are not handed out")
		r.Put(b, new(int))
	})
	onLoop(t, a, func() {
		require.Same(t, y, r.Get(a), "most recently put first")
		require.Same(t, x, r.Get(a))
		require.Nil(t, r.Get(a))
	})
}

func TestRecyclerMax(t *testing.T) {
	loop := NewSerialLoop()
	r := Recycler[int]{Max: 2}
	onLoop(t, loop, func() {
		for range 5 {
			r.Put(loop, new(int))
		}
		require.Equal(t, 2, r.Len(loop))
	})
}

// What no Get reached during a whole trim period is dropped; what was
// used stays.
func TestRecyclerDropsWhatItDidNotNeed(t *testing.T) {
	old := recycleTrim
	recycleTrim = 50 * time.Millisecond
	defer func() { recycleTrim = old }()
	loop := NewSerialLoop()
	var r Recycler[int]
	onLoop(t, loop, func() {
		for range 8 {
			r.Put(loop, new(int))
		}
	})
	// Keep taking and giving back two during the first period: six are
	// never needed.
	deadline := time.Now().Add(40 * time.Millisecond)
	for time.Now().Before(deadline) {
		onLoop(t, loop, func() {
			a, b := r.Get(loop), r.Get(loop)
			r.Put(loop, b)
			r.Put(loop, a)
		})
		// Pacing, not ordering: the uses are spread over the period, as
		// a steady load would make them.
		time.Sleep(2 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		n := -1
		onLoop(t, loop, func() { n = r.Len(loop) })
		return n <= 2
	}, 5*time.Second, 5*time.Millisecond)
	// With no use at all, the rest goes too.
	require.Eventually(t, func() bool {
		n := -1
		onLoop(t, loop, func() { n = r.Len(loop) })
		return n == 0
	}, 5*time.Second, 5*time.Millisecond)
}
