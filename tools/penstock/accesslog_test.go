package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Lines written from several goroutines while the log is reopened reach the
// files whole and in full, and Close writes out the rest; a Reopen after
// Close does nothing.
func TestAccessLogWritesWholeLinesAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	logs := newAccessLogs("text", &bytes.Buffer{}, &bytes.Buffer{})
	lg, err := logs.logger("web", path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var rotateErr error
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				lg.Info("access", "g", g, "i", i)
				if g == 0 && i == 250 {
					if rotateErr = os.Rename(path, path+".1"); rotateErr == nil {
						rotateErr = logs.Reopen()
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, rotateErr)
	logs.Close()
	require.NoError(t, logs.Reopen())
	var lines []string
	for _, p := range []string{path + ".1", path} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.True(t, len(b) > 0 && b[len(b)-1] == '\n', "%s ends with a whole line", p)
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	require.Len(t, lines, 2000)
	for _, l := range lines {
		require.True(t, strings.Contains(l, "msg=access listener=web g="), l)
	}
}
