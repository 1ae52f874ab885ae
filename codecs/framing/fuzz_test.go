package framing

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// fuzzLengths maps a fuzzed byte to a length field size, valid or not.
var fuzzLengths = [...]int{1, 2, 3, 4, 8, 0, 5}

// FuzzLengthField checks that LengthField.Decode never panics, keeps the
// stage contract and gives the same result for every prefix that does not
// need more, that with FailFast Max bytes always suffice, that it agrees
// with a reference decoder in arbitrary-precision arithmetic, and that
// Append refuses exactly the payloads Decode would not give back.
func FuzzLengthField(f *testing.F) {
	f.Add(cat([]byte{0x00, 0x0c}, helloWorld), uint8(0), uint8(1), int64(0), uint8(2), true, int64(64), false)
	f.Add(cat([]byte{0xca, 0x00, 0x10, 0xfe}, helloWorld), uint8(1), uint8(1), int64(-3), uint8(3), true, int64(64), true)
	f.Add(cat([]byte{0x00, 0x00, 0x0c, 0xca, 0xfe}, helloWorld), uint8(0), uint8(2), int64(2), uint8(0), true, int64(17), false)
	f.Add(cat([]byte{0x0c, 0, 0, 0, 0, 0, 0, 0}, helloWorld), uint8(0), uint8(4), int64(0), uint8(8), false, int64(20), true)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8}, uint8(0), uint8(4), int64(0), uint8(8), true, int64(math.MaxInt64), true)
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0}, uint8(0), uint8(4), int64(0), uint8(0), true, int64(math.MaxInt64), false)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(0), uint8(4), int64(-math.MaxInt64), uint8(0), true, int64(64), false)
	f.Add(cat([]byte{0x0d}, helloWorld, []byte("tail")), uint8(0), uint8(0), int64(0), uint8(1), false, int64(13), false)
	f.Fuzz(func(t *testing.T, data []byte, offset, length uint8, adjust int64, strip uint8, bigEndian bool, maxSize int64, failFast bool) {
		lf := LengthField{
			Offset:    int(offset % 16),
			Length:    fuzzLengths[int(length)%len(fuzzLengths)],
			Adjust:    int(adjust),
			Strip:     int(strip),
			BigEndian: bigEndian,
			Max:       int(maxSize),
			FailFast:  failFast,
		}
		valid := lf.Validate() == nil
		bound := -1
		if valid && failFast {
			bound = lf.Max
		}
		checkPrefixes(t, lf, data, bound)
		if !valid {
			return
		}
		frame, n, err := lf.Decode(data)
		wantFrame, wantN, wantErr := referenceLengthField(lf, data)
		if errorText(err) != errorText(wantErr) || n != wantN || !bytes.Equal(frame, wantFrame) {
			t.Fatalf("%+v: Decode(%x) = %x, %d, %v; reference %x, %d, %v", lf, data, frame, n, err, wantFrame, wantN, wantErr)
		}
		checkLengthFieldAppend(t, lf, data)
	})
}

// referenceLengthField decodes in as LengthField.Decode documents, in
// arbitrary-precision arithmetic so that no step can overflow.
func referenceLengthField(lf LengthField, in []byte) ([]byte, int, error) {
	header := lf.Offset + lf.Length
	if len(in) < header {
		return nil, 0, codecs.ErrNeedMore
	}
	value := new(big.Int)
	for i := range lf.Length {
		b := in[lf.Offset+i]
		if !lf.BigEndian {
			b = in[header-1-i]
		}
		value.Lsh(value, 8).Or(value, big.NewInt(int64(b)))
	}
	maxInt64 := big.NewInt(math.MaxInt64)
	if value.Cmp(maxInt64) > 0 {
		return nil, 0, errSignedLength
	}
	after := new(big.Int).Add(value, big.NewInt(int64(lf.Adjust)))
	if after.Cmp(maxInt64) > 0 {
		return nil, 0, errLengthOverflow
	}
	if after.Sign() < 0 {
		return nil, 0, errShortFrame
	}
	size := after.Add(after, big.NewInt(int64(header)))
	switch {
	case size.Cmp(maxInt64) > 0:
		return nil, 0, errLengthOverflow
	case size.Cmp(big.NewInt(int64(lf.Strip))) < 0:
		return nil, 0, errStripPastFrame
	case size.Cmp(big.NewInt(int64(lf.Max))) > 0:
		tooLarge := &TooLargeError{Size: size.Int64(), Max: lf.Max}
		if lf.FailFast {
			return nil, 0, tooLarge
		}
		if size.Cmp(big.NewInt(int64(len(in)))) > 0 {
			return nil, 0, codecs.ErrNeedMore
		}
		return nil, int(size.Int64()), tooLarge
	case size.Cmp(big.NewInt(int64(len(in)))) > 0:
		return nil, 0, codecs.ErrNeedMore
	}
	n := int(size.Int64())
	return in[lf.Strip:n], n, nil
}

