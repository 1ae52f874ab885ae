package framing

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
)

// LengthField frames a stream by a length field at a fixed offset in each
// frame, with the knobs of Netty's LengthFieldBasedFrameDecoder. A frame is
//
//	[Offset bytes of header][Length-byte length value][value+Adjust bytes]
//
// so its total size is Offset+Length+value+Adjust. With Adjust 0 the value
// counts the bytes after the length field; a protocol whose length counts
// the whole frame uses Adjust = -(Offset+Length), one that counts a trailer
// too uses a positive Adjust.
//
// The zero value is not valid: Length and Max must be set. Note that the
// zero BigEndian is little-endian, while Netty, tokio and most protocols use
// network byte order; a spec says "endian": "big" or "little" explicitly.
type LengthField struct {
	// Offset ("offset") is the number of bytes before the length field,
	// Netty's lengthFieldOffset. It must be 0 or more.
	Offset int

	// Length ("length") is the size of the length field in bytes: 1, 2, 3,
	// 4 or 8. The value is unsigned; an 8-byte value above 2^63-1 is an
	// error.
	Length int

	// Adjust ("adjust") is added to the length value to get the number of
	// bytes after the length field, Netty's lengthAdjustment. It may be
	// negative.
	Adjust int

	// Strip ("strip") is the number of leading bytes Decode drops from each
	// frame it returns, Netty's initialBytesToStrip: Offset+Length returns
	// the payload alone, 0 the whole frame. It must be 0 or more.
	Strip int

	// BigEndian ("endian": "big") selects network byte order for the length
	// field; false ("endian": "little") selects little-endian.
	BigEndian bool

	// Max ("max") bounds the size of a whole frame, header included and
	// before Strip, Netty's maxFrameLength. It must be at least
	// Offset+Length.
	Max int

	// FailFast ("fail_fast") makes Decode report a frame over Max as soon as
	// its length field is readable, rather than once the whole frame has
	// arrived; see [LengthField.Decode].
	FailFast bool
}

// Validate reports whether f is a usable framer. It returns a [*ConfigError]
// naming the first field at fault, or nil. Besides the bounds each field
// documents, it rejects an Adjust with which every frame would be over Max
// or end inside the length field, and a Strip larger than Max.
func (f LengthField) Validate() error {
	switch {
	case f.Offset < 0:
		return f.fieldError("Offset", f.Offset, "0 or more")
	case !validLength(f.Length):
		return f.fieldError("Length", f.Length, "1, 2, 3, 4 or 8")
	case f.Max < 1:
		return f.fieldError("Max", f.Max, "1 or more")
	case f.Offset > f.Max-f.Length:
		return f.fieldError("Offset", f.Offset, "at most Max-Length ("+strconv.Itoa(f.Max-f.Length)+")")
	case f.Strip < 0:
		return f.fieldError("Strip", f.Strip, "0 or more")
	case f.Strip > f.Max:
		return f.fieldError("Strip", f.Strip, "at most Max ("+strconv.Itoa(f.Max)+")")
	case f.Adjust > f.Max-f.Offset-f.Length:
		return f.fieldError("Adjust", f.Adjust,
			"at most Max-Offset-Length ("+strconv.Itoa(f.Max-f.Offset-f.Length)+") so that some frame fits in Max")
	case int64(f.Adjust) < -int64(maxValue(f.Length)):
		return f.fieldError("Adjust", f.Adjust,
			"at least -"+strconv.FormatUint(maxValue(f.Length), 10)+" so that some frame ends after its length field")
	}
	return nil
}

// Decode returns the first frame in in, without its first Strip bytes, and
// the size of the whole frame, which it consumes. The frame is a slice of
// in, valid until the caller's buffer changes.
//
// It returns codecs.ErrNeedMore, consuming nothing, until in holds the
// length field and then the whole frame. A length field that declares an
// impossible frame gives an error wrapping [ErrBadLength] as soon as it is
// readable: an 8-byte value above 2^63-1, a size that overflows, a size
// smaller than Offset+Length (a negative value+Adjust), or one smaller than
// Strip.
//
// A frame over Max gives a [*TooLargeError]. With FailFast it comes as soon
// as the length field is readable and consumes nothing: the caller closes
// the connection, or discards the error's Size bytes itself as they arrive.
// Without FailFast, Decode returns codecs.ErrNeedMore until the whole
// oversized frame has arrived and then the error with n = its size, so that
// the caller may drop those bytes and decode the next frame; this requires
// the caller to buffer up to the declared size, which the peer chooses, so
// use it only with a bound on the read buffer that is then enforced.
func (f LengthField) Decode(in []byte) (frame []byte, n int, err error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	header := f.Offset + f.Length
	if len(in) < header {
		return nil, 0, codecs.ErrNeedMore
	}
	size, err := f.frameSize(readValue(in[f.Offset:header], f.BigEndian))
	if err != nil {
		return nil, 0, err
	}
	if size > int64(f.Max) {
		if f.FailFast {
			return nil, 0, &TooLargeError{Size: size, Max: f.Max}
		}
		if int64(len(in)) < size {
			return nil, 0, codecs.ErrNeedMore
		}
		return nil, int(size), &TooLargeError{Size: size, Max: f.Max}
	}
	n = int(size)
	if len(in) < n {
		return nil, 0, codecs.ErrNeedMore
	}
	return in[f.Strip:n:n], n, nil
}

