package framing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

var (
	nul       = [][]byte{{0}}
	crlfOrLF  = [][]byte{[]byte("\r\n"), []byte("\n")}
	lfOrCRLF  = [][]byte{[]byte("\n"), []byte("\r\n")}
	bcOrABCD  = [][]byte{[]byte("bc"), []byte("abcd")}
	endOrSemi = [][]byte{[]byte("END"), []byte(";")}
)

// TestDelimiterDecode checks where frames end, with and without Strip, and
// the limits at Max and Max+1.
func TestDelimiterDecode(t *testing.T) {
	tests := []struct {
		name string
		d    Delimiter
		in   string
		want string // the frame, when err is nil
		n    int
		err  error
	}{
		{"nul, strip", Delimiter{Delimiters: nul, Strip: true, Max: 8}, "abc\x00def", "abc", 4, nil},
		{"nul, keep", Delimiter{Delimiters: nul, Max: 8}, "abc\x00def", "abc\x00", 4, nil},
		{"empty frame", Delimiter{Delimiters: nul, Strip: true, Max: 8}, "\x00abc", "", 1, nil},
		{"no delimiter yet", Delimiter{Delimiters: nul, Max: 8}, "abc", "", 0, codecs.ErrNeedMore},
		{"empty input", Delimiter{Delimiters: nul, Max: 8}, "", "", 0, codecs.ErrNeedMore},
		{"first of two delimiters", Delimiter{Delimiters: endOrSemi, Strip: true, Max: 8}, "a;bEND", "a", 2, nil},
		{"second of two delimiters", Delimiter{Delimiters: endOrSemi, Strip: true, Max: 8}, "abEND;", "ab", 5, nil},
		{"longest at the same end, listed first", Delimiter{Delimiters: crlfOrLF, Strip: true, Max: 8}, "ab\r\ncd", "ab", 4, nil},
		{"longest at the same end, listed last", Delimiter{Delimiters: lfOrCRLF, Strip: true, Max: 8}, "ab\r\ncd", "ab", 4, nil},
		{"bare lf", Delimiter{Delimiters: crlfOrLF, Strip: true, Max: 8}, "ab\ncd\r\n", "ab", 3, nil},
		{"earliest end wins over earliest start", Delimiter{Delimiters: bcOrABCD, Strip: true, Max: 8}, "xabcd", "xa", 4, nil},
		{"inner delimiter ends first", Delimiter{Delimiters: bcOrABCD, Strip: true, Max: 8}, "abcdbc", "a", 3, nil},
		{"partial delimiter", Delimiter{Delimiters: endOrSemi, Max: 8}, "abEN", "", 0, codecs.ErrNeedMore},
		{"frame of max bytes", Delimiter{Delimiters: nul, Strip: true, Max: 3}, "abc\x00", "abc", 4, nil},
		{"frame of max+1 bytes", Delimiter{Delimiters: nul, Strip: true, Max: 3}, "abcd\x00", "", 0, errNoDelimiter},
		{"max+1 bytes and no delimiter", Delimiter{Delimiters: nul, Max: 3}, "abcd", "", 0, errNoDelimiter},
		{"max bytes and no delimiter", Delimiter{Delimiters: nul, Max: 3}, "abc", "", 0, codecs.ErrNeedMore},
		{"max bytes and a partial delimiter", Delimiter{Delimiters: crlfOrLF, Max: 3}, "abc\r", "", 0, codecs.ErrNeedMore},
		{"max bytes and a delimiter", Delimiter{Delimiters: crlfOrLF, Max: 3}, "abc\r\n", "abc\r\n", 5, nil},
		{"max+2 bytes and no delimiter", Delimiter{Delimiters: crlfOrLF, Max: 3}, "abcde", "", 0, errNoDelimiter},
		{"max+1 bytes and a short delimiter", Delimiter{Delimiters: crlfOrLF, Max: 3}, "abcd\n", "", 0, errNoDelimiter},
		{"delimiter past the scanned bytes", Delimiter{Delimiters: nul, Max: 3}, "abcdefgh\x00", "", 0, errNoDelimiter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := tt.d.Decode([]byte(tt.in))
			if err != tt.err || n != tt.n || (err == nil && string(frame) != tt.want) {
				t.Fatalf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tt.in, frame, n, err, tt.want, tt.n, tt.err)
			}
		})
	}
}