// checkLengthFieldAppend checks that Append(payload) writes Offset zeros,
// the length and payload, and that Decode reads it back; or, when Append
// refuses the payload, that Decode rejects the frame Append would have
// written, when the value fits the field at all.
func checkLengthFieldAppend(t *testing.T, lf LengthField, payload []byte) {
	header := lf.Offset + lf.Length
	wire, err := lf.Append(nil, payload)
	if err == nil {
		if !bytes.Equal(wire[:lf.Offset], make([]byte, lf.Offset)) || !bytes.Equal(wire[header:], payload) {
			t.Fatalf("%+v: Append(%x) = %x", lf, payload, wire)
		}
		frame, n, derr := lf.Decode(wire)
		if derr != nil || n != len(wire) || !bytes.Equal(frame, wire[lf.Strip:]) {
			t.Fatalf("%+v: Decode(Append(%x)) = %x, %d, %v", lf, payload, frame, n, derr)
		}
		return
	}
	checkAppendError(t, lf, err)
	value := int64(len(payload)) - int64(lf.Adjust)
	if lf.Adjust < 0 && int64(len(payload)) > math.MaxInt64+int64(lf.Adjust) {
		return // the value overflows; no length field can hold it
	}
	if value < 0 || uint64(value) > maxValue(lf.Length) {
		return
	}
	wire = cat(make([]byte, lf.Offset), appendValue(nil, uint64(value), lf.Length, lf.BigEndian), payload)
	if frame, n, derr := lf.Decode(wire); derr == nil && n == len(wire) {
		t.Fatalf("%+v: Append(%x): %v, but Decode(%x) = %x, %d", lf, payload, err, wire, frame, n)
	}
}

// FuzzDelimiter checks that Delimiter.Decode never panics, keeps the stage
// contract, gives the same result for every prefix that does not need more,
// never needs more with Max plus the longest delimiter buffered, agrees with
// a naive reference decoder, and that Append refuses exactly the payloads
// Decode would not give back.
func FuzzDelimiter(f *testing.F) {
	f.Add([]byte("abc\x00de\x00"), []byte{0}, []byte(nil), true, 8)
	f.Add([]byte("ab\r\ncd\n"), []byte("\r\n"), []byte("\n"), false, 3)
	f.Add([]byte("xabcdbc"), []byte("bc"), []byte("abcd"), true, 8)
	f.Add([]byte("aEND;bENDc;"), []byte("END"), []byte(";"), true, 2)
	f.Add([]byte("abc"), []byte(nil), []byte(";"), true, 8)
	f.Fuzz(func(t *testing.T, data, first, second []byte, strip bool, maxLen int) {
		d := Delimiter{Delimiters: [][]byte{first}, Strip: strip, Max: maxLen}
		if len(second) > 0 {
			d.Delimiters = append(d.Delimiters, second)
		}
		valid := d.Validate() == nil
		bound := -1
		if valid {
			bound = d.Max + max(len(first), len(second))
		}
		checkPrefixes(t, d, data, bound)
		if !valid {
			return
		}
		frame, n, err := d.Decode(data)
		wantFrame, wantN, wantErr := referenceDelimiter(d, data)
		if err != wantErr || n != wantN || !bytes.Equal(frame, wantFrame) {
			t.Fatalf("%+v: Decode(%q) = %q, %d, %v; reference %q, %d, %v", d, data, frame, n, err, wantFrame, wantN, wantErr)
		}
		checkDelimitedAppend(t, d, strip, data, first, func(in []byte) ([]byte, int, error) {
			return referenceDelimiter(Delimiter{Delimiters: d.Delimiters, Strip: true, Max: len(in)}, in)
		})
	})
}

// referenceDelimiter decodes in as Delimiter.Decode documents, trying every
// end position and, at each, every delimiter, longest first.
func referenceDelimiter(d Delimiter, in []byte) ([]byte, int, error) {
	longest := 0
	for _, delim := range d.Delimiters {
		longest = max(longest, len(delim))
	}
	for end := 1; end <= len(in); end++ {
		delimLen := 0
		for _, delim := range d.Delimiters {
			if bytes.HasSuffix(in[:end], delim) {
				delimLen = max(delimLen, len(delim))
			}
		}
		if delimLen == 0 {
			continue
		}
		if end-delimLen > d.Max {
			return nil, 0, errNoDelimiter
		}
		if d.Strip {
			return in[:end-delimLen], end, nil
		}
		return in[:end], end, nil
	}
	if len(in) >= d.Max+longest {
		return nil, 0, errNoDelimiter
	}
	return nil, 0, codecs.ErrNeedMore
}

