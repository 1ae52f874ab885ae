package resp

import (
	"math"

	"github.com/penstock-proxy/penstock/codecs"
)

// ScanValue returns the length of the RESP2 or RESP3 value at the start of
// in: a reply, a request in array form, or an element of an aggregate. The
// value is in[:n]; an attribute ('|') and the value it precedes count as one
// value, as they form one reply. A nil lim means the defaults.
//
// ScanValue accepts every type of both protocol versions: simple string
// '+', error '-', integer ':', bulk string '$' (and the RESP2 null "$-1"),
// array '*' (and "*-1"), and the RESP3 null '_', boolean '#', double ',',
// big number '(', blob error '!', verbatim string '=', map '%', set '~',
// push '>' and attribute '|'. It refuses RESP3's streamed strings and
// aggregates ("$?"), which no server sends. It checks each value's framing
// and the payload of the scalar types with a fixed format, follows nested
// aggregates without recursion, and returns codecs.ErrNeedMore while the
// value is incomplete, [ErrTooDeep] beyond lim.MaxDepth, and an error
// matching [ErrProtocol] for any other malformation.
//
// ScanValue allocates nothing unless lim.MaxDepth is above its default and
// the value nests that deeply. It scans in from its start on every call; a
// reply that may be large is better scanned with a [Scanner].
func ScanValue(in []byte, lim *Limits) (n int, err error) {
	// Most replies are scalars, which need no Scanner state.
	if t, err := scanToken(in, lim); err != nil || !t.aggregate {
		if err != nil {
			return 0, err
		}
		return t.n, nil
	}
	var s Scanner
	if lim != nil {
		s.Limits = *lim
	}
	return s.Scan(in)
}

// Scanner finds the end of one RESP value that arrives over several reads
// without scanning what it has already scanned, so that a reply of millions
// of elements (KEYS, LRANGE, HGETALL) costs time in proportion to its size
// rather than to its size times the number of reads. Its zero value is
// ready to use, with the default limits. Reusing one per server connection
// allocates nothing in steady state.
//
// A Scanner is not safe for concurrent use.
type Scanner struct {
	// Limits bounds the values the Scanner accepts; the zero value gives
	// the defaults.
	Limits Limits

	busy  bool // a value is partly scanned
	off   int  // bytes of the value scanned so far
	need  int  // when stopped inside a blob: the value's length up to its end
	depth int  // open aggregates
	// The elements still to read at each open level; level 0 counts the
	// value itself, and an attribute adds one to the level it precedes a
	// value in, since it does not take an element's place.
	fixed [DefaultMaxDepth + 1]uint64
	spill []uint64
}

// Scan returns the length of the value at the start of in, as [ScanValue]
// does. After codecs.ErrNeedMore the Scanner remembers how far it got: call
// Scan again with the same bytes followed by more, in the same buffer or a
// grown copy of it. Any other result, success or error, ends the value, and
// the next call starts a new one at in[0]. Passing bytes that differ from
// those already scanned, without calling [Scanner.Reset] first, gives
// meaningless lengths. Scan is safe from any goroutine, one at a time for a
// given s (in a proxy, the event loop of the connection s reads).
func (s *Scanner) Scan(in []byte) (n int, err error) {
	if !s.busy || s.off > len(in) {
		s.busy, s.off, s.depth, s.fixed[0] = true, 0, 0, 1
	}
	maxDepth := s.Limits.maxDepth()
	for {
		t, err := scanToken(in[s.off:], &s.Limits)
		if err != nil {
			if err != codecs.ErrNeedMore {
				s.busy = false
			}
			s.need = s.off + t.n
			return 0, err
		}
		s.off += t.n
		if t.aggregate {
			if s.depth >= maxDepth {
				s.busy = false
				return 0, ErrTooDeep
			}
			if t.attribute {
				*s.level(s.depth)++
			}
			if t.count > 0 {
				s.push(t.count)
				continue
			}
			if t.attribute {
				*s.level(s.depth)-- // an empty attribute
				continue
			}
		}
		// A scalar or an empty aggregate completes one element, which may
		// complete the aggregates around it.
		for {
			left := s.level(s.depth)
			if *left--; *left > 0 {
				break
			}
			if s.depth == 0 {
				s.busy = false
				return s.off, nil
			}
			s.depth--
		}
	}
}

// Need returns, after Scan returned codecs.ErrNeedMore, the length the
// value is known to have at least, from its start: when Scan stopped inside
// a bulk string (or blob error, or verbatim string) whose header it read, up
// to that string's end; otherwise no more than the bytes scanned. A proxy
// that holds a large reply while it arrives can size its buffer with it.
// It is safe from any goroutine, one at a time for a given s.
func (s *Scanner) Need() int {
	if !s.busy {
		return 0
	}
	return s.need
}

