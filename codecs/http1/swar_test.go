package http1

import (
	"bytes"
	"testing"
)

// The word tests agree with the byte loops for every byte value at every
// position of a word, and for words of several odd bytes.
func TestSWARMatchesByteLoops(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		if got, want := validValue(b), all(b, classValue); got != want {
			t.Fatalf("validValue(%q) = %v, want %v", b, got, want)
		}
		want := bytes.Clone(b)
		sanitizeBytes(want)
		got := bytes.Clone(b)
		sanitize(got)
		if !bytes.Equal(got, want) {
			t.Fatalf("sanitize(%q) = %q, want %q", b, got, want)
		}
	}
	base := []byte("abcdefghijklmnopqrstu")
	for c := range 256 {
		for pos := range len(base) {
			b := bytes.Clone(base)
			b[pos] = byte(c)
			check(b)
			b[(pos+9)%len(b)] = 0x80
			check(b)
			b[(pos+3)%len(b)] = '\t'
			check(b)
		}
	}
	for _, s := range []string{"", "a", "\x00\x00\x00\x00\x00\x00\x00\x00", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f",
		"\xff\xfe\x80\x81\x1f\x20\x21\x7e\x7f", "tab\there\tand\r\nthere\x00"} {
		check([]byte(s))
	}
}
