package httpproxy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGRPCTimeoutValues(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"1n": 1, "100m": 100 * time.Millisecond, "2S": 2 * time.Second, "3M": 3 * time.Minute,
		"4H": 4 * time.Hour, "99999999u": 99999999 * time.Microsecond, "0m": 0,
	} {
		d, ok := parseGRPCTimeout([]byte(v))
		require.True(t, ok, v)
		require.Equal(t, want, d, v)
	}
	for _, v := range []string{"", "m", "1", "123456789m", "1x", "-1S", "1 S", "99999999H"} {
		_, ok := parseGRPCTimeout([]byte(v))
		require.False(t, ok, "%q", v)
	}
	for d, want := range map[time.Duration]string{
		0: "1n", 5: "5n", 99999999: "99999999n", 100000000: "100000u", 1500 * time.Millisecond: "1500000u",
		100 * time.Second: "100000m", 30 * 24 * time.Hour: "2592000S", 5000 * 24 * time.Hour: "7200000M",
	} {
		got := string(appendGRPCTimeout(nil, d))
		require.Equal(t, "2562048H", string(appendGRPCTimeout(nil, 1<<63-1)))
		require.Equal(t, want, got, "%v", d)
		back, ok := parseGRPCTimeout([]byte(got))
		require.True(t, ok)
		require.GreaterOrEqual(t, back, d, "a deadline passed on is never earlier")
	}
}