// frameSize returns the size of a whole frame whose length field holds
// value, checking it as Decode documents except against Max.
func (f LengthField) frameSize(value uint64) (int64, error) {
	if value > math.MaxInt64 {
		return 0, errSignedLength
	}
	v, adjust := int64(value), int64(f.Adjust)
	if adjust > 0 && v > math.MaxInt64-adjust {
		return 0, errLengthOverflow
	}
	after := v + adjust // Validate keeps adjust >= -MaxInt64, so no underflow
	if after < 0 {
		return 0, errShortFrame
	}
	header := int64(f.Offset + f.Length)
	if after > math.MaxInt64-header {
		return 0, errLengthOverflow
	}
	size := header + after
	if size < int64(f.Strip) {
		return 0, errStripPastFrame
	}
	return size, nil
}

// Append appends to dst a frame whose bytes after the length field are
// payload: Offset zero bytes, which the caller may overwrite with its
// header (they start at the old len(dst)), then the length field holding
// len(payload)-Adjust, then payload. It returns the extended buffer.
//
// Append supports every configuration Validate accepts. Decode gives back
// the frame's bytes from Strip on: payload itself when Strip is
// Offset+Length, the header and payload when Strip is smaller, and payload
// without its first Strip-Offset-Length bytes when Strip is larger.
//
// Append returns dst unchanged and an error for a payload Decode would
// reject: one that makes the frame larger than Max or its value larger than
// the length field holds ([ErrTooLarge]), or one shorter than Adjust or that
// makes the frame shorter than Strip ([ErrBadLength]).
func (f LengthField) Append(dst, payload []byte) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return dst, err
	}
	header := f.Offset + f.Length
	if len(payload) > f.Max-header {
		return dst, errPayloadTooLarge
	}
	if header+len(payload) < f.Strip {
		return dst, errStripPastFrame
	}
	var value uint64
	if f.Adjust >= 0 {
		if len(payload) < f.Adjust {
			return dst, errPayloadBelow
		}
		value = uint64(len(payload) - f.Adjust)
	} else {
		// Both terms are at most 2^63-1, so the sum cannot wrap.
		value = uint64(len(payload)) + uint64(-int64(f.Adjust))
	}
	if value > maxValue(f.Length) {
		return dst, errFieldCapacity
	}
	dst = append(dst, make([]byte, f.Offset)...)
	dst = appendValue(dst, value, f.Length, f.BigEndian)
	return append(dst, payload...), nil
}

func (f LengthField) fieldError(field string, value int, want string) error {
	return &ConfigError{Framer: "LengthField", Field: field, Reason: "is " + strconv.Itoa(value) + ", want " + want}
}

func validLength(length int) bool {
	switch length {
	case 1, 2, 3, 4, 8:
		return true
	}
	return false
}

// maxValue returns the largest value a valid length field of the given size
// can declare.
func maxValue(length int) uint64 {
	if length >= 8 {
		return math.MaxInt64
	}
	return 1<<(8*length) - 1
}

// readValue decodes the unsigned integer in field, which is 1, 2, 3, 4 or 8
// bytes long.
func readValue(field []byte, bigEndian bool) uint64 {
	if bigEndian {
		switch len(field) {
		case 1:
			return uint64(field[0])
		case 2:
			return uint64(binary.BigEndian.Uint16(field))
		case 3:
			return uint64(field[0])<<16 | uint64(field[1])<<8 | uint64(field[2])
		case 4:
			return uint64(binary.BigEndian.Uint32(field))
		}
		return binary.BigEndian.Uint64(field)
	}
	switch len(field) {
	case 1:
		return uint64(field[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(field))
	case 3:
		return uint64(field[2])<<16 | uint64(field[1])<<8 | uint64(field[0])
	case 4:
		return uint64(binary.LittleEndian.Uint32(field))
	}
	return binary.LittleEndian.Uint64(field)
}

// appendValue appends value as a length-byte unsigned integer; value fits.
func appendValue(dst []byte, value uint64, length int, bigEndian bool) []byte {
	if bigEndian {
		switch length {
		case 1:
			return append(dst, byte(value))
		case 2:
			return binary.BigEndian.AppendUint16(dst, uint16(value))
		case 3:
			return append(dst, byte(value>>16), byte(value>>8), byte(value))
		case 4:
			return binary.BigEndian.AppendUint32(dst, uint32(value))
		}
		return binary.BigEndian.AppendUint64(dst, value)
	}
	switch length {
	case 1:
		return append(dst, byte(value))
	case 2:
		return binary.LittleEndian.AppendUint16(dst, uint16(value))
	case 3:
		return append(dst, byte(value), byte(value>>8), byte(value>>16))
	case 4:
		return binary.LittleEndian.AppendUint32(dst, uint32(value))
	}
	return binary.LittleEndian.AppendUint64(dst, value)
}
