package main

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4MiB": 4 << 20, "512KiB": 512 << 10, "1000": 1000, "2M": 2000000} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
