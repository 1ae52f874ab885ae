package resp

import (
	"bytes"

	"github.com/penstock-proxy/penstock/codecs"
)

// lineStatus is the outcome of scanning for a line ending. The callers turn
// it into the error of their context.
type lineStatus uint8

const (
	lineOK       lineStatus = iota
	lineNeedMore            // no line ending yet, and the line may still end in time
	lineBadEnd              // an LF without CR, or a CR followed by another byte
	lineTooLong             // no CR within the first max+1 bytes
)

// scanLine finds the CRLF that ends the line at the start of in, a line of
// at most max bytes that holds neither CR nor LF, and returns the line's
// length without the CRLF.
func scanLine(in []byte, max int) (int, lineStatus) {
	window := in
	if len(in)-1 > max {
		window = in[:max+1]
	}
	cr := bytes.IndexByte(window, '\r')
	if cr < 0 {
		switch {
		case bytes.IndexByte(window, '\n') >= 0:
			return 0, lineBadEnd
		case len(window) > max:
			return 0, lineTooLong
		}
		return 0, lineNeedMore
	}
	switch {
	case bytes.IndexByte(window[:cr], '\n') >= 0:
		return 0, lineBadEnd
	case cr+1 == len(in):
		return 0, lineNeedMore
	case in[cr+1] != '\n':
		return 0, lineBadEnd
	}
	return cr, lineOK
}

// numberStatus is the outcome of scanning a decimal number line.
type numberStatus uint8

const (
	numberOK       numberStatus = iota
	numberNeedMore              // a valid prefix of a number line
	numberInvalid               // not a decimal number as string2ll reads one
	numberBadEnd                // a valid number followed by a bare LF or a lone CR
)

// maxDigits is the number of digits of the longest 64-bit integer.
const maxDigits = 19

// scanNumber reads the decimal number and CRLF at the start of in, with the
// rules of redis-server's string2ll: an optional minus sign, then 0 or
// digits without a leading zero, within int64 ("-0" is refused). It returns
// the number and the bytes of the line, CRLF included. Each check runs as
// soon as its byte is present.
func scanNumber(in []byte) (v int64, n int, st numberStatus) {
	i := 0
	neg := len(in) > 0 && in[0] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for ; i < len(in); i++ {
		c := in[i]
		if c < '0' || c > '9' {
			break
		}
		if i-start == maxDigits || (i-start == 1 && in[start] == '0') {
			return 0, 0, numberInvalid
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case i == len(in):
		return 0, 0, numberNeedMore
	case i == start || (neg && u == 0) || u > 1<<63 || (!neg && u == 1<<63):
		return 0, 0, numberInvalid
	case in[i] == '\n':
		return 0, 0, numberBadEnd
	case in[i] != '\r':
		return 0, 0, numberInvalid
	case i+1 == len(in):
		return 0, 0, numberNeedMore
	case in[i+1] != '\n':
		return 0, 0, numberBadEnd
	}
	if neg {
		return -int64(u), i + 2, numberOK
	}
	return int64(u), i + 2, numberOK
}

// bulkData checks the size bytes of data at in[off:] and the CRLF after
// them, and returns the offset just past the CRLF.
func bulkData(in []byte, off int, size int64) (int, error) {
	if size > int64(len(in)-off) {
		return 0, codecs.ErrNeedMore
	}
	end := off + int(size)
	switch {
	case end < len(in) && in[end] != '\r':
		return 0, errBulkDataCRLF
	case end+1 < len(in) && in[end+1] != '\n':
		return 0, errBulkDataCRLF
	case end+2 > len(in):
		return 0, codecs.ErrNeedMore
	}
	return end + 2, nil
}

// isSpace reports whether b is a space as C's isspace sees it in the C
// locale, which redis-server uses between inline words.
func isSpace(b byte) bool {
	return b == ' ' || (b >= '\t' && b <= '\r')
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// validDouble reports whether b is a RESP3 double: a decimal with optional
// sign, fraction and exponent, or inf or nan with an optional sign, as
// redis-server and the RESP3 specification write them.
func validDouble(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 3 {
		word := [3]byte{b[0] | 0x20, b[1] | 0x20, b[2] | 0x20} // ASCII lower case
		if word == [3]byte{'i', 'n', 'f'} || word == [3]byte{'n', 'a', 'n'} {
			return true
		}
	}
	b, ok := digits(b)
	if !ok {
		return false
	}
	if len(b) > 0 && b[0] == '.' {
		if b, ok = digits(b[1:]); !ok {
			return false
		}
	}
	if len(b) > 0 && (b[0] == 'e' || b[0] == 'E') {
		b = b[1:]
		if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
			b = b[1:]
		}
		if b, ok = digits(b); !ok {
			return false
		}
	}
	return len(b) == 0
}

// validBigNumber reports whether b is a RESP3 big number: digits with an
// optional sign.
func validBigNumber(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	rest, ok := digits(b)
	return ok && len(rest) == 0
}

// digits skips the run of at least one digit at the start of b.
func digits(b []byte) (rest []byte, ok bool) {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return b[i:], i > 0
}