// TestDelimiterStream checks pipelined frames and frames split anywhere.
func TestDelimiterStream(t *testing.T) {
	tests := []struct {
		name string
		d    Delimiter
		in   string
		want []string
	}{
		{"nul, strip", Delimiter{Delimiters: nul, Strip: true, Max: 8}, "abc\x00\x00de\x00", []string{"abc", "", "de"}},
		{"crlf or lf, keep", Delimiter{Delimiters: crlfOrLF, Max: 8}, "ab\r\ncd\n\r\n", []string{"ab\r\n", "cd\n", "\r\n"}},
		{"two multi-byte delimiters", Delimiter{Delimiters: endOrSemi, Strip: true, Max: 8}, "aEND;bENDc;", []string{"a", "", "b", "c"}},
		{"nested delimiters", Delimiter{Delimiters: bcOrABCD, Strip: true, Max: 8}, "xabcdbc", []string{"xa", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSplits(t, tt.d, []byte(tt.in), toFrames(tt.want))
		})
	}
}

// TestDelimiterAppend checks round trips and the payloads Append refuses.
func TestDelimiterAppend(t *testing.T) {
	tests := []struct {
		name    string
		d       Delimiter
		payload string
		wire    string // empty when err is set
		err     error
	}{
		{"nul", Delimiter{Delimiters: nul, Strip: true, Max: 8}, "abc", "abc\x00", nil},
		{"empty payload", Delimiter{Delimiters: nul, Strip: true, Max: 8}, "", "\x00", nil},
		{"payload of max bytes", Delimiter{Delimiters: crlfOrLF, Max: 3}, "abc", "abc\r\n", nil},
		{"cr before crlf", Delimiter{Delimiters: crlfOrLF, Max: 8}, "ab\r", "ab\r\r\n", nil},
		{"payload of max+1 bytes", Delimiter{Delimiters: nul, Max: 3}, "abcd", "", errPayloadTooLarge},
		{"delimiter inside", Delimiter{Delimiters: nul, Max: 8}, "a\x00b", "", ErrDelimiterInPayload},
		{"other delimiter inside", Delimiter{Delimiters: endOrSemi, Max: 8}, "a;b", "", ErrDelimiterInPayload},
		{"cr before lf", Delimiter{Delimiters: lfOrCRLF, Max: 8}, "ab\r", "", ErrDelimiterInPayload},
		{"end forms an earlier delimiter", Delimiter{Delimiters: [][]byte{[]byte("bc"), []byte("ab")}, Max: 8}, "xa", "", ErrDelimiterInPayload},
		{"end is a prefix of a longer delimiter", Delimiter{Delimiters: bcOrABCD, Max: 8}, "xa", "xabc", nil},
		{"invalid config", Delimiter{Max: 8}, "a", "", ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.Append([]byte("dst"), []byte(tt.payload))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || string(got) != "dst" {
					t.Fatalf("Append(%q) = %q, %v; want %q, %v", tt.payload, got, err, "dst", tt.err)
				}
				return
			}
			if err != nil || string(got) != "dst"+tt.wire {
				t.Fatalf("Append(%q) = %q, %v; want %q", tt.payload, got, err, "dst"+tt.wire)
			}
			frame, n, err := tt.d.Decode(got[3:])
			want := tt.wire
			if tt.d.Strip {
				want = tt.payload
			}
			if err != nil || n != len(tt.wire) || string(frame) != want {
				t.Fatalf("Decode(Append(%q)) = %q, %d, %v; want %q", tt.payload, frame, n, err, want)
			}
		})
	}
}

