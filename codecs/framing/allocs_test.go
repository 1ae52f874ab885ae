package framing

import (
	"bytes"
	"fmt"
	"testing"
)

// TestNoAllocs checks that Decode and Append allocate nothing, with an
// output buffer that has room, on every path but one: a LengthField frame
// over Max returns a *TooLargeError that names its size, which allocates
// once; that frame is either fatal (FailFast) or at least Max bytes the
// caller buffered and drops.
func TestNoAllocs(t *testing.T) {
	lengthField := LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 1 << 10, FailFast: true}
	delimiter := Delimiter{Delimiters: crlfOrLF, Strip: true, Max: 1 << 10}
	line := Line{Max: 1 << 10, Strip: true}
	fixed := Fixed{Size: 64}
	datagram := Datagram{Max: 1 << 10}

	payload := bytes.Repeat([]byte("x"), 64)
	lengthWire, _ := lengthField.Append(nil, payload)
	delimiterWire, _ := delimiter.Append(nil, payload)
	lineWire, _ := line.Append(nil, payload)
	tooLong := bytes.Repeat([]byte("x"), 2<<10)
	dst := make([]byte, 0, 256)

	tests := []struct {
		name string
		f    framer
		in   []byte
	}{
		{"length field, frame", lengthField, lengthWire},
		{"length field, need more", lengthField, lengthWire[:10]},
		{"length field, bad length", LengthField{Length: 1, Adjust: -2, Max: 8}, []byte{1}},
		{"delimiter, frame", delimiter, delimiterWire},
		{"delimiter, need more", delimiter, payload},
		{"delimiter, too large", delimiter, tooLong},
		{"line, frame", line, lineWire},
		{"line, need more", line, payload},
		{"line, too large", line, tooLong},
		{"fixed, frame", fixed, payload},
		{"fixed, need more", fixed, payload[:10]},
		{"datagram, frame", datagram, payload},
		{"datagram, too large", datagram, tooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, func() { tt.f.Decode(tt.in) }); allocs != 0 {
				t.Errorf("Decode allocates %v times per run", allocs)
			}
		})
	}
	for _, f := range []framer{lengthField, delimiter, line, fixed, datagram} {
		t.Run(fmt.Sprintf("append, %T", f), func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, func() { f.Append(dst[:0], payload) }); allocs != 0 {
				t.Errorf("Append allocates %v times per run", allocs)
			}
		})
	}
}
