package http1

// BodyKind says how a message's body is framed (RFC 9112 §6.3).
type BodyKind uint8

const (
	// BodyNone means the message has no body.
	BodyNone BodyKind = iota
	// BodyContentLength means the body is as many bytes as the length
	// BodyKind returns with it, which is above zero.
	BodyContentLength
	// BodyChunked means the body is chunked; decode it with a
	// [ChunkedDecoder].
	BodyChunked
	// BodyCloseDelimited means the body is every byte until the server
	// closes the connection, which therefore cannot be reused. Only
	// responses have it.
	BodyCloseDelimited
)

// String returns the name of k, such as "chunked".
func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyContentLength:
		return "content-length"
	case BodyChunked:
		return "chunked"
	case BodyCloseDelimited:
		return "close-delimited"
	default:
		return "invalid"
	}
}

// head is what requests and responses share: their field lines and what
// the fields that decide framing and connection handling said.
type head struct {
	headers headerList
	headState
}

// headState is what a head notes of its fields, apart from the field
// list: it resets in one small store, where copying the whole head would
// move the field array twice.
type headState struct {
	contentLength int64
	upgrade       []byte
	hosts         int
	hasCL         bool
	hasTE         bool
	teChunked     bool
	teOther       bool
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	connOther     bool // a Connection field names another token
	expect100     bool
	hasUpgrade    bool
}

func (m *head) reset() {
	m.headers.reset()
	m.headState = headState{}
}

// Headers returns the field lines of the head in the order received. The
// slice and the bytes it points to are borrowed: valid until the parser's
// input changes or the message is parsed into again, and not to be
// modified.
func (m *head) Headers() []Header { return m.headers.all() }

// IsHopByHop reports whether the field named name is hop-by-hop in this
// head: one of the fields RFC 9110 §7.6.1 lists, or one its Connection
// fields name, Content-Length and Host excepted. It is [IsHopByHop]
// without the scan for Connection fields when they name nothing but
// close, keep-alive and upgrade.
func (m *head) IsHopByHop(name []byte) bool {
	switch {
	case isHopByHopName(name):
		return true
	case m.connOther:
		return namedByConnection(name, m.headers.all())
	default:
		// The other tokens are hop-by-hop names already, but for close.
		return m.connClose && equalFold(name, "close")
	}
}

// Header returns the value of the first field named name, compared
// without regard to ASCII case, and whether there was one. It allocates
// nothing; the value is borrowed as with Headers.
func (m *head) Header(name string) ([]byte, bool) { return m.headers.get(name) }

// Expect100 reports whether the head carries "Expect: 100-continue": a
// client waits for a "100 Continue" interim response, or a timeout,
// before sending the body.
func (m *head) Expect100() bool { return m.expect100 }

// Upgrade returns the value of the Upgrade field, the protocols the
// sender offers in order of preference (such as "websocket"), when the
// Connection field holds the "upgrade" option; ok is false otherwise. The
// value is borrowed as with Headers.
func (m *head) Upgrade() (protocols []byte, ok bool) {
	if !m.connUpgrade || !m.hasUpgrade {
		return nil, false
	}
	return m.upgrade, true
}

func (m *head) keepAlive(minor int) bool {
	if m.connClose {
		return false
	}
	return minor == 1 || m.connKeepAlive
}

// note records what field h says about framing and the connection, and
// rejects the values that make framing ambiguous.
func (m *head) note(h Header) error {
	switch len(h.Name) {
	case len("host"):
		if equalFold(h.Name, "host") {
			m.hosts++
			if m.hosts > 1 {
				return ErrDuplicateHost
			}
			if !all(h.Value, classHost) {
				return ErrInvalidHost
			}
		}
	case len("expect"):
		if equalFold(h.Name, "expect") && equalFold(h.Value, "100-continue") {
			m.expect100 = true
		}
	case len("upgrade"):
		if equalFold(h.Name, "upgrade") && !m.hasUpgrade {
			m.upgrade, m.hasUpgrade = h.Value, true
		}
	case len("connection"):
		if equalFold(h.Name, "connection") {
			m.noteConnection(h.Value)
		}
	case len("content-length"):
		if equalFold(h.Name, "content-length") {
			return m.noteContentLength(h.Value)
		}
	case len("transfer-encoding"):
		if equalFold(h.Name, "transfer-encoding") {
			return m.noteTransferEncoding(h.Value)
		}
	}
	return nil
}

func (m *head) noteConnection(value []byte) {
	for elem, rest, ok := nextElement(value); ok; elem, rest, ok = nextElement(rest) {
		switch {
		case equalFold(elem, "close"):
			m.connClose = true
		case equalFold(elem, "keep-alive"):
			m.connKeepAlive = true
		case equalFold(elem, "upgrade"):
			m.connUpgrade = true
		default:
			m.connOther = true
		}
	}
}

// noteContentLength accepts repeated Content-Length lines of the same
// value, as RFC 9110 §8.6 allows and net/http does, but no list in one
// line ("5, 5"): the rare senders that repeat the field repeat the line.
func (m *head) noteContentLength(value []byte) error {
	n, ok := parseContentLength(value)
	switch {
	case !ok:
		return ErrInvalidContentLength
	case m.hasCL && n != m.contentLength:
		return ErrConflictingContentLength
	}
	m.contentLength, m.hasCL = n, true
	return nil
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// noteTransferEncoding reads one Transfer-Encoding line; several lines
// form one list. Only a list ending in a single chunked gives a framing,
// which finish checks once every line is in.
func (m *head) noteTransferEncoding(value []byte) error {
	m.hasTE = true
	for elem, rest, ok := nextElement(value); ok; elem, rest, ok = nextElement(rest) {
		switch {
		case equalFold(elem, "chunked"):
			if m.teChunked {
				return ErrChunkedTwice
			}
			m.teChunked = true
		case !isToken(elem):
			return ErrInvalidTransferCoding
		case m.teChunked:
			return ErrChunkedNotFinal
		default:
			m.teOther = true
		}
	}
	return nil
}

// finish checks the framing fields of a complete head.
func (m *head) finish(minor int, lim *Limits) error {
	if m.hasTE {
		switch {
		case m.hasCL:
			return ErrContentLengthWithTransferEncoding
		case minor == 0:
			return ErrTransferEncodingHTTP10
		case !m.teChunked:
			return ErrChunkedNotFinal
		case m.teOther:
			return ErrUnsupportedTransferCoding
		}
	}
	if m.hasCL && m.contentLength > lim.maxBodyBytes() {
		return ErrBodyTooLarge
	}
	return nil
}

// parseVersion parses "HTTP/1.0" or "HTTP/1.1" and returns the minor
// version.
func parseVersion(v []byte) (minor int, err error) {
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, ErrInvalidVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, ErrVersionNotSupported
	}
	return int(v[7] - '0'), nil
}