// TestLineDecode checks where lines end, with and without Strip, and the
// limits at Max and Max+1.
func TestLineDecode(t *testing.T) {
	tests := []struct {
		name string
		l    Line
		in   string
		want string // the frame, when err is nil
		n    int
		err  error
	}{
		{"lf, strip", Line{Max: 8, Strip: true}, "abc\ndef", "abc", 4, nil},
		{"crlf, strip", Line{Max: 8, Strip: true}, "abc\r\ndef", "abc", 5, nil},
		{"lf, keep", Line{Max: 8}, "abc\ndef", "abc\n", 4, nil},
		{"crlf, keep", Line{Max: 8}, "abc\r\ndef", "abc\r\n", 5, nil},
		{"empty line", Line{Max: 8, Strip: true}, "\n", "", 1, nil},
		{"empty line with crlf", Line{Max: 8, Strip: true}, "\r\n", "", 2, nil},
		{"cr inside a line", Line{Max: 8, Strip: true}, "a\rb\n", "a\rb", 4, nil},
		{"cr cr lf", Line{Max: 8, Strip: true}, "ab\r\r\n", "ab\r", 5, nil},
		{"no lf yet", Line{Max: 8}, "abc\r", "", 0, codecs.ErrNeedMore},
		{"empty input", Line{Max: 8}, "", "", 0, codecs.ErrNeedMore},
		{"line of max bytes", Line{Max: 3, Strip: true}, "abc\n", "abc", 4, nil},
		{"line of max bytes with crlf", Line{Max: 3, Strip: true}, "abc\r\n", "abc", 5, nil},
		{"line of max+1 bytes", Line{Max: 3}, "abcd\n", "", 0, errNoDelimiter},
		{"max+1 bytes, could still end in crlf", Line{Max: 3}, "abcd", "", 0, codecs.ErrNeedMore},
		{"max+2 bytes and no lf", Line{Max: 3}, "abcde", "", 0, errNoDelimiter},
		{"lf past the scanned bytes", Line{Max: 3}, "abcdefgh\n", "", 0, errNoDelimiter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, n, err := tt.l.Decode([]byte(tt.in))
			if err != tt.err || n != tt.n || (err == nil && string(frame) != tt.want) {
				t.Fatalf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tt.in, frame, n, err, tt.want, tt.n, tt.err)
			}
			// Line decodes as a Delimiter with "\r\n" and "\n".
			d := Delimiter{Delimiters: crlfOrLF, Strip: tt.l.Strip, Max: tt.l.Max}
			dframe, dn, derr := d.Decode([]byte(tt.in))
			if derr != err || dn != n || !bytes.Equal(dframe, frame) {
				t.Fatalf("Delimiter.Decode(%q) = %q, %d, %v; Line gives %q, %d, %v", tt.in, dframe, dn, derr, frame, n, err)
			}
		})
	}
}

// TestLineStream checks pipelined lines and lines split anywhere, including
// between "\r" and "\n", and round trips through Append.
func TestLineStream(t *testing.T) {
	in := []byte("GET / HTTP/1.0\r\nHost: a\n\r\nlast\r\n")
	checkSplits(t, Line{Max: 16, Strip: true}, in, toFrames([]string{"GET / HTTP/1.0", "Host: a", "", "last"}))
	checkSplits(t, Line{Max: 16}, in, toFrames([]string{"GET / HTTP/1.0\r\n", "Host: a\n", "\r\n", "last\r\n"}))

	l := Line{Max: 16, Strip: true}
	payloads := []string{"PING", "", "ends in cr\r", "16 bytes of text"}
	var wire []byte
	for _, p := range payloads {
		var err error
		if wire, err = l.Append(wire, []byte(p)); err != nil {
			t.Fatalf("Append(%q): %v", p, err)
		}
	}
	checkSplits(t, l, wire, toFrames(payloads))
}

func TestLineAppendErrors(t *testing.T) {
	tests := []struct {
		name    string
		l       Line
		payload string
		err     error
	}{
		{"payload of max+1 bytes", Line{Max: 3}, "abcd", errPayloadTooLarge},
		{"lf inside", Line{Max: 8}, "a\nb", ErrDelimiterInPayload},
		{"lf at the end", Line{Max: 8}, "ab\n", ErrDelimiterInPayload},
		{"invalid config", Line{}, "a", ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.l.Append([]byte("dst"), []byte(tt.payload)); !errors.Is(err, tt.err) || string(got) != "dst" {
				t.Fatalf("Append(%q) = %q, %v; want %q, %v", tt.payload, got, err, "dst", tt.err)
			}
		})
	}
}

func BenchmarkDelimiter(b *testing.B) {
	benchmarks := []struct {
		name string
		d    Delimiter
	}{
		{"nul", Delimiter{Delimiters: nul, Strip: true, Max: 1 << 16}},
		{"crlf-or-lf", Delimiter{Delimiters: crlfOrLF, Strip: true, Max: 1 << 16}},
	}
	for _, bm := range benchmarks {
		for _, size := range []int{64, 4096} {
			benchmarkFramer(b, bm.name+"-"+sizeName(size), bm.d, bytes.Repeat([]byte("x"), size))
		}
	}
}

func BenchmarkLine(b *testing.B) {
	for _, size := range []int{64, 4096} {
		benchmarkFramer(b, sizeName(size), Line{Max: 1 << 16, Strip: true}, bytes.Repeat([]byte("x"), size))
	}
}
