package http1

import (
	"errors"

	"github.com/penstock-proxy/penstock/codecs"
)

// The classes of errors, one per status code a server answers with. Every
// error this package returns, other than codecs.ErrNeedMore and
// [ErrBodyDone], matches exactly one of them under errors.Is; [StatusFor]
// maps them to status codes.
var (
	// ErrMalformed is matched by every error that reports a message
	// violating HTTP/1.1 syntax or framing rules; a server answers 400.
	ErrMalformed = errors.New("penstock/http1: malformed message")

	// ErrHeaderTooLarge reports a head longer than Limits.MaxHeaderBytes,
	// or a trailer section longer than it; a server answers 431. It wraps
	// [codecs.ErrTooLarge].
	ErrHeaderTooLarge = codecs.NewError("penstock/http1: header section exceeds Limits.MaxHeaderBytes", codecs.ErrTooLarge)

	// ErrTooManyHeaders reports more field lines than Limits.MaxHeaders in
	// a head or trailer section; a server answers 431.
	ErrTooManyHeaders = errors.New("penstock/http1: more field lines than Limits.MaxHeaders")

	// ErrURITooLong reports a request line longer than
	// Limits.MaxLineBytes; a server answers 414. It wraps
	// [codecs.ErrTooLarge].
	ErrURITooLong = codecs.NewError("penstock/http1: request line exceeds Limits.MaxLineBytes", codecs.ErrTooLarge)

	// ErrBodyTooLarge reports a Content-Length, or a running total of
	// chunk sizes, above Limits.MaxBodyBytes; a server answers 413. It
	// wraps [codecs.ErrTooLarge].
	ErrBodyTooLarge = codecs.NewError("penstock/http1: body exceeds Limits.MaxBodyBytes", codecs.ErrTooLarge)

	// ErrUnsupportedTransferCoding reports a Transfer-Encoding that ends
	// with chunked but also applies another coding, such as
	// "gzip, chunked": the framing is clear, but the body is in a coding
	// this package does not decode; a server answers 501.
	ErrUnsupportedTransferCoding = errors.New("penstock/http1: unsupported transfer coding")

	// ErrVersionNotSupported reports a well-formed HTTP version other than
	// 1.0 and 1.1, such as HTTP/2.0 or HTTP/1.2; a server answers 505.
	ErrVersionNotSupported = errors.New("penstock/http1: HTTP version not supported")
)

// ErrBodyDone is returned by [ChunkedDecoder.Decode] when the body has
// ended: the last chunk, the trailer section and the final CRLF are
// consumed, and any bytes after them start the next message.
var ErrBodyDone = errors.New("penstock/http1: body done")

