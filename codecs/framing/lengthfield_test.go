package framing

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// TestLengthFieldNettyExamples decodes the examples of Netty's
// LengthFieldBasedFrameDecoder documentation, and a few byte orders and
// field sizes, checks that each survives any split and that Append writes
// the same wire bytes, with zeros in the Offset region.
func TestLengthFieldNettyExamples(t *testing.T) {
	be := func(f LengthField) LengthField { f.BigEndian = true; return f }
	tests := []struct {
		name string
		f    LengthField
		wire []byte
		want []byte // the frame Decode returns
	}{
		{
			name: "2-byte length, no strip",
			f:    be(LengthField{Length: 2, Max: 64}),
			wire: cat([]byte{0x00, 0x0c}, helloWorld),
			want: cat([]byte{0x00, 0x0c}, helloWorld),
		},
		{
			name: "2-byte length, strip 2",
			f:    be(LengthField{Length: 2, Strip: 2, Max: 64}),
			wire: cat([]byte{0x00, 0x0c}, helloWorld),
			want: helloWorld,
		},
		{
			name: "2-byte length of the whole frame, adjust -2",
			f:    be(LengthField{Length: 2, Adjust: -2, Max: 64}),
			wire: cat([]byte{0x00, 0x0e}, helloWorld),
			want: cat([]byte{0x00, 0x0e}, helloWorld),
		},
		{
			name: "3-byte length after a 2-byte header",
			f:    be(LengthField{Offset: 2, Length: 3, Max: 64}),
			wire: cat([]byte{0xca, 0xfe, 0x00, 0x00, 0x0c}, helloWorld),
			want: cat([]byte{0xca, 0xfe, 0x00, 0x00, 0x0c}, helloWorld),
		},
		{
			name: "3-byte length before a 2-byte header, adjust 2",
			f:    be(LengthField{Length: 3, Adjust: 2, Max: 64}),
			wire: cat([]byte{0x00, 0x00, 0x0c, 0xca, 0xfe}, helloWorld),
			want: cat([]byte{0x00, 0x00, 0x0c, 0xca, 0xfe}, helloWorld),
		},
		{
			name: "2-byte length at offset 1 in a 4-byte header, adjust 1, strip 3",
			f:    be(LengthField{Offset: 1, Length: 2, Adjust: 1, Strip: 3, Max: 64}),
			wire: cat([]byte{0xca, 0x00, 0x0c, 0xfe}, helloWorld),
			want: cat([]byte{0xfe}, helloWorld),
		},
		{
			name: "whole-frame length at offset 1, adjust -3, strip 3",
			f:    be(LengthField{Offset: 1, Length: 2, Adjust: -3, Strip: 3, Max: 64}),
			wire: cat([]byte{0xca, 0x00, 0x10, 0xfe}, helloWorld),
			want: cat([]byte{0xfe}, helloWorld),
		},
		{
			name: "strip part of the length field",
			f:    be(LengthField{Length: 2, Strip: 1, Max: 64}),
			wire: cat([]byte{0x00, 0x0c}, helloWorld),
			want: cat([]byte{0x0c}, helloWorld),
		},
		{
			name: "1-byte length",
			f:    LengthField{Length: 1, Strip: 1, Max: 64},
			wire: cat([]byte{0x0c}, helloWorld),
			want: helloWorld,
		},
		{
			name: "2-byte little-endian length",
			f:    LengthField{Length: 2, Strip: 2, Max: 64},
			wire: cat([]byte{0x0c, 0x00}, helloWorld),
			want: helloWorld,
		},
		{
			name: "3-byte little-endian length",
			f:    LengthField{Length: 3, Strip: 3, Max: 64},
			wire: cat([]byte{0x0c, 0x00, 0x00}, helloWorld),
			want: helloWorld,
		},
		{
			name: "4-byte big-endian length",
			f:    be(LengthField{Length: 4, Strip: 4, Max: 64}),
			wire: cat([]byte{0x00, 0x00, 0x00, 0x0c}, helloWorld),
			want: helloWorld,
		},
		{
			name: "4-byte little-endian length",
			f:    LengthField{Length: 4, Strip: 4, Max: 64},
			wire: cat([]byte{0x0c, 0x00, 0x00, 0x00}, helloWorld),
			want: helloWorld,
		},
		{
			name: "8-byte big-endian length",
			f:    be(LengthField{Length: 8, Strip: 8, Max: 64}),
			wire: cat([]byte{0, 0, 0, 0, 0, 0, 0, 0x0c}, helloWorld),
			want: helloWorld,
		},
		{
			name: "8-byte little-endian length",
			f:    LengthField{Length: 8, Strip: 8, Max: 64},
			wire: cat([]byte{0x0c, 0, 0, 0, 0, 0, 0, 0}, helloWorld),
			want: helloWorld,
		},
		{
			name: "empty payload",
			f:    be(LengthField{Length: 2, Strip: 2, Max: 64}),
			wire: []byte{0x00, 0x00},
			want: []byte{},
		},
		{
			name: "4-byte length counting a 2-byte trailer, adjust 2",
			f:    be(LengthField{Length: 4, Adjust: 2, Strip: 4, Max: 64}),
			wire: cat([]byte{0x00, 0x00, 0x00, 0x0a}, helloWorld),
			want: helloWorld,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := tt.f.Decode(tt.wire)
			if err != nil || n != len(tt.wire) || !bytes.Equal(frame, tt.want) {
				t.Fatalf("Decode = %q, %d, %v; want %q, %d, nil", frame, n, err, tt.want, len(tt.wire))
			}
			checkSplits(t, tt.f, cat(tt.wire, tt.wire), [][]byte{tt.want, tt.want})

			header := tt.f.Offset + tt.f.Length
			wantWire := cat([]byte("dst"), make([]byte, tt.f.Offset), tt.wire[tt.f.Offset:])
			got, err := tt.f.Append([]byte("dst"), tt.wire[header:])
			if err != nil || !bytes.Equal(got, wantWire) {
				t.Fatalf("Append = %x, %v; want %x", got, err, wantWire)
			}
		})
	}
}

