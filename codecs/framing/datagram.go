package framing

// Datagram frames a sequence of datagrams, each of which is one frame, for
// UDP and other message-oriented transports. A stream framer cannot be used
// on them: datagram boundaries are the frame boundaries.
type Datagram struct {
	// Max ("max") bounds the size of a datagram in bytes. It must be 1 or
	// more; UDP carries at most 65507 bytes over IPv4 and 65527 over IPv6
	// without jumbograms.
	Max int
}

// Validate reports whether d is a usable framer. It returns a [*ConfigError]
// naming the field at fault, or nil.
func (d Datagram) Validate() error {
	return positive("Datagram", "Max", d.Max)
}

// Decode takes in as one whole datagram and returns it as the frame, with
// n = len(in): it never returns codecs.ErrNeedMore, and an empty datagram is
// an empty frame. A datagram longer than Max gives an error wrapping
// [ErrTooLarge] with n = len(in), so the caller drops it and reads the next.
// The frame is in itself, valid until the caller's buffer changes.
func (d Datagram) Decode(in []byte) (frame []byte, n int, err error) {
	if err := d.Validate(); err != nil {
		return nil, 0, err
	}
	if len(in) > d.Max {
		return nil, len(in), errDatagramTooLarge
	}
	return in[:len(in):len(in)], len(in), nil
}

// Append appends payload, the datagram to send, to dst and returns the
// extended buffer, or dst unchanged and an error wrapping [ErrTooLarge] for a
// payload longer than Max.
func (d Datagram) Append(dst, payload []byte) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return dst, err
	}
	if len(payload) > d.Max {
		return dst, errPayloadTooLarge
	}
	return append(dst, payload...), nil
}