// Reset discards a partly scanned value, so that the next Scan starts a new
// one at the start of its input. It is safe from any goroutine, one at a
// time for a given s.
func (s *Scanner) Reset() { s.busy = false }

func (s *Scanner) level(i int) *uint64 {
	if i < len(s.fixed) {
		return &s.fixed[i]
	}
	return &s.spill[i-len(s.fixed)]
}

func (s *Scanner) push(count uint64) {
	s.depth++
	switch i := s.depth - len(s.fixed); {
	case i < 0:
		s.fixed[s.depth] = count
	case i < len(s.spill):
		s.spill[i] = count
	default:
		s.spill = append(s.spill, count)
	}
}

// token is one scalar value or aggregate header.
type token struct {
	n         int    // its length
	aggregate bool   // an aggregate header, not a null
	attribute bool   // an attribute header
	count     uint64 // the elements an aggregate header announces
}

// scanToken reads the scalar value or aggregate header at the start of in.
func scanToken(in []byte, lim *Limits) (token, error) {
	if len(in) == 0 {
		return token{}, codecs.ErrNeedMore
	}
	switch in[0] {
	case '+', '-':
		m, st := scanLine(in[1:], lim.maxInline())
		if err := lineError(st, errLineCRLF); err != nil {
			return token{}, err
		}
		return token{n: 1 + m + 2}, nil
	case ':':
		_, m, err := integerLine(in[1:])
		return token{n: 1 + m}, err
	case '$', '!', '=':
		n, _, err := blob(in, lim.maxBulk())
		if err == codecs.ErrNeedMore {
			// A header already whole says where the blob ends: n is that
			// length, a hint alongside ErrNeedMore.
			if size, m, e := lengthLine(in[1:]); e == nil && size > 0 {
				n = 1 + m + int(size) + 2
			}
		}
		return token{n: n}, err
	case '*', '~', '>', '%', '|':
		count, null, m, err := aggregateHeader(in)
		if err != nil || null {
			return token{n: m}, err
		}
		c := uint64(count)
		if in[0] == '%' || in[0] == '|' {
			c *= 2 // key and value
		}
		return token{n: m, aggregate: true, attribute: in[0] == '|', count: c}, nil
	case '_':
		return fixedLine(in, 1, errNull)
	case '#':
		if len(in) > 1 && in[1] != 't' && in[1] != 'f' {
			return token{}, errBoolean
		}
		return fixedLine(in, 2, errBoolean)
	case ',', '(':
		m, st := scanLine(in[1:], lim.maxInline())
		if err := lineError(st, errLineCRLF); err != nil {
			return token{}, err
		}
		switch line := in[1 : 1+m]; {
		case in[0] == ',' && !validDouble(line):
			return token{}, errDouble
		case in[0] == '(' && !validBigNumber(line):
			return token{}, errBigNumber
		}
		return token{n: 1 + m + 2}, nil
	}
	return token{}, ErrInvalidType
}

// fixedLine checks the CRLF that must follow the first size bytes of in,
// which make a complete value, and reports any other byte as err.
func fixedLine(in []byte, size int, err error) (token, error) {
	for i, want := range [2]byte{'\r', '\n'} {
		switch {
		case size+i >= len(in):
			return token{}, codecs.ErrNeedMore
		case in[size+i] != want:
			return token{}, err
		}
	}
	return token{n: size + 2}, nil
}

// lineError maps a scanLine status to the error of a reply line.
func lineError(st lineStatus, badEnd error) error {
	switch st {
	case lineNeedMore:
		return codecs.ErrNeedMore
	case lineBadEnd:
		return badEnd
	case lineTooLong:
		return errLineTooLarge
	}
	return nil
}

// integerLine reads the digits and CRLF of an integer after its ':'.
func integerLine(in []byte) (v int64, n int, err error) {
	v, n, st := scanNumber(in)
	switch st {
	case numberNeedMore:
		return 0, 0, codecs.ErrNeedMore
	case numberInvalid:
		return 0, 0, ErrInvalidInteger
	case numberBadEnd:
		return 0, 0, errIntegerCRLF
	}
	return v, n, nil
}

// lengthLine reads the length or count and CRLF after a type byte.
func lengthLine(in []byte) (v int64, n int, err error) {
	v, n, st := scanNumber(in)
	switch st {
	case numberNeedMore:
		return 0, 0, codecs.ErrNeedMore
	case numberInvalid:
		return 0, 0, ErrInvalidLength
	case numberBadEnd:
		return 0, 0, errLengthCRLF
	}
	return v, n, nil
}

