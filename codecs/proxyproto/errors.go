package proxyproto

import (
	"errors"

	"github.com/penstock-proxy/penstock/codecs"
)

// ErrNotProxy is returned when the input cannot start a PROXY protocol
// header of an accepted version. Decode and Detect report it from the first
// byte that disagrees with both signatures, so a matcher can tell other
// protocols apart after a single byte.
var ErrNotProxy = errors.New("penstock/proxyproto: not a PROXY protocol header")

// ErrTooLarge is returned when a version 2 header is longer than the
// decoder's limit (see [Decoder.MaxV2]). It is reported as soon as the length
// field arrives, and it wraps [codecs.ErrTooLarge].
var ErrTooLarge = codecs.NewError("penstock/proxyproto: version 2 header exceeds the size limit", codecs.ErrTooLarge)

// ErrMalformed is wrapped by every error that reports a header that starts
// with a PROXY protocol signature but violates the specification. Each cause
// has its own sentinel below, so that it can label a counter; test for the
// class with errors.Is(err, ErrMalformed).
var ErrMalformed = errors.New("penstock/proxyproto: malformed PROXY protocol header")

// The causes of ErrMalformed in a version 1 (text) header.
var (
	// ErrV1BadToken reports a protocol token other than TCP4, TCP6 or
	// UNKNOWN, a missing or extra field, or a separator other than exactly
	// one space.
	ErrV1BadToken = malformed("v1: bad token or wrong number of fields")

	// ErrV1BadAddress reports an address that is not in the canonical text
	// form of the announced family: dotted decimal without leading zeros for
	// TCP4, colon-separated hexadecimal (optionally ending in dotted decimal)
	// for TCP6, never with a zone.
	ErrV1BadAddress = malformed("v1: bad address")

	// ErrV1BadPort reports a port that is not a decimal number in [0, 65535]
	// without leading zeros.
	ErrV1BadPort = malformed("v1: bad port")

	// ErrV1NoCRLF reports a CR that is not followed by LF, or an LF that is
	// not preceded by CR: the line must end with exactly CRLF.
	ErrV1NoCRLF = malformed("v1: line does not end with CRLF")

	// ErrV1TooLong reports a line whose CRLF is not within the first
	// [MaxV1Len] bytes.
	ErrV1TooLong = malformed("v1: no CRLF within 107 bytes")
)

// The causes of ErrMalformed in a version 2 (binary) header.
var (
	// ErrV2BadVersion reports a version other than 2 after the signature.
	ErrV2BadVersion = malformed("v2: version is not 2")

	// ErrV2BadCommand reports a command other than LOCAL (0) or PROXY (1).
	ErrV2BadCommand = malformed("v2: command is neither LOCAL nor PROXY")

	// ErrV2BadFamily reports a family and transport byte other than the
	// seven the specification defines (0x00, 0x11, 0x12, 0x21, 0x22, 0x31,
	// 0x32).
	ErrV2BadFamily = malformed("v2: undefined address family or transport")

	// ErrV2ShortAddress reports a PROXY header whose length is shorter than
	// the address block of its family.
	ErrV2ShortAddress = malformed("v2: address block longer than the header")

	// ErrV2TLVOverrun reports a TLV whose type and length, or whose value,
	// do not fit in the header.
	ErrV2TLVOverrun = malformed("v2: TLV overruns the header")

	// ErrV2BadTLV reports a TLV value that its type does not allow: a
	// CRC32C value that is not 4 bytes or a second CRC32C TLV, a UNIQUE_ID
	// longer than 128 bytes, or an SSL value shorter than 5 bytes or whose
	// sub-TLVs overrun it.
	ErrV2BadTLV = malformed("v2: invalid TLV value")

	// ErrV2Checksum reports a CRC32C TLV whose value is not the checksum of
	// the header.
	ErrV2Checksum = malformed("v2: CRC32C checksum mismatch")
)

// ErrInvalidHeader is wrapped by every error AppendV2 returns: the Header
// cannot be encoded as a valid version 2 header.
var ErrInvalidHeader = errors.New("penstock/proxyproto: cannot encode header")

// The causes of ErrInvalidHeader, one per check.
var (
	errEncodeCommand   = invalid("command is neither LOCAL nor PROXY")
	errEncodeFamily    = invalid("family and transport are not a defined combination")
	errEncodeAddress   = invalid("addresses do not match the family")
	errEncodePath      = invalid("UNIX path longer than 108 bytes")
	errEncodeTLV       = invalid("TLV value invalid for its type")
	errEncodeTLVLength = invalid("TLV value longer than 65535 bytes")
	errEncodeLength    = invalid("header longer than 65535 bytes after the fixed part")
)

// malformed returns a cause of ErrMalformed whose message is ErrMalformed's
// followed by detail.
func malformed(detail string) error {
	return codecs.NewError(ErrMalformed.Error()+": "+detail, ErrMalformed)
}

// invalid returns a cause of ErrInvalidHeader whose message is
// ErrInvalidHeader's followed by detail.
func invalid(detail string) error {
	return codecs.NewError(ErrInvalidHeader.Error()+": "+detail, ErrInvalidHeader)
}
