package framing

import (
	"bytes"
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
)

// Delimiter frames a stream by delimiters, like Netty's
// DelimiterBasedFrameDecoder: a frame ends where the first delimiter
// completes.
//
// With several delimiters, the frame ends at the earliest position where any
// of them ends, and of those ending there the longest wins (so with "\r\n"
// and "\n" the frame never keeps the "\r"). Netty instead picks the
// delimiter that starts first; the two agree unless a delimiter contains
// another one that does not end it, as "abcd" contains "bc". The end-based
// rule keeps a frame from depending on how much of the stream has arrived.
type Delimiter struct {
	// Delimiters ("delimiters") are the byte strings that end a frame. There
	// must be at least one and none may be empty. Append writes the first.
	Delimiters [][]byte

	// Strip ("strip") makes Decode return frames without their delimiter.
	Strip bool

	// Max ("max") bounds the length of a frame without its delimiter. It
	// must be 1 or more.
	Max int
}

// Validate reports whether d is a usable framer. It returns a [*ConfigError]
// naming the first field at fault, or nil.
func (d Delimiter) Validate() error {
	if len(d.Delimiters) == 0 {
		return &ConfigError{Framer: "Delimiter", Field: "Delimiters", Reason: "is empty, want at least one delimiter"}
	}
	for i, delim := range d.Delimiters {
		if len(delim) == 0 {
			return &ConfigError{Framer: "Delimiter", Field: "Delimiters",
				Reason: "has an empty delimiter at index " + strconv.Itoa(i)}
		}
	}
	return positive("Delimiter", "Max", d.Max)
}

// Decode returns the first frame in in, with its delimiter unless Strip is
// set, and the length of the frame and delimiter, which it consumes. The
// frame is a slice of in, valid until the caller's buffer changes.
//
// It returns codecs.ErrNeedMore, consuming nothing, until a delimiter
// completes. It returns an error wrapping [ErrTooLarge], consuming nothing,
// once the frame is known to be longer than Max: when the first delimiter
// ends a longer frame, or when in holds Max bytes plus the longest delimiter
// and no delimiter. A stateless decoder cannot skip to the next delimiter,
// so the caller treats the error as fatal for the stream.
//
// Decode scans in from its start on every call, at most Max bytes plus the
// longest delimiter, once per delimiter; a frame that arrives in many small
// reads is scanned again on each.
func (d Delimiter) Decode(in []byte) (frame []byte, n int, err error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	longest := 0
	for _, delim := range d.Delimiters {
		longest = max(longest, len(delim))
	}
	window := in
	if len(in)-longest > d.Max {
		window = in[:d.Max+longest]
	}
	end, delimLen := firstEnd(window, d.Delimiters)
	if end < 0 {
		if len(in)-longest >= d.Max {
			return nil, 0, errNoDelimiter
		}
		return nil, 0, codecs.ErrNeedMore
	}
	return delimited(in, end, delimLen, d.Max, d.Strip)
}

// firstEnd returns the position just past the delimiter occurrence in in that
// ends first, the longest of those ending there, and that delimiter's length;
// or -1, 0 when no delimiter occurs in in.
func firstEnd(in []byte, delimiters [][]byte) (end, delimLen int) {
	end = -1
	for _, delim := range delimiters {
		scope := in
		if end >= 0 {
			scope = in[:end] // only an occurrence ending no later matters
		}
		i := bytes.Index(scope, delim)
		if i < 0 {
			continue
		}
		if e := i + len(delim); end < 0 || e < end || len(delim) > delimLen {
			end, delimLen = e, len(delim)
		}
	}
	return end, delimLen
}

// delimited returns the frame of a delimiter-framed stream in ends at end,
// with a delimiter of delimLen bytes: the frame, with the delimiter unless
// strip, and end consumed; or an error wrapping ErrTooLarge when the frame
// without its delimiter is longer than limit.
func delimited(in []byte, end, delimLen, limit int, strip bool) (frame []byte, n int, err error) {
	if end-delimLen > limit {
		return nil, 0, errNoDelimiter
	}
	if strip {
		return in[: end-delimLen : end-delimLen], end, nil
	}
	return in[:end:end], end, nil
}

// Append appends payload and the first delimiter to dst and returns the
// extended buffer. Decode gives back payload, followed by that delimiter
// unless Strip is set.
//
// Append returns dst unchanged and an error wrapping [ErrTooLarge] for a
// payload longer than Max, and [ErrDelimiterInPayload] for one that would
// end the frame early: it contains a delimiter, or its last bytes and the
// appended delimiter form a longer delimiter ending at the same place. It
// scans payload once per delimiter.
func (d Delimiter) Append(dst, payload []byte) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > d.Max {
		return dst, errPayloadTooLarge
	}
	first := d.Delimiters[0]
	out := append(append(dst, payload...), first...)
	if end, delimLen := firstEnd(out[len(dst):], d.Delimiters); end != len(payload)+len(first) || delimLen != len(first) {
		return dst, ErrDelimiterInPayload
	}
	return out, nil
}

// Line frames a stream of text lines, like Netty's LineBasedFrameDecoder:
// a frame ends at the first "\n", and the line terminator is "\r\n" when a
// "\r" precedes it. It decodes as Delimiter{Delimiters: {"\r\n", "\n"}}
// does, faster.
type Line struct {
	// Max ("max") bounds the length of a line without its terminator. It
	// must be 1 or more.
	Max int

	// Strip ("strip") makes Decode return lines without their "\n" or
	// "\r\n".
	Strip bool
}

// Validate reports whether l is a usable framer. It returns a [*ConfigError]
// naming the field at fault, or nil.
func (l Line) Validate() error {
	return positive("Line", "Max", l.Max)
}

// Decode returns the first line in in, with its terminator unless Strip is
// set, and the length of the line and terminator, which it consumes. The
// line is a slice of in, valid until the caller's buffer changes.
//
// It returns codecs.ErrNeedMore, consuming nothing, until a "\n" arrives. It
// returns an error wrapping [ErrTooLarge], consuming nothing, once the line
// is known to be longer than Max: when the first "\n" ends a longer line, or
// when in holds Max+2 bytes and no "\n". The caller treats the error as
// fatal for the stream. Decode scans at most Max+2 bytes.
func (l Line) Decode(in []byte) (frame []byte, n int, err error) {
	if err := l.Validate(); err != nil {
		return nil, 0, err
	}
	const longest = len("\r\n")
	window := in
	if len(in)-longest > l.Max {
		window = in[:l.Max+longest]
	}
	i := bytes.IndexByte(window, '\n')
	if i < 0 {
		if len(in)-longest >= l.Max {
			return nil, 0, errNoDelimiter
		}
		return nil, 0, codecs.ErrNeedMore
	}
	terminator := 1
	if i > 0 && in[i-1] == '\r' {
		terminator = 2
	}
	return delimited(in, i+1, terminator, l.Max, l.Strip)
}

// Append appends payload and "\r\n" to dst and returns the extended buffer.
// Decode gives back payload, followed by "\r\n" unless Strip is set.
//
// Append returns dst unchanged and an error wrapping [ErrTooLarge] for a
// payload longer than Max, and [ErrDelimiterInPayload] for one that
// contains "\n". A payload may contain "\r", also at its end.
func (l Line) Append(dst, payload []byte) ([]byte, error) {
	if err := l.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > l.Max {
		return dst, errPayloadTooLarge
	}
	if bytes.IndexByte(payload, '\n') >= 0 {
		return dst, ErrDelimiterInPayload
	}
	return append(append(dst, payload...), '\r', '\n'), nil
}
