package framing

import "github.com/penstock-proxy/penstock/codecs"

// Fixed frames a stream into frames of Size bytes each, like Netty's
// FixedLengthFrameDecoder.
type Fixed struct {
	// Size ("size") is the size of every frame in bytes. It must be 1 or
	// more.
	Size int
}

// Validate reports whether f is a usable framer. It returns a [*ConfigError]
// naming the field at fault, or nil.
func (f Fixed) Validate() error {
	return positive("Fixed", "Size", f.Size)
}

// Decode returns the first Size bytes of in as a frame and consumes them, or
// codecs.ErrNeedMore, consuming nothing, while in is shorter. The frame is a
// slice of in, valid until the caller's buffer changes.
func (f Fixed) Decode(in []byte) (frame []byte, n int, err error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	if len(in) < f.Size {
		return nil, 0, codecs.ErrNeedMore
	}
	return in[:f.Size:f.Size], f.Size, nil
}

// Append appends payload, which must be exactly Size bytes, to dst and
// returns the extended buffer. For a payload of another length it returns
// dst unchanged and an error wrapping [ErrBadLength].
func (f Fixed) Append(dst, payload []byte) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return dst, err
	}
	if len(payload) != f.Size {
		return dst, errFixedSize
	}
	return append(dst, payload...), nil
}
