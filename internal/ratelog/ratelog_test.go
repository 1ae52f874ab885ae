package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A burst from many goroutines writes one line; the next line, once the
// interval is over, says how many were left out.
func TestLimiterOneLinePerInterval(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	var r Limiter
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r.Log(l, slog.LevelWarn, "refused")
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	require.Equal(t, 1, strings.Count(buf.String(), "refused"), buf.String())
	mu.Unlock()
	r.next.Store(0) // the interval is over
	require.True(t, r.Log(l, slog.LevelWarn, "refused"))
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, buf.String(), "repeated=7999")
}

// A level the logger leaves out is not counted as a repeat.
func TestLimiterDisabledLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	var r Limiter
	require.False(t, r.Log(l, slog.LevelWarn, "x"))
	require.Zero(t, r.skipped.Load())
	require.Empty(t, buf.String())
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