// TestLengthFieldErrors checks each malformed or oversized length, as early
// as the bytes allow, and the partial inputs that need more.
func TestLengthFieldErrors(t *testing.T) {
	u64 := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (56 - 8*i))
		}
		return b
	}
	short := LengthField{Length: 2, Strip: 2, BigEndian: true, Max: 64}
	wide := LengthField{Length: 8, Strip: 8, BigEndian: true, Max: math.MaxInt, FailFast: true}
	tests := []struct {
		name  string
		f     LengthField
		in    []byte
		want  error
		wantN int
	}{
		{"empty input", short, nil, codecs.ErrNeedMore, 0},
		{"half a length field", short, []byte{0x00}, codecs.ErrNeedMore, 0},
		{"length field alone", short, []byte{0x00, 0x0c}, codecs.ErrNeedMore, 0},
		{"one byte short", short, cat([]byte{0x00, 0x0c}, helloWorld[:11]), codecs.ErrNeedMore, 0},
		{"header short of the offset", LengthField{Offset: 4, Length: 1, Max: 64}, []byte{1, 2, 3, 4}, codecs.ErrNeedMore, 0},
		{"8-byte length of 2^63", wide, u64(1 << 63), errSignedLength, 0},
		{"8-byte length of 2^64-1", wide, u64(math.MaxUint64), errSignedLength, 0},
		{"8-byte length of 2^63-1 plus the header", wide, u64(math.MaxInt64), errLengthOverflow, 0},
		{"8-byte length of 2^63-8 plus the header", wide, u64(math.MaxInt64 - 7), errLengthOverflow, 0},
		{"8-byte length plus adjust overflows", LengthField{Length: 8, Adjust: 1, BigEndian: true, Max: math.MaxInt},
			u64(math.MaxInt64), errLengthOverflow, 0},
		{"8-byte length at the int64 limit over max", LengthField{Length: 8, BigEndian: true, Max: math.MaxInt - 1, FailFast: true},
			u64(math.MaxInt64 - 8), &TooLargeError{Size: math.MaxInt64, Max: math.MaxInt - 1}, 0},
		{"8-byte length at the int64 limit within max", LengthField{Length: 8, BigEndian: true, Max: math.MaxInt, FailFast: true},
			u64(math.MaxInt64 - 8), codecs.ErrNeedMore, 0},
		{"8-byte length, adjust -2^63+1", LengthField{Length: 8, Adjust: -math.MaxInt64, BigEndian: true, Max: 64}, u64(math.MaxInt64 - 1),
			errShortFrame, 0},
		{"adjusted length ends inside the length field", LengthField{Length: 2, Adjust: -3, BigEndian: true, Max: 64},
			[]byte{0x00, 0x02}, errShortFrame, 0},
		{"adjusted length ends inside the header", LengthField{Offset: 2, Length: 1, Adjust: -4, Max: 64},
			[]byte{0xca, 0xfe, 0x03}, errShortFrame, 0},
		{"frame shorter than strip", LengthField{Length: 1, Strip: 4, Max: 64}, []byte{0x02}, errStripPastFrame, 0},
		{"over max, fail fast", LengthField{Length: 1, Max: 12, FailFast: true}, []byte{0x0c},
			&TooLargeError{Size: 13, Max: 12}, 0},
		{"over max, waiting for the frame", LengthField{Length: 1, Max: 12}, cat([]byte{0x0c}, helloWorld[:11]),
			codecs.ErrNeedMore, 0},
		{"over max, whole frame", LengthField{Length: 1, Max: 12}, cat([]byte{0x0c}, helloWorld, []byte("next")),
			&TooLargeError{Size: 13, Max: 12}, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := tt.f.Decode(tt.in)
			checkError(t, err, tt.want)
			if frame != nil || n != tt.wantN {
				t.Fatalf("Decode = %q, %d; want nil, %d", frame, n, tt.wantN)
			}
			if !errors.Is(tt.want, codecs.ErrNeedMore) && !errors.Is(tt.want, ErrTooLarge) && !errors.Is(err, ErrBadLength) {
				t.Fatalf("%v does not wrap ErrBadLength", err)
			}
		})
	}
}