// The causes of ErrMalformed, one per check, each a distinct value whose
// message names the fault, so that a caller can count them and error paths
// allocate nothing. The ones guarding against request smuggling are
// exported so that a caller can branch on them.
var (
	// ErrBareLF reports a line ended by LF without CR. RFC 9112 §2.2 lets
	// a recipient accept it; this package does not, because a front end
	// and a back end that disagree on line endings disagree on where a
	// message ends.
	ErrBareLF = malformed("line ended by a bare LF")

	// ErrBareCR reports a CR not followed by LF.
	ErrBareCR = malformed("CR not followed by LF")

	// ErrObsFold reports a field line starting with a space or tab: an
	// obsolete line folding (RFC 9112 §5.2), or whitespace between the
	// start line and the first field (§2.2).
	ErrObsFold = malformed("obsolete line folding")

	// ErrSpaceBeforeColon reports whitespace between a field name and its
	// colon, which RFC 9112 §5.1 requires a server to reject.
	ErrSpaceBeforeColon = malformed("whitespace between field name and colon")

	// ErrInvalidFieldName reports a field name that is empty or holds a
	// byte other than a token character (NUL and CR included).
	ErrInvalidFieldName = malformed("invalid field name")

	// ErrInvalidFieldValue reports a field value holding a control byte
	// other than horizontal tab (NUL and CR included).
	ErrInvalidFieldValue = malformed("invalid field value")

	// ErrMissingColon reports a field line without a colon.
	ErrMissingColon = malformed("field line without a colon")

	// ErrInvalidContentLength reports a Content-Length that is not a
	// decimal number of at most 63 bits: empty, signed, holding a comma,
	// whitespace or any other non-digit, or overflowing.
	ErrInvalidContentLength = malformed("invalid Content-Length")

	// ErrConflictingContentLength reports Content-Length field lines with
	// differing values.
	ErrConflictingContentLength = malformed("conflicting Content-Length values")

	// ErrContentLengthWithTransferEncoding reports a message with both
	// Content-Length and Transfer-Encoding, the classic smuggling vector
	// RFC 9112 §6.1 says a server ought to treat as an error.
	ErrContentLengthWithTransferEncoding = malformed("both Content-Length and Transfer-Encoding")

	// ErrChunkedNotFinal reports a Transfer-Encoding whose final coding is
	// not chunked, such as "gzip", "xchunked" or "chunked, identity": the
	// body length cannot be determined (RFC 9112 §6.3).
	ErrChunkedNotFinal = malformed("chunked is not the final transfer coding")

	// ErrChunkedTwice reports chunked applied more than once, which RFC
	// 9112 §6.1 forbids.
	ErrChunkedTwice = malformed("chunked applied more than once")

	// ErrInvalidTransferCoding reports a Transfer-Encoding list element
	// that is not a token, such as one with parameters or inner spaces.
	ErrInvalidTransferCoding = malformed("invalid transfer coding")

	// ErrTransferEncodingHTTP10 reports Transfer-Encoding in an HTTP/1.0
	// message, which RFC 9112 §6.1 says indicates faulty framing.
	ErrTransferEncodingHTTP10 = malformed("Transfer-Encoding in an HTTP/1.0 message")

	// ErrMissingHost reports an HTTP/1.1 request without a Host field.
	ErrMissingHost = malformed("HTTP/1.1 request without Host")

	// ErrDuplicateHost reports a request with more than one Host field.
	ErrDuplicateHost = malformed("more than one Host field")

	// ErrInvalidHost reports a Host value holding a byte that cannot
	// appear in a URI authority's host and port.
	ErrInvalidHost = malformed("invalid Host")

	// ErrInvalidMethod reports a request method that is empty or holds a
	// byte other than a token character.
	ErrInvalidMethod = malformed("invalid method")

	// ErrInvalidTarget reports a request target that is empty, holds a
	// byte other than a visible ASCII character, or does not have the form
	// its method needs (RFC 9112 §3.2).
	ErrInvalidTarget = malformed("invalid request target")

	// ErrInvalidRequestLine reports a request line that is not three parts
	// separated by single spaces.
	ErrInvalidRequestLine = malformed("invalid request line")

	// ErrInvalidVersion reports an HTTP version that is not HTTP/ followed
	// by a digit, a dot and a digit.
	ErrInvalidVersion = malformed("invalid HTTP version")

	// ErrInvalidStatusLine reports a status line that is not a version, a
	// space, a three-digit status code from 100 and an optional reason.
	ErrInvalidStatusLine = malformed("invalid status line")

	// ErrInvalidChunkSize reports a chunk size line that does not start
	// with a hexadecimal number or holds a byte no chunk extension allows.
	ErrInvalidChunkSize = malformed("invalid chunk size line")

	// ErrChunkSizeOverflow reports a chunk size of 2^63 or more.
	ErrChunkSizeOverflow = malformed("chunk size overflows 63 bits")

	// ErrChunkLineTooLong reports a chunk size line, extensions included,
	// longer than Limits.MaxLineBytes.
	ErrChunkLineTooLong = malformed("chunk size line exceeds Limits.MaxLineBytes")

	// ErrMissingChunkCRLF reports chunk data not followed by CRLF.
	ErrMissingChunkCRLF = malformed("chunk data not followed by CRLF")
)

// malformed returns a cause of ErrMalformed with the message
// "penstock/http1: " followed by detail.
func malformed(detail string) error {
	return codecs.NewError("penstock/http1: "+detail, ErrMalformed)
}

// StatusFor returns the status code a server answers a request with when
// parsing it failed with err: 431 for [ErrHeaderTooLarge] and
// [ErrTooManyHeaders], 414 for [ErrURITooLong], 413 for [ErrBodyTooLarge],
// 501 for [ErrUnsupportedTransferCoding], 505 for [ErrVersionNotSupported]
// and 400 for [ErrMalformed] and its causes. It returns 0 for nil,
// codecs.ErrNeedMore and [ErrBodyDone], which call for no error response,
// and 500 for any other error. A proxy whose upstream sent a malformed
// response answers 502 instead, whatever the error.
func StatusFor(err error) int {
	switch {
	case err == nil, errors.Is(err, codecs.ErrNeedMore), errors.Is(err, ErrBodyDone):
		return 0
	case errors.Is(err, ErrMalformed):
		return 400
	case errors.Is(err, ErrHeaderTooLarge), errors.Is(err, ErrTooManyHeaders):
		return 431
	case errors.Is(err, ErrURITooLong):
		return 414
	case errors.Is(err, ErrBodyTooLarge):
		return 413
	case errors.Is(err, ErrUnsupportedTransferCoding):
		return 501
	case errors.Is(err, ErrVersionNotSupported):
		return 505
	default:
		return 500
	}
}
