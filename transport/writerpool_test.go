package transport

import (
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A stream whose consumer keeps falling behind congests over and over: each
// time, its write queue fills past the high watermark and then empties. The
// queue's buffer must come from queuePool and go back to it, so an episode
// costs no new buffer (before queuePool, each one allocated and grew its own,
// about 1 MB per episode, and the GC and the scavenger paid for it again),
// and the bytes arrive whole and in order across episodes.
func TestWriteQueueReusesBuffersAcrossCongestion(t *testing.T) {
	const (
		episodes = 64
		chunk    = 64 << 10
		chunks   = 5 // 320 KB per episode: past the 256 KB high watermark
		high     = 256 << 10
		low      = 64 << 10
	)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	// A small send buffer: nearly every episode's bytes go through the queue.
	require.NoError(t, unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
	wf := os.NewFile(uintptr(fds[0]), "writer")
	w, err := newFDWriter(fileTarget{wf}, fds[0], low)
	require.NoError(t, err)
	w.notify = func() {}
	defer w.close()
	pf := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(pf)
	require.NoError(t, err)
	_ = pf.Close()
	defer peer.Close()

	out := make([]byte, chunk)
	in := make([]byte, chunks*chunk)
	var seq byte
	congested := 0
	episode := func() {
		first := seq
		for range chunks {
			for i := range out {
				out[i] = seq
			}
			seq++
			ok, err := w.write(out, high)
			require.True(t, ok)
			require.NoError(t, err)
		}
		if w.isCongested() {
			congested++
		}
		require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := io.ReadFull(peer, in)
		require.NoError(t, err)
		for i := range chunks {
			b := in[i*chunk : (i+1)*chunk]
			require.Equal(t, first+byte(i), b[0], "chunk %d of the episode", i)
			require.Equal(t, first+byte(i), b[len(b)-1], "chunk %d of the episode", i)
		}
		// The queue's goroutine drops the buffer as the queue empties,
		// just after its last send: wait for that.
		deadline := time.Now().Add(10 * time.Second)
		for w.busy() || w.isRunning() {
			require.True(t, time.Now().Before(deadline), "the queue's goroutine did not finish")
			time.Sleep(20 * time.Microsecond)
		}
	}
	episode() // the first episode makes the buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range episodes {
		episode()
	}
	runtime.ReadMemStats(&after)
	require.Greater(t, congested, episodes/2, "the episodes did not congest the queue")
	// Under -race, sync.Pool drops a quarter of what it is given on
	// purpose: allow for that (16 of 64 episodes making a 320 KB buffer
	// is 5 MB; the bound is 51 of them), far below a buffer of its own for
	// each episode (about 60 MB, growing by doubling).
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d episodes (%d congested): %d bytes, %d allocations", episodes, congested, grew, after.Mallocs-before.Mallocs)
	require.Less(t, grew, uint64(episodes*256<<10),
		"%d congested episodes allocated %d bytes", episodes, grew)
}

// isRunning reports whether the queue's goroutine is still on.
func (w *asyncWriter) isRunning() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running
}
