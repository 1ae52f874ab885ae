package framing

import (
	"bytes"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestFixed(t *testing.T) {
	f := Fixed{Size: 4}
	tests := []struct {
		name string
		in   string
		want string // the frame, when err is nil
		n    int
		err  error
	}{
		{"one frame", "abcd", "abcd", 4, nil},
		{"frame and more", "abcdef", "abcd", 4, nil},
		{"one byte short", "abc", "", 0, codecs.ErrNeedMore},
		{"empty input", "", "", 0, codecs.ErrNeedMore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := f.Decode([]byte(tt.in))
			if err != tt.err || n != tt.n || (err == nil && string(frame) != tt.want) {
				t.Fatalf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tt.in, frame, n, err, tt.want, tt.n, tt.err)
			}
		})
	}
	checkSplits(t, Fixed{Size: 3}, []byte("abcdefghi"), toFrames([]string{"abc", "def", "ghi"}))
	checkSplits(t, Fixed{Size: 1}, []byte("ab"), toFrames([]string{"a", "b"}))
}

func TestFixedAppend(t *testing.T) {
	f := Fixed{Size: 4}
	got, err := f.Append([]byte("dst"), []byte("abcd"))
	if err != nil || string(got) != "dstabcd" {
		t.Fatalf("Append = %q, %v; want %q", got, err, "dstabcd")
	}
	for _, payload := range []string{"", "abc", "abcde"} {
		if got, err := f.Append([]byte("dst"), []byte(payload)); err != errFixedSize || string(got) != "dst" {
			t.Errorf("Append(%q) = %q, %v; want %q, %v", payload, got, err, "dst", errFixedSize)
		}
	}
}

func BenchmarkFixed(b *testing.B) {
	for _, size := range []int{64, 4096} {
		benchmarkFramer(b, sizeName(size), Fixed{Size: size}, bytes.Repeat([]byte("x"), size))
	}
}