// blob reads the bulk string, blob error or verbatim string at the start of
// in and returns its length and data; null reports "$-1".
func blob(in []byte, maxBulk int64) (n int, data []byte, err error) {
	size, m, err := lengthLine(in[1:])
	if err != nil {
		return 0, nil, err
	}
	off := 1 + m
	switch {
	case size == -1 && in[0] == '$':
		return off, nil, nil
	case size < 0:
		return 0, nil, ErrNegativeLength
	case size > maxBulk:
		return 0, nil, errBulkTooLarge
	}
	if in[0] == '=' {
		// A verbatim string starts with a three-byte format and a colon.
		switch {
		case size < 4:
			return 0, nil, errVerbatim
		case len(in)-off < 4:
			return 0, nil, codecs.ErrNeedMore
		case in[off+3] != ':':
			return 0, nil, errVerbatim
		}
	}
	end, err := bulkData(in, off, size)
	if err != nil {
		return 0, nil, err
	}
	return end, in[off : end-2 : end-2], nil
}

// aggregateHeader reads the header of the aggregate at the start of in;
// null reports "*-1".
func aggregateHeader(in []byte) (count int64, null bool, n int, err error) {
	count, m, err := lengthLine(in[1:])
	switch {
	case err != nil:
		return 0, false, 0, err
	case count == -1 && in[0] == '*':
		return 0, true, 1 + m, nil
	case count < 0:
		return 0, false, 0, ErrNegativeLength
	}
	return count, false, 1 + m, nil
}

// ReadInteger reads the integer reply at the start of in, such as the count
// DEL or EXISTS returns, and its length n. It returns [ErrUnexpectedType]
// when in starts another type of value (check [IsError] first to pass
// errors through), codecs.ErrNeedMore while the integer is incomplete, and
// an error matching [ErrProtocol] when it is malformed.
func ReadInteger(in []byte) (v int64, n int, err error) {
	if len(in) == 0 {
		return 0, 0, codecs.ErrNeedMore
	}
	if in[0] != ':' {
		return 0, 0, otherType(in[0])
	}
	v, m, err := integerLine(in[1:])
	if err != nil {
		return 0, 0, err
	}
	return v, 1 + m, nil
}

// ReadBulk reads the bulk string at the start of in, such as an element of
// an MGET reply, and its length n. null reports a null, "$-1" in RESP2 and
// "_" in RESP3, and b is then nil. b is borrowed from in. Bulk strings
// longer than [DefaultMaxBulk] are refused. It returns [ErrUnexpectedType]
// when in starts another type of value, codecs.ErrNeedMore while the bulk
// string is incomplete, and an error matching [ErrProtocol] when it is
// malformed.
func ReadBulk(in []byte) (b []byte, null bool, n int, err error) {
	if len(in) == 0 {
		return nil, false, 0, codecs.ErrNeedMore
	}
	switch in[0] {
	case '$':
		n, b, err = blob(in, DefaultMaxBulk)
		if err != nil {
			return nil, false, 0, err
		}
		return b, b == nil, n, nil
	case '_':
		t, err := fixedLine(in, 1, errNull)
		return nil, err == nil, t.n, err
	}
	return nil, false, 0, otherType(in[0])
}

// ReadArrayHeader reads the header of the array at the start of in, such as
// an MGET reply, and returns its element count and the header's length n:
// the first element starts at in[n]. It accepts a RESP3 set ('~') as an
// array, and reports a null ("*-1" in RESP2, "_" in RESP3) with null. It
// returns [ErrUnexpectedType] when in starts another type of value, a push
// ('>') included, codecs.ErrNeedMore while the header is incomplete, and an
// error matching [ErrProtocol] when it is malformed.
func ReadArrayHeader(in []byte) (count int, null bool, n int, err error) {
	if len(in) == 0 {
		return 0, false, 0, codecs.ErrNeedMore
	}
	switch in[0] {
	case '*', '~':
		c, null, n, err := aggregateHeader(in)
		switch {
		case err != nil:
			return 0, false, 0, err
		case c > math.MaxInt:
			return 0, false, 0, ErrTooLarge
		}
		return int(c), null, n, nil
	case '_':
		t, err := fixedLine(in, 1, errNull)
		return 0, err == nil, t.n, err
	}
	return 0, false, 0, otherType(in[0])
}

// IsError reports whether in starts an error reply: a simple error ('-') or
// a RESP3 blob error ('!'). It looks at the first byte only; [ScanValue]
// gives the error's length.
func IsError(in []byte) bool {
	return len(in) > 0 && (in[0] == '-' || in[0] == '!')
}

// otherType returns the error for a value that starts with b where a Read
// function expected another type.
func otherType(b byte) error {
	switch b {
	case '+', '-', ':', '$', '*', '_', '#', ',', '(', '!', '=', '%', '~', '>', '|':
		return ErrUnexpectedType
	}
	return ErrInvalidType
}
