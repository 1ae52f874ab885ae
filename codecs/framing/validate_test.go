package framing

import (
	"errors"
	"math"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// TestValidate checks that Validate accepts usable framers, names the field
// of each unusable one, and that Decode and Append fail with the same error
// instead of misbehaving.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		f      framer
		field  string // empty when f is valid
		reason string
	}{
		{"length field", LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 1 << 20}, "", ""},
		{"length field, every size", LengthField{Offset: 3, Length: 3, Max: 6}, "", ""},
		{"length field, header fills max", LengthField{Offset: math.MaxInt - 8, Length: 8, Max: math.MaxInt}, "", ""},
		{"length field, smallest adjust", LengthField{Length: 1, Adjust: -255, Max: 8}, "", ""},
		{"length field, smallest 8-byte adjust", LengthField{Length: 8, Adjust: -math.MaxInt64, Max: 8}, "", ""},
		{"length field, largest adjust", LengthField{Length: 2, Adjust: 6, Max: 8}, "", ""},
		{"length field, zero value", LengthField{}, "Length", "is 0, want 1, 2, 3, 4 or 8"},
		{"length field, negative offset", LengthField{Offset: -1, Length: 2, Max: 8}, "Offset", "is -1, want 0 or more"},
		{"length field, 5-byte length", LengthField{Length: 5, Max: 8}, "Length", "is 5, want 1, 2, 3, 4 or 8"},
		{"length field, no max", LengthField{Length: 2}, "Max", "is 0, want 1 or more"},
		{"length field, header over max", LengthField{Offset: 7, Length: 2, Max: 8}, "Offset", "is 7, want at most Max-Length (6)"},
		{"length field, huge offset", LengthField{Offset: math.MaxInt, Length: 8, Max: math.MaxInt}, "Offset", ""},
		{"length field, negative strip", LengthField{Length: 2, Strip: -1, Max: 8}, "Strip", "is -1, want 0 or more"},
		{"length field, strip over max", LengthField{Length: 2, Strip: 9, Max: 8}, "Strip", "is 9, want at most Max (8)"},
		{"length field, adjust over max", LengthField{Length: 2, Adjust: 7, Max: 8}, "Adjust",
			"is 7, want at most Max-Offset-Length (6) so that some frame fits in Max"},
		{"length field, adjust under the 1-byte value", LengthField{Length: 1, Adjust: -256, Max: 8}, "Adjust",
			"is -256, want at least -255 so that some frame ends after its length field"},
		{"length field, adjust -2^63", LengthField{Length: 8, Adjust: math.MinInt64, Max: 8}, "Adjust", ""},
		{"delimiter", Delimiter{Delimiters: crlfOrLF, Max: 1}, "", ""},
		{"delimiter, zero value", Delimiter{}, "Delimiters", "is empty, want at least one delimiter"},
		{"delimiter, empty delimiter", Delimiter{Delimiters: [][]byte{{0}, {}}, Max: 8}, "Delimiters",
			"has an empty delimiter at index 1"},
		{"delimiter, no max", Delimiter{Delimiters: nul}, "Max", "is 0, want 1 or more"},
		{"line", Line{Max: 1}, "", ""},
		{"line, negative max", Line{Max: -1}, "Max", "is -1, want 1 or more"},
		{"fixed", Fixed{Size: 1}, "", ""},
		{"fixed, zero value", Fixed{}, "Size", "is 0, want 1 or more"},
		{"datagram", Datagram{Max: 1}, "", ""},
		{"datagram, zero value", Datagram{}, "Max", "is 0, want 1 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) || !errors.Is(err, ErrConfig) || cerr.Field != tt.field {
				t.Fatalf("Validate = %v, want a ConfigError for %s", err, tt.field)
			}
			if tt.reason != "" && cerr.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", cerr.Reason, tt.reason)
			}
			want := "penstock/framing: " + cerr.Framer + "." + tt.field + " " + cerr.Reason
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			for _, in := range [][]byte{nil, []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\n")} {
				if frame, n, derr := tt.f.Decode(in); derr == nil || derr.Error() != err.Error() || frame != nil || n != 0 {
					t.Errorf("Decode(%q) = %q, %d, %v; want nil, 0, %v", in, frame, n, derr, err)
				}
			}
			if dst, aerr := tt.f.Append([]byte("dst"), []byte("x")); aerr == nil || aerr.Error() != err.Error() || string(dst) != "dst" {
				t.Errorf("Append = %q, %v; want %q, %v", dst, aerr, "dst", err)
			}
			if errors.Is(err, codecs.ErrNeedMore) {
				t.Errorf("%v matches ErrNeedMore", err)
			}
		})
	}
}
