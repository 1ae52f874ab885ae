//go:build race

package httpproxy_test

// raceEnabled: the race detector makes sync.Pool drop a quarter of what is
// put back, so allocation counts are not those of a normal build.
const raceEnabled = true
