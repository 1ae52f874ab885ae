package clienthello

import (
	"errors"

	"github.com/penstock-proxy/penstock/codecs"
)

// ErrNotTLS is returned when the input does not start with a TLS handshake
// record: the first byte is not 0x16 or the record version's major byte is
// not 3. Parse reports it from the first byte that disagrees, so a matcher can
// tell plain text protocols apart after a single byte.
var ErrNotTLS = errors.New("penstock/clienthello: not a TLS handshake record")

// ErrNotClientHello is returned when the input is a TLS handshake record whose
// first handshake message is not a ClientHello (message type 1).
var ErrNotClientHello = errors.New("penstock/clienthello: first handshake message is not a ClientHello")

// ErrTooLarge is returned when the ClientHello message is longer than
// [MaxHelloSize] or its records extend past [MaxWireSize]. It wraps
// [codecs.ErrTooLarge].
var ErrTooLarge = codecs.NewError("penstock/clienthello: ClientHello exceeds the size limit", codecs.ErrTooLarge)

// ErrMalformed is wrapped by every error that reports a ClientHello or its
// records violating the TLS wire format. The wrapping errors are distinct
// values whose messages name the offending part, so they can label a counter;
// test for the class with errors.Is(err, ErrMalformed).
var ErrMalformed = errors.New("penstock/clienthello: malformed ClientHello")

// The causes of ErrMalformed, one per check, so that error paths allocate
// nothing and each failure has a stable message.
var (
	errEmptyRecord        = malformed("zero-length handshake record")
	errRecordOverflow     = malformed("record longer than 16384 bytes")
	errInterleaved        = malformed("non-handshake record before the ClientHello ended")
	errTrailingData       = malformed("bytes after the ClientHello in its last record")
	errTruncatedBody      = malformed("fixed fields or vectors overrun the message")
	errSessionID          = malformed("legacy_session_id longer than 32 bytes")
	errCipherSuites       = malformed("empty or odd-length cipher_suites")
	errCompression        = malformed("empty legacy_compression_methods")
	errExtensions         = malformed("extension block does not match its length")
	errDuplicateExtension = malformed("duplicate extension")
	errPSKNotLast         = malformed("pre_shared_key is not the last extension")
	errServerName         = malformed("server_name extension")
	errALPN               = malformed("application_layer_protocol_negotiation extension")
	errSupportedGroups    = malformed("supported_groups extension")
	errSignatureAlgs      = malformed("signature_algorithms extension")
	errSupportedVersions  = malformed("supported_versions extension")
	errKeyShare           = malformed("key_share extension")
)

// malformed returns a cause of ErrMalformed whose message is ErrMalformed's
// followed by detail.
func malformed(detail string) error {
	return codecs.NewError(ErrMalformed.Error()+": "+detail, ErrMalformed)
}
