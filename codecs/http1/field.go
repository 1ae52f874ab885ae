package http1

import (
	"bytes"

	"github.com/penstock-proxy/penstock/codecs"
)

const (
	// fixedHeaders is how many field lines a head holds before it moves
	// them to a heap array; browsers send 10 to 20.
	fixedHeaders = 32
	// maxKeptHeaders bounds the heap array kept between messages, so that
	// one huge head does not pin its memory for the connection's life.
	maxKeptHeaders = 1024
)

// Header is one field line: a name and a value without surrounding
// whitespace. In a parsed message both are borrowed from the parser's
// input (see [Request]).
type Header struct {
	Name  []byte
	Value []byte
}

// headerList holds field lines in a fixed array, spilling to the heap past
// fixedHeaders, as resp.Command does with arguments.
type headerList struct {
	n     int
	fixed [fixedHeaders]Header
	spill []Header
}

func (l *headerList) all() []Header {
	switch {
	case l.n == 0:
		return nil
	case l.n <= fixedHeaders:
		return l.fixed[:l.n:l.n]
	default:
		return l.spill[:l.n:l.n]
	}
}

func (l *headerList) add(h Header) {
	switch {
	case l.n < fixedHeaders:
		l.fixed[l.n] = h
	case l.n == fixedHeaders:
		l.spill = append(append(l.spill[:0], l.fixed[:]...), h)
	default:
		l.spill = append(l.spill, h)
	}
	l.n++
}

// set replaces the i'th field line.
func (l *headerList) set(i int, h Header) {
	if l.n <= fixedHeaders {
		l.fixed[i] = h
	} else {
		l.spill[i] = h
	}
}

// reset empties l and clears the used slots, so that l does not keep an
// old input buffer reachable.
func (l *headerList) reset() {
	clear(l.fixed[:min(l.n, fixedHeaders)])
	if cap(l.spill) > maxKeptHeaders {
		l.spill = nil
	} else {
		clear(l.spill)
		l.spill = l.spill[:0]
	}
	l.n = 0
}

// get returns the value of the first field named name, compared without
// regard to ASCII case.
func (l *headerList) get(name string) ([]byte, bool) {
	for _, h := range l.all() {
		if equalFold(h.Name, name) {
			return h.Value, true
		}
	}
	return nil, false
}

// Byte classes, from RFC 9110 §5.6.2 (tchar) and §5.5 (field-vchar).
const (
	classToken = 1 << iota
	classValue // field-vchar, SP and HTAB
	classHost  // bytes of a URI host and port: reg-name, IP literal, ':'
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if c == '\t' || (c >= ' ' && c != 0x7f) {
			t[c] |= classValue
		}
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t[c] |= classToken
	}
	for _, c := range []byte("-._~%!$&'()*+,;=:[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t[c] |= classHost
	}
	return t
}()

func all(b []byte, class uint8) bool {
	for _, c := range b {
		if byteClass[c]&class == 0 {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool { return len(b) > 0 && all(b, classToken) }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b and s are equal without regard to ASCII case.
func equalFold[T string | []byte](b []byte, s T) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextElement splits the comma-separated list in b (RFC 9110 §5.6.1) into
// its first non-empty element, without surrounding whitespace, and the
// rest; ok is false when no element remains.
func nextElement(b []byte) (elem, rest []byte, ok bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			elem, b = b, nil
		} else {
			elem, b = b[:i], b[i+1:]
		}
		if elem = trimOWS(elem); len(elem) > 0 {
			return elem, b, true
		}
	}
	return nil, nil, false
}

// hasToken reports whether the list in value holds token, compared
// without regard to ASCII case.
func hasToken[T string | []byte](value []byte, token T) bool {
	for elem, rest, ok := nextElement(value); ok; elem, rest, ok = nextElement(rest) {
		if equalFold(elem, token) {
			return true
		}
	}
	return false
}

// nextLine finds the line starting at in[off], which may be at most maxLen
// bytes long without its CRLF. It returns the line without its CRLF and
// the offset after it, codecs.ErrNeedMore when the line may still end
// within its limit, tooLong when it cannot, and ErrBareLF for a line ended
// by LF alone. It checks the limit before the content, so that a longer
// input never changes the error a prefix gave.
func nextLine(in []byte, off, maxLen int, tooLong error) (line []byte, next int, err error) {
	if maxLen < 0 {
		return nil, 0, tooLong
	}
	window := in[off:min(len(in), off+maxLen+2)]
	i := bytes.IndexByte(window, '\n')
	if i < 0 {
		if len(window) == maxLen+2 {
			return nil, 0, tooLong
		}
		return nil, 0, codecs.ErrNeedMore
	}
	if i == 0 || window[i-1] != '\r' {
		return nil, 0, ErrBareLF
	}
	return window[: i-1 : i-1], off + i + 1, nil
}

// parseField splits a field line into its name and value and checks both.
func parseField(line []byte) (Header, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return Header{}, ErrObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return Header{}, ErrMissingColon
	}
	name := line[:colon:colon]
	if colon > 0 && (name[colon-1] == ' ' || name[colon-1] == '\t') {
		return Header{}, ErrSpaceBeforeColon
	}
	if !isToken(name) {
		return Header{}, ErrInvalidFieldName
	}
	value := trimOWS(line[colon+1:])
	if !validValue(value) {
		return Header{}, ErrInvalidFieldValue
	}
	return Header{Name: name, Value: value}, nil
}

// parseFields parses field lines starting at in[off] up to and including
// the blank line ending them, into l, and returns the offset after the
// blank line. The section, counted from in[0], may be at most maxBytes
// long. Each field is passed to m.note, which may reject it, unless m is
// nil, as for a trailer section.
func parseFields(in []byte, off, maxBytes, maxFields int, l *headerList, m *head) (int, error) {
	for {
		line, next, err := nextLine(in, off, maxBytes-off-2, ErrHeaderTooLarge)
		if err != nil {
			return 0, err
		}
		off = next
		if len(line) == 0 {
			return off, nil
		}
		if l.n == maxFields {
			return 0, ErrTooManyHeaders
		}
		h, err := parseField(line)
		if err != nil {
			return 0, err
		}
		if m != nil {
			if err := m.note(h); err != nil {
				return 0, err
			}
		}
		l.add(h)
	}
}