// checkDelimitedAppend checks Append for a delimiter framer f that appends
// delim and strips it when strip is set: a payload it accepts comes back
// from Decode; one it refuses as holding a delimiter does not come back from
// stripped, a decoder that strips and has no effective Max.
func checkDelimitedAppend(t *testing.T, f framer, strip bool, payload, delim []byte, stripped func([]byte) ([]byte, int, error)) {
	wire, err := f.Append(nil, payload)
	if err == nil {
		if !bytes.Equal(wire, cat(payload, delim)) {
			t.Fatalf("%+v: Append(%q) = %q", f, payload, wire)
		}
		want := wire
		if strip {
			want = payload
		}
		frame, n, derr := f.Decode(wire)
		if derr != nil || n != len(wire) || !bytes.Equal(frame, want) {
			t.Fatalf("%+v: Decode(Append(%q)) = %q, %d, %v", f, payload, frame, n, derr)
		}
		return
	}
	checkAppendError(t, f, err)
	if err == ErrDelimiterInPayload {
		wire = cat(payload, delim)
		if frame, n, derr := stripped(wire); derr == nil && n == len(wire) && bytes.Equal(frame, payload) {
			t.Fatalf("%+v: Append(%q): %v, but a decoder without Max reads the payload back", f, payload, err)
		}
	}
}

// FuzzLine checks that Line.Decode never panics, keeps the stage contract,
// gives the same result for every prefix that does not need more, never
// needs more with Max+2 bytes buffered, decodes exactly as a Delimiter with
// "\r\n" and "\n", and that Append refuses exactly the payloads Decode would
// not give back.
func FuzzLine(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.0\r\nHost: a\n\r\n"), true, 16)
	f.Add([]byte("ab\r\r\n"), false, 3)
	f.Add([]byte("abcd\r"), true, 3)
	f.Fuzz(func(t *testing.T, data []byte, strip bool, maxLen int) {
		l := Line{Max: maxLen, Strip: strip}
		valid := l.Validate() == nil
		bound := -1
		if valid {
			bound = l.Max + 2
		}
		checkPrefixes(t, l, data, bound)
		if !valid {
			return
		}
		frame, n, err := l.Decode(data)
		d := Delimiter{Delimiters: crlfOrLF, Strip: strip, Max: maxLen}
		dframe, dn, derr := d.Decode(data)
		if err != derr || n != dn || !bytes.Equal(frame, dframe) {
			t.Fatalf("%+v: Decode(%q) = %q, %d, %v; Delimiter gives %q, %d, %v", l, data, frame, n, err, dframe, dn, derr)
		}
		checkDelimitedAppend(t, l, strip, data, []byte("\r\n"), func(in []byte) ([]byte, int, error) {
			return Line{Max: len(in), Strip: true}.Decode(in)
		})
	})
}

// FuzzFixed checks that Fixed.Decode never panics, keeps the stage contract,
// gives the same result for every prefix that does not need more, returns
// the first Size bytes once it has them, and round trips through Append.
func FuzzFixed(f *testing.F) {
	f.Add([]byte("abcdefgh"), 4)
	f.Add([]byte("ab"), 3)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		fixed := Fixed{Size: size}
		valid := fixed.Validate() == nil
		bound := -1
		if valid {
			bound = size
		}
		checkPrefixes(t, fixed, data, bound)
		if !valid {
			return
		}
		frame, n, err := fixed.Decode(data)
		if len(data) >= size && (err != nil || n != size || !bytes.Equal(frame, data[:size])) {
			t.Fatalf("%+v: Decode(%q) = %q, %d, %v", fixed, data, frame, n, err)
		}
		wire, err := fixed.Append(nil, data)
		if (err == nil) != (len(data) == size) || (err == nil && !bytes.Equal(wire, data)) {
			t.Fatalf("%+v: Append(%q) = %q, %v", fixed, data, wire, err)
		}
	})
}

// FuzzDatagram checks that Datagram.Decode never panics, returns every
// datagram of up to Max bytes whole and refuses longer ones, consuming the
// datagram either way, and round trips through Append.
func FuzzDatagram(f *testing.F) {
	f.Add([]byte("hello"), 5)
	f.Add([]byte("hello!"), 5)
	f.Add([]byte(nil), 1)
	f.Fuzz(func(t *testing.T, data []byte, maxLen int) {
		d := Datagram{Max: maxLen}
		frame, n, _, err := checkDecode(t, d, data)
		if d.Validate() != nil {
			if !errors.Is(err, ErrConfig) || n != 0 {
				t.Fatalf("%+v: Decode = %d, %v; want a configuration error", d, n, err)
			}
			return
		}
		if n != len(data) {
			t.Fatalf("%+v: Decode of %d bytes consumed %d", d, len(data), n)
		}
		if (len(data) <= maxLen) != (err == nil) || (err == nil && len(frame) != len(data)) || (err != nil && err != errDatagramTooLarge) {
			t.Fatalf("%+v: Decode of %d bytes = %d-byte frame, %v", d, len(data), len(frame), err)
		}
		wire, err := d.Append(nil, data)
		if (err == nil) != (len(data) <= maxLen) || (err == nil && !bytes.Equal(wire, data)) {
			t.Fatalf("%+v: Append(%q) = %q, %v", d, data, wire, err)
		}
	})
}
