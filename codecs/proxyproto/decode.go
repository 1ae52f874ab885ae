package proxyproto

import "github.com/penstock-proxy/penstock/codecs"

// MaxV2Len is the longest version 2 header the protocol can express: the
// 16-byte fixed part and a 16-bit length.
const MaxV2Len = 16 + 0xffff

// RecommendedMaxV2 is a good [Decoder.MaxV2] for a relay: HAProxy, nginx and
// cloud load balancers send headers of well under 1 KiB, and 4 KiB leaves
// room for an SSL TLV carrying a client certificate.
const RecommendedMaxV2 = 4096

// Decoder decodes PROXY protocol headers within limits; its zero value
// accepts both versions and every size the protocol allows. A Decoder holds
// only configuration and is safe for concurrent use.
type Decoder struct {
	// MaxV2 is the longest version 2 header, in bytes including the 16-byte
	// fixed part, that Decode accepts; a longer one is refused with
	// ErrTooLarge as soon as its length field arrives, so a peer cannot make
	// a reader buffer 64 KiB before it gets an answer. Zero means MaxV2Len,
	// the protocol's limit; a relay should set RecommendedMaxV2.
	MaxV2 int

	// RejectV1 and RejectV2 refuse a version with ErrNotProxy, from its
	// first byte.
	RejectV1 bool
	RejectV2 bool
}

// Decode decodes the PROXY protocol header at the start of in, either
// version, with the zero Decoder; see [Decoder.Decode].
func Decode(in []byte, h *Header) (n int, err error) {
	return Decoder{}.Decode(in, h)
}

// Decode decodes the PROXY protocol header, version 1 or 2, at the start of
// in, the first bytes a peer sent on a connection, into h and returns the
// length of the header. The bytes after it are the peer's payload, which
// Decode does not read.
//
// Decode returns codecs.ErrNeedMore while in is a valid prefix of a header,
// ErrNotProxy as soon as in cannot start a header of an accepted version
// (after the first byte unless it is 'P' or CR), ErrTooLarge for a version 2
// header longer than MaxV2, and an error wrapping ErrMalformed for a header
// that violates the specification. Every check runs as soon as the bytes it
// needs are present, so a longer input never turns an error into success or
// changes a result.
//
// Decode never modifies in and keeps no reference to it except through the
// borrowed slices of h (see [Header]). On error h is left empty.
//
// Whether to accept a header at all is the caller's decision: it must only
// decode one from a peer it trusts, as the package documentation explains.
func (d Decoder) Decode(in []byte, h *Header) (n int, err error) {
	h.Reset()
	if len(in) == 0 {
		return 0, codecs.ErrNeedMore
	}
	switch {
	case in[0] == v1Signature[0] && !d.RejectV1:
		n, err = decodeV1(in, h)
	case in[0] == v2Signature[0] && !d.RejectV2:
		maxLen := d.MaxV2
		if maxLen == 0 {
			maxLen = MaxV2Len
		}
		n, err = decodeV2(in, h, maxLen)
	default:
		return 0, ErrNotProxy
	}
	if err != nil {
		h.Reset()
		return 0, err
	}
	return n, nil
}

// Detect reports which version of the PROXY protocol in starts with, for a
// matcher that peeks at a connection's first bytes: 1 once in starts with
// "PROXY", 2 once it starts with the 12-byte version 2 signature. Before
// that it returns codecs.ErrNeedMore while in is a prefix of a signature,
// and ErrNotProxy from the first byte that is not. Detect checks only the
// signature; Decode validates the rest.
func Detect(in []byte) (version int, err error) {
	if len(in) == 0 {
		return 0, codecs.ErrNeedMore
	}
	switch in[0] {
	case v1Signature[0]:
		version, err = 1, matchSignature(in, v1Signature)
	case v2Signature[0]:
		version, err = 2, matchSignature(in, v2Signature)
	default:
		return 0, ErrNotProxy
	}
	if err != nil {
		return 0, err
	}
	return version, nil
}

// matchSignature returns nil when in starts with sig, codecs.ErrNeedMore
// when in is shorter and a prefix of sig, and ErrNotProxy otherwise.
func matchSignature(in []byte, sig string) error {
	k := min(len(in), len(sig))
	switch {
	case string(in[:k]) != sig[:k]:
		return ErrNotProxy
	case k < len(sig):
		return codecs.ErrNeedMore
	}
	return nil
}