// TestLengthFieldMax checks the limit at Max and Max+1 in both modes, and
// that without FailFast a caller can skip an oversized frame.
func TestLengthFieldMax(t *testing.T) {
	frame := cat([]byte{0x00, 0x0c}, helloWorld) // 14 bytes
	next := cat([]byte{0x00, 0x01}, []byte("!"))
	for _, failFast := range []bool{false, true} {
		atMax := LengthField{Length: 2, Strip: 2, BigEndian: true, Max: 14, FailFast: failFast}
		if got, n, err := atMax.Decode(frame); err != nil || n != 14 || !bytes.Equal(got, helloWorld) {
			t.Errorf("FailFast %v, frame of Max bytes: Decode = %q, %d, %v", failFast, got, n, err)
		}
		over := atMax
		over.Max = 13
		_, n, err := over.Decode(frame[:2])
		wantErr := error(codecs.ErrNeedMore)
		if failFast {
			wantErr = &TooLargeError{Size: 14, Max: 13}
		}
		if errorText(err) != errorText(wantErr) || n != 0 {
			t.Errorf("FailFast %v, header of a frame of Max+1 bytes: Decode = %d, %v; want 0, %v", failFast, n, err, wantErr)
		}
		in := cat(frame, next)
		_, n, err = over.Decode(in)
		var tooLarge *TooLargeError
		if !errors.As(err, &tooLarge) || tooLarge.Size != 14 || tooLarge.Max != 13 || !errors.Is(err, codecs.ErrTooLarge) {
			t.Fatalf("FailFast %v, frame of Max+1 bytes: err = %v, want a TooLargeError of 14 bytes", failFast, err)
		}
		if failFast {
			if n != 0 {
				t.Errorf("FailFast: n = %d, want 0", n)
			}
			continue
		}
		if n != 14 {
			t.Fatalf("frame of Max+1 bytes: n = %d, want 14", n)
		}
		if got, m, err := over.Decode(in[n:]); err != nil || m != 3 || string(got) != "!" {
			t.Errorf("frame after a skipped one: Decode = %q, %d, %v", got, m, err)
		}
	}
}

