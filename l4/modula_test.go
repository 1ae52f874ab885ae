package l4

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Modula's placement is checked against nutcracker by TestKetamaNutcracker
// (live) and TestKetamaGolden (testdata/ketama/modula-*.golden); these are
// its edges.
func TestModula(t *testing.T) {
	servers := []KetamaServer{{Addr: "10.0.0.2:6379", Weight: 2, Name: "b"}, {Addr: "10.0.0.1:6379", Weight: 1, Name: "a"}}
	m, err := NewModula(servers)
	require.NoError(t, err)
	// twemproxy's order is by name: a (index 1) takes slot 0, b (index 0)
	// slots 1 and 2.
	require.Equal(t, []int32{1, 0, 0}, m.slots)
	require.Equal(t, 1, m.Pick(nil), "an empty key hashes to 0")
	for _, k := range []string{"x", "user:1", "\x80\xff"} {
		require.Equal(t, int(m.slots[FNV1a64([]byte(k))%3]), m.Pick([]byte(k)))
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { m.Pick([]byte("key:12345")) }))

	_, err = NewModula([]KetamaServer{{Addr: "10.0.0.1:6379", Weight: 1, Name: "a"}, {Addr: "10.0.0.2:6379", Weight: 1, Name: "a"}})
	require.ErrorContains(t, err, "same name")
	_, err = NewModula(nil)
	require.ErrorContains(t, err, "no servers")
	_, err = NewModula([]KetamaServer{{Addr: "10.0.0.1:6379"}})
	require.ErrorContains(t, err, "weight 0 is not positive")
	_, err = NewPicker("consistent", servers)
	require.ErrorContains(t, err, "want ketama, modula or random")
}

// Random spreads keys over every server in proportion to weight, whatever
// the key.
func TestRandom(t *testing.T) {
	r, err := NewRandom([]KetamaServer{{Addr: "10.0.0.1:6379", Weight: 1}, {Addr: "10.0.0.2:6379", Weight: 3}})
	require.NoError(t, err)
	var n [2]int
	for range 4000 {
		n[r.Pick([]byte("same key"))]++
	}
	// Expected 1000 and 3000; a binomial's spread here is about 27, so
	// these bounds are more than ten of it away.
	require.InDelta(t, 1000, n[0], 300, "%v", n)
	require.InDelta(t, 3000, n[1], 300, "%v", n)
	one, err := NewRandom([]KetamaServer{{Addr: "10.0.0.1:6379", Weight: 5}})
	require.NoError(t, err)
	require.Equal(t, 0, one.Pick(nil))
}
