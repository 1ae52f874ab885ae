package resp

import (
	"errors"

	"github.com/penstock-proxy/penstock/codecs"
)

// ErrProtocol is matched under errors.Is by every error that reports input
// violating RESP or exceeding a [Limits] field: after one, the connection's
// byte stream cannot be trusted, and redis-server replies with a protocol
// error (see [AppendProtocolError]) and closes the connection.
var ErrProtocol = errors.New("penstock/resp: protocol error")

// The sentinels a caller branches on or counts by. Each is returned as is or
// through an unexported error value that wraps it and names the offending
// part more precisely, so test with errors.Is.
var (
	// ErrInvalidType reports a byte that does not start any RESP2 or RESP3
	// value where a value must start, or a request argument that is not a
	// bulk string.
	ErrInvalidType = sentinel("invalid type byte", "invalid type byte")

	// ErrInvalidLength reports a length or count that is not a decimal
	// number as redis-server reads one: an optional minus sign and digits,
	// without a plus sign or leading zeros, within 64 bits.
	ErrInvalidLength = sentinel("length is not a decimal number", "invalid length")

	// ErrNegativeLength reports a negative length or count other than -1,
	// or -1 where no null is allowed (a request argument, a RESP3 blob
	// error, verbatim string, map, set, push or attribute).
	ErrNegativeLength = sentinel("negative length", "invalid length")

	// ErrInvalidInteger reports a RESP integer (":") that is not a decimal
	// number within 64 bits.
	ErrInvalidInteger = sentinel("integer is not a decimal number", "invalid integer")

	// ErrInvalidValue reports a RESP3 scalar whose payload breaks the
	// format of its type: a boolean other than t or f, a null with a
	// payload, a malformed double or big number, or a verbatim string
	// without its three-byte format and colon.
	ErrInvalidValue = sentinel("invalid RESP3 value", "invalid value")

	// ErrMissingCRLF reports a line that does not end with CRLF (a bare LF,
	// or a CR followed by another byte), or bulk data not followed by CRLF.
	ErrMissingCRLF = sentinel("missing CRLF", "expected CRLF")

	// ErrTooLarge reports input beyond a [Limits] field: a bulk string
	// longer than MaxBulk, more arguments than MaxArgs, an array request
	// longer than MaxRequest, or an inline request or reply line longer than
	// MaxInline. It wraps [codecs.ErrTooLarge].
	ErrTooLarge = protocolError("value exceeds a size limit", "value too large", ErrProtocol, codecs.ErrTooLarge)

	// ErrTooDeep reports aggregates nested deeper than Limits.MaxDepth.
	ErrTooDeep = sentinel("aggregates nested too deeply", "nesting too deep")

	// ErrUnbalancedQuotes reports an inline request whose quoting
	// redis-server rejects: a quote left open, or a closing quote followed
	// by a byte other than a space.
	ErrUnbalancedQuotes = sentinel("unbalanced quotes in inline request", "unbalanced quotes in request")

	// ErrInlineNUL reports an inline request holding a NUL byte.
	// redis-server looks for the end of an inline line with strchr, which
	// stops at the NUL, so it never finds the line's end and reads nothing
	// more on that connection until its buffer overflows; forwarding such a
	// request would stall every client sharing the server connection.
	ErrInlineNUL = sentinel("NUL byte in inline request", "NUL byte in inline request")
)

// ErrUnexpectedType is returned by [ReadInteger], [ReadBulk] and
// [ReadArrayHeader] when the input starts a well-formed value of another
// type, such as an error reply where an integer was expected. It is not a
// protocol error.
var ErrUnexpectedType = errors.New("penstock/resp: value of another type")