func TestTooLargeError(t *testing.T) {
	err := error(&TooLargeError{Size: 1<<20 + 1, Max: 1 << 20})
	const want = "penstock/framing: length field declares a frame of 1048577 bytes, over Max 1048576"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, codecs.ErrTooLarge) {
		t.Errorf("%v does not match ErrTooLarge and codecs.ErrTooLarge", err)
	}
}

// TestLengthFieldRoundTrip appends pipelined frames with several
// configurations and decodes them back, however they are split.
func TestLengthFieldRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		f        LengthField
		payloads []string
	}{
		{"4-byte big-endian", LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 64},
			[]string{"", "a", "HELLO, WORLD", string(make([]byte, 60))}},
		{"2-byte little-endian", LengthField{Length: 2, Strip: 2, Max: 64}, []string{"x", "", "yz"}},
		{"3-byte with a header", LengthField{Offset: 2, Length: 3, Strip: 5, BigEndian: true, Max: 64}, []string{"ab", "", "c"}},
		{"whole-frame length", LengthField{Length: 2, Adjust: -2, Strip: 2, BigEndian: true, Max: 64}, []string{"abc", ""}},
		{"length counting a trailer", LengthField{Length: 1, Adjust: 2, Strip: 1, Max: 64}, []string{"ab", "abcde"}},
		{"length counting 2 bytes more than follow", LengthField{Length: 1, Adjust: -2, Strip: 1, Max: 64}, []string{"", "abc"}},
		{"8-byte big-endian", LengthField{Length: 8, Strip: 8, BigEndian: true, Max: 64}, []string{"payload", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wire []byte
			var want [][]byte
			for _, p := range tt.payloads {
				var err error
				if wire, err = tt.f.Append(wire, []byte(p)); err != nil {
					t.Fatalf("Append(%q): %v", p, err)
				}
				want = append(want, []byte(p))
			}
			checkSplits(t, tt.f, wire, want)
		})
	}
}

// TestLengthFieldAppendErrors checks that Append refuses what Decode would
// reject and leaves dst as it was.
func TestLengthFieldAppendErrors(t *testing.T) {
	tests := []struct {
		name    string
		f       LengthField
		payload []byte
		want    error
	}{
		{"frame over max", LengthField{Length: 2, Max: 13}, helloWorld, errPayloadTooLarge},
		{"payload shorter than adjust", LengthField{Length: 1, Adjust: 2, Max: 64}, []byte("a"), errPayloadBelow},
		{"value over the field", LengthField{Length: 1, Max: 1024}, make([]byte, 256), errFieldCapacity},
		{"value with adjust over the field", LengthField{Length: 1, Adjust: -10, Max: 1024}, make([]byte, 250), errFieldCapacity},
		{"frame shorter than strip", LengthField{Length: 1, Strip: 4, Max: 64}, []byte("ab"), errStripPastFrame},
		{"invalid config", LengthField{Length: 5, Max: 64}, nil, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("dst")
			got, err := tt.f.Append(dst, tt.payload)
			if !errors.Is(err, tt.want) || string(got) != "dst" {
				t.Fatalf("Append = %q, %v; want %q, %v", got, err, "dst", tt.want)
			}
		})
	}
	// The largest value each field size holds still encodes.
	for _, f := range []LengthField{{Length: 1, Max: 1 << 10}, {Length: 2, Max: 1 << 17}} {
		payload := make([]byte, maxValue(f.Length))
		if _, err := f.Append(nil, payload); err != nil {
			t.Errorf("Length %d: Append of %d bytes: %v", f.Length, len(payload), err)
		}
	}
}

func BenchmarkLengthField(b *testing.B) {
	f := LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 1 << 20, FailFast: true}
	for _, size := range []int{64, 4096} {
		payload := bytes.Repeat([]byte("x"), size)
		wire, _ := f.Append(nil, payload)
		b.Run("decode-"+sizeName(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				f.Decode(wire)
			}
		})
		b.Run("append-"+sizeName(size), func(b *testing.B) {
			dst := make([]byte, 0, len(wire))
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				f.Append(dst[:0], payload)
			}
		})
	}
}
