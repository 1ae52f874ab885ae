package framing

import (
	"bytes"
	"testing"
)

func TestDatagram(t *testing.T) {
	d := Datagram{Max: 5}
	tests := []struct {
		name string
		in   string
		n    int
		err  error
	}{
		{"datagram of max bytes", "hello", 5, nil},
		{"short datagram", "hi", 2, nil},
		{"empty datagram", "", 0, nil},
		{"datagram of max+1 bytes", "hello!", 6, errDatagramTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := d.Decode([]byte(tt.in))
			want := []byte(tt.in)
			if err != nil {
				want = nil
			}
			if err != tt.err || n != tt.n || !bytes.Equal(frame, want) || (frame == nil) != (want == nil) {
				t.Fatalf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tt.in, frame, n, err, want, tt.n, tt.err)
			}
		})
	}
}

func TestDatagramAppend(t *testing.T) {
	d := Datagram{Max: 5}
	got, err := d.Append([]byte("dst"), []byte("hello"))
	if err != nil || string(got) != "dsthello" {
		t.Fatalf("Append = %q, %v; want %q", got, err, "dsthello")
	}
	if got, err := d.Append([]byte("dst"), []byte("hello!")); err != errPayloadTooLarge || string(got) != "dst" {
		t.Fatalf("Append of max+1 bytes = %q, %v; want %q, %v", got, err, "dst", errPayloadTooLarge)
	}
}

func BenchmarkDatagram(b *testing.B) {
	for _, size := range []int{64, 1400} {
		benchmarkFramer(b, sizeName(size), Datagram{Max: 65507}, bytes.Repeat([]byte("x"), size))
	}
}