// The precise causes, one per check, each matching a sentinel above. The
// reply texts of request errors are redis-server's own.
var (
	errMultibulkLength   = cause(ErrInvalidLength, "multibulk length is not a decimal number", "invalid multibulk length")
	errMultibulkCRLF     = cause(ErrMissingCRLF, "multibulk length line does not end with CRLF", "invalid multibulk length")
	errMultibulkNegative = cause(ErrNegativeLength, "multibulk length below -1", "invalid multibulk length")
	errTooManyArgs       = cause(ErrTooLarge, "more arguments than Limits.MaxArgs", "invalid multibulk length")
	errBulkLength        = cause(ErrInvalidLength, "bulk length is not a decimal number", "invalid bulk length")
	errBulkLengthCRLF    = cause(ErrMissingCRLF, "bulk length line does not end with CRLF", "invalid bulk length")
	errBulkNegative      = cause(ErrNegativeLength, "negative bulk length in a request", "invalid bulk length")
	errBulkTooLarge      = cause(ErrTooLarge, "bulk longer than Limits.MaxBulk", "invalid bulk length")
	errRequestTooLarge   = cause(ErrTooLarge, "request longer than Limits.MaxRequest", "too big request")
	errBulkDataCRLF      = cause(ErrMissingCRLF, "bulk data not followed by CRLF", "bulk data not followed by CRLF")
	errInlineTooLarge    = cause(ErrTooLarge, "inline request longer than Limits.MaxInline", "too big inline request")
	errQuoteNotClosed    = cause(ErrUnbalancedQuotes, "quote not closed in inline request", "unbalanced quotes in request")
	errQuoteFollowed     = cause(ErrUnbalancedQuotes, "closing quote followed by a non-space byte", "unbalanced quotes in request")

	errLengthCRLF   = cause(ErrMissingCRLF, "length line does not end with CRLF", "invalid length")
	errIntegerCRLF  = cause(ErrMissingCRLF, "integer line does not end with CRLF", "invalid integer")
	errLineCRLF     = cause(ErrMissingCRLF, "line does not end with CRLF", "expected CRLF")
	errLineTooLarge = cause(ErrTooLarge, "line longer than Limits.MaxInline", "line too long")
	errBoolean      = cause(ErrInvalidValue, "boolean is neither #t nor #f", "invalid boolean")
	errNull         = cause(ErrInvalidValue, "null with a payload", "invalid null")
	errDouble       = cause(ErrInvalidValue, "malformed double", "invalid double")
	errBigNumber    = cause(ErrInvalidValue, "malformed big number", "invalid big number")
	errVerbatim     = cause(ErrInvalidValue, "verbatim string without its format prefix", "invalid verbatim string")
)

// replies holds, for each protocol error made by [protocolError], the text
// redis-server puts after "Protocol error: " for the same fault. It is
// filled while the package's variables are initialized and only read
// afterwards, so reading it is safe from any goroutine.
var replies = map[error]string{}

// protocolError returns a static error (a [codecs.Error], so that error
// paths allocate nothing) with the stable message "penstock/resp: "
// followed by detail, matching classes under errors.Is, and records reply
// as its text for [AppendProtocolError].
func protocolError(detail, reply string, classes ...error) error {
	err := codecs.NewError("penstock/resp: "+detail, classes...)
	replies[err] = reply
	return err
}

// sentinel returns a protocol error of the class ErrProtocol.
func sentinel(detail, reply string) error {
	return protocolError(detail, reply, ErrProtocol)
}

// cause returns a protocol error matching kind, one of the sentinels.
func cause(kind error, detail, reply string) error {
	return protocolError(detail, reply, kind)
}

// expectedBulkError reports a request argument that starts with the byte
// it holds instead of '$'. Being a single byte, it converts to an error
// without allocating, and it keeps the byte for redis-server's reply.
type expectedBulkError byte

var expectedBulkWraps = []error{ErrInvalidType}

func (e expectedBulkError) Error() string {
	const hex = "0123456789abcdef"
	b := byte(e)
	if b >= ' ' && b <= '~' {
		return "penstock/resp: request argument starts with '" + string(rune(b)) + "', not '$'"
	}
	return "penstock/resp: request argument starts with '\\x" + string([]byte{hex[b>>4], hex[b&15]}) + "', not '$'"
}

func (e expectedBulkError) Unwrap() []error { return expectedBulkWraps }

// AppendProtocolError appends to dst the error reply redis-server sends
// before it closes a connection whose input is malformed in the way err
// reports, such as "-ERR Protocol error: invalid bulk length\r\n" or
// "-ERR Protocol error: expected '$', got 'x'\r\n". err is an error from this
// package or wraps one; for any other error it appends the generic
// "-ERR Protocol error\r\n", which reveals nothing of err.
func AppendProtocolError(dst []byte, err error) []byte {
	dst = append(dst, "-ERR Protocol error"...)
	for err != nil {
		switch e := err.(type) {
		case expectedBulkError:
			dst = append(dst, ": expected '$', got '"...)
			// redis-server turns CR and LF into spaces in error replies.
			return append(dst, sanitize(byte(e)), '\'', '\r', '\n')
		case *codecs.Error:
			// A codecs.Error of another package has no reply, and
			// errors.Unwrap ends the walk at it.
			if reply, ok := replies[e]; ok {
				return append(append(append(dst, ": "...), reply...), '\r', '\n')
			}
		}
		err = errors.Unwrap(err)
	}
	return append(dst, '\r', '\n')
}

// sanitize replaces a line-ending byte with a space, so that text put in a
// simple string or error reply cannot end it early or inject another reply.
func sanitize(b byte) byte {
	if b == '\r' || b == '\n' {
		return ' '
	}
	return b
}
