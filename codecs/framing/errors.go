package framing

import (
	"errors"
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
)

// ErrTooLarge is wrapped by every error that reports a frame or payload over
// a framer's limit: its Max, or what a [LengthField]'s length field can hold.
// It wraps [codecs.ErrTooLarge].
var ErrTooLarge = codecs.NewError("penstock/framing: frame too large", codecs.ErrTooLarge)

// ErrBadLength is wrapped by every error that reports a frame length that
// cannot be valid: a [LengthField] length that is negative, overflows, ends
// inside the header or is shorter than Strip, and a payload whose length
// Append cannot encode (shorter than a LengthField's Adjust, or not a
// [Fixed] frame's Size). A stream cannot be resynchronised after Decode
// returns it.
var ErrBadLength = errors.New("penstock/framing: bad frame length")

// ErrDelimiterInPayload is returned by [Delimiter.Append] and [Line.Append]
// for a payload that would not come back whole from Decode, because it
// contains a delimiter or ends with bytes that form one with the delimiter
// Append writes.
var ErrDelimiterInPayload = errors.New("penstock/framing: payload contains a delimiter")

// ErrConfig is wrapped by every [*ConfigError], so that a caller can test for
// a configuration error with errors.Is(err, ErrConfig).
var ErrConfig = errors.New("penstock/framing: invalid framer configuration")

// The causes of ErrTooLarge and ErrBadLength, one per check, so that these
// error paths allocate nothing and each failure has a stable message.
var (
	errNoDelimiter      = tooLarge("no delimiter within Max bytes")
	errDatagramTooLarge = tooLarge("datagram longer than Max")
	errPayloadTooLarge  = tooLarge("payload longer than Max allows")
	errFieldCapacity    = tooLarge("payload does not fit the length field")
	errSignedLength     = badLength("8-byte length field value above 2^63-1")
	errLengthOverflow   = badLength("frame size overflows a 64-bit integer")
	errShortFrame       = badLength("adjusted frame length ends inside the length field")
	errStripPastFrame   = badLength("frame shorter than Strip")
	errPayloadBelow     = badLength("payload shorter than Adjust")
	errFixedSize        = badLength("payload is not Size bytes")
)

// TooLargeError is returned by [LengthField.Decode] when a length field
// declares a frame larger than Max. It matches [ErrTooLarge] and
// [codecs.ErrTooLarge] under errors.Is, and its message names the size, so
// it is the one error Decode allocates on a valid framer; see
// [LengthField.Decode] for when it is returned and how much it consumes.
type TooLargeError struct {
	// Size is the frame size, in bytes, the length field declares:
	// Offset+Length+value+Adjust.
	Size int64

	// Max is the limit the frame exceeds, the LengthField's Max.
	Max int
}

// Error returns a message naming the declared size and the limit.
func (e *TooLargeError) Error() string {
	return "penstock/framing: length field declares a frame of " + strconv.FormatInt(e.Size, 10) +
		" bytes, over Max " + strconv.Itoa(e.Max)
}

// Unwrap returns [ErrTooLarge].
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// ConfigError is returned by the Validate methods, and by Decode and Append
// on a framer that fails Validate. It names the framer type and the field at
// fault, so that a spec compiler can point at the knob. It wraps [ErrConfig].
type ConfigError struct {
	// Framer is the name of the framer type, such as "LengthField".
	Framer string

	// Field is the name of the struct field at fault, such as "Length".
	Field string

	// Reason says what is wrong with the field's value, such as
	// "is 5, want 1, 2, 3, 4 or 8".
	Reason string
}

// Error returns a message such as
// "penstock/framing: LengthField.Length is 5, want 1, 2, 3, 4 or 8".
func (e *ConfigError) Error() string {
	return "penstock/framing: " + e.Framer + "." + e.Field + " " + e.Reason
}

// Unwrap returns [ErrConfig].
func (e *ConfigError) Unwrap() error { return ErrConfig }

// tooLarge returns a cause of ErrTooLarge whose message is ErrTooLarge's
// followed by detail.
func tooLarge(detail string) error {
	return codecs.NewError(ErrTooLarge.Error()+": "+detail, ErrTooLarge)
}

// badLength returns a cause of ErrBadLength whose message is ErrBadLength's
// followed by detail.
func badLength(detail string) error {
	return codecs.NewError(ErrBadLength.Error()+": "+detail, ErrBadLength)
}

// positive returns the error for a size knob that must be at least 1, or nil.
func positive(framer, field string, value int) error {
	if value >= 1 {
		return nil
	}
	return &ConfigError{Framer: framer, Field: field, Reason: "is " + strconv.Itoa(value) + ", want 1 or more"}
}
