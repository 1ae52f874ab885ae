package http2

import (
	"errors"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs"
)

// Header is a stream's head or its trailers as decoded: the pseudo-header
// fields apart, the others in the order received, names in lowercase. The
// Conn reuses one Header: it and its strings' backing are valid during
// [Handler.OnHeaders] only.
type Header struct {
	// Request pseudo-header fields (Server role); Protocol is the extended
	// CONNECT protocol, always empty unless Config.EnableConnectProtocol.
	Method, Scheme, Authority, Path, Protocol string
	// Status is the response status (Client role), 0 in a request.
	Status int
	// Fields are the regular fields.
	Fields []hpack.HeaderField
	// ContentLength is the content-length field's value, -1 without one.
	ContentLength int64
	// Trailers says this block ends the stream after its body.
	Trailers bool
}

func (h *Header) reset() {
	*h = Header{Fields: h.Fields[:0], ContentLength: -1}
}

// Get returns the first value of the regular field name (lowercase), or "".
func (h *Header) Get(name string) string {
	for i := range h.Fields {
		if h.Fields[i].Name == name {
			return h.Fields[i].Value
		}
	}
	return ""
}

// ErrMalformed is the class of the errors that make a message malformed
// (RFC 9113 §8.1.1): the stream is reset with PROTOCOL_ERROR.
var ErrMalformed = errors.New("penstock/http2: malformed message")

// The ways a header block is malformed, each counted by its message.
var (
	errUpperName          = codecs.NewError("penstock/http2: field name with uppercase letters", ErrMalformed)
	errBadName            = codecs.NewError("penstock/http2: field name with a byte a token does not have", ErrMalformed)
	errBadValue           = codecs.NewError("penstock/http2: field value with NUL, CR, LF or surrounding whitespace", ErrMalformed)
	errPseudoAfterRegular = codecs.NewError("penstock/http2: pseudo-header field after a regular field", ErrMalformed)
	errUnknownPseudo      = codecs.NewError("penstock/http2: unknown or misplaced pseudo-header field", ErrMalformed)
	errDuplicatePseudo    = codecs.NewError("penstock/http2: repeated pseudo-header field", ErrMalformed)
	errMissingPseudo      = codecs.NewError("penstock/http2: required pseudo-header field missing or empty", ErrMalformed)
	errConnectionSpecific = codecs.NewError("penstock/http2: connection-specific field (connection, keep-alive, proxy-connection, transfer-encoding, upgrade)", ErrMalformed)
	errTE                 = codecs.NewError("penstock/http2: te field other than \"trailers\"", ErrMalformed)
	errHostAuthority      = codecs.NewError("penstock/http2: host field differs from :authority", ErrMalformed)
	errContentLength      = codecs.NewError("penstock/http2: content-length not a number, or repeated with another value", ErrMalformed)
	errBodyLength         = codecs.NewError("penstock/http2: DATA length differs from content-length", ErrMalformed)
	errPseudoInTrailers   = codecs.NewError("penstock/http2: pseudo-header field in trailers", ErrMalformed)
	errTrailersNoEnd      = codecs.NewError("penstock/http2: trailers without END_STREAM", ErrMalformed)
	errBadStatus          = codecs.NewError("penstock/http2: :status not a three-digit code", ErrMalformed)
	errBadPath            = codecs.NewError("penstock/http2: :path neither absolute nor \"*\" for OPTIONS", ErrMalformed)
)

// tokenLower marks the bytes of a field name: RFC 9110 tchar without
// uppercase letters.
var tokenLower = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func checkName(name string) error {
	if name == "" {
		return errBadName
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !tokenLower[c] {
			if 'A' <= c && c <= 'Z' {
				return errUpperName
			}
			return errBadName
		}
	}
	return nil
}

func checkValue(v string) error {
	if v == "" {
		return nil
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return errBadValue
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\r' || c == '\n' {
			return errBadValue
		}
	}
	return nil
}

// ConnectionSpecific reports whether name (lowercase) is a field HTTP/2
// forbids (RFC 9113 §8.2.2): connection, keep-alive, proxy-connection,
// transfer-encoding, upgrade. A sender converting an HTTP/1.1 message
// leaves them out; te is allowed with the value "trailers" only.
func ConnectionSpecific(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseContentLength parses plain digits within 63 bits.
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// headerBuilder collects a block's fields as the decoder emits them and
// checks them once the block is whole.
type headerBuilder struct {
	h        Header
	size     uint32 // decoded size as RFC 9113 §6.5.2 counts it
	tooBig   bool
	err      error
	regular  bool // a regular field has been seen
	seen     uint8
	statusV  string
	hostSeen string
}

const (
	seenMethod = 1 << iota
	seenScheme
	seenAuthority
	seenPath
	seenProtocol
	seenStatus
)

func (b *headerBuilder) reset() {
	b.h.reset()
	b.size, b.tooBig, b.err, b.regular, b.seen, b.statusV, b.hostSeen = 0, false, nil, false, 0, "", ""
}

// add takes one decoded field; max is the decoded list cap.
func (b *headerBuilder) add(f hpack.HeaderField, max uint32) {
	b.size += uint32(len(f.Name)) + uint32(len(f.Value)) + 32
	if b.size > max {
		b.tooBig = true
	}
	if b.tooBig || b.err != nil {
		return // decode on for the HPACK state, keep nothing
	}
	name := f.Name
	if len(name) > 0 && name[0] == ':' {
		if b.regular {
			b.err = errPseudoAfterRegular
			return
		}
		var bit uint8
		switch name {
		case ":method":
			bit, b.h.Method = seenMethod, f.Value
		case ":scheme":
			bit, b.h.Scheme = seenScheme, f.Value
		case ":authority":
			bit, b.h.Authority = seenAuthority, f.Value
		case ":path":
			bit, b.h.Path = seenPath, f.Value
		case ":protocol":
			bit, b.h.Protocol = seenProtocol, f.Value
		case ":status":
			bit, b.statusV = seenStatus, f.Value
		default:
			b.err = errUnknownPseudo
			return
		}
		if b.seen&bit != 0 {
			b.err = errDuplicatePseudo
			return
		}
		b.seen |= bit
		if err := checkValue(f.Value); err != nil {
			b.err = err
		}
		return
	}
	b.regular = true
	if err := checkName(name); err != nil {
		b.err = err
		return
	}
	if err := checkValue(f.Value); err != nil {
		b.err = err
		return
	}
	switch {
	case ConnectionSpecific(name):
		b.err = errConnectionSpecific
		return
	case name == "te":
		if !equalFold(f.Value, "trailers") {
			b.err = errTE
			return
		}
	case name == "content-length":
		n, ok := parseContentLength(f.Value)
		if !ok || (b.h.ContentLength >= 0 && b.h.ContentLength != n) {
			b.err = errContentLength
			return
		}
		b.h.ContentLength = n
	case name == "host":
		b.hostSeen = f.Value
	}
	f.Sensitive = false
	b.h.Fields = append(b.h.Fields, f)
}

// finishRequest checks a request head (RFC 9113 §8.3.1).
func (b *headerBuilder) finishRequest(connectProtocol bool) error {
	if b.err != nil {
		return b.err
	}
	h := &b.h
	if b.seen&seenStatus != 0 || (b.seen&seenProtocol != 0 && !connectProtocol) {
		return errUnknownPseudo
	}
	if b.seen&seenMethod == 0 || h.Method == "" {
		return errMissingPseudo
	}
	if h.Method == "CONNECT" && b.seen&seenProtocol == 0 {
		// Plain CONNECT: :authority only.
		if b.seen&(seenScheme|seenPath) != 0 {
			return errUnknownPseudo
		}
		if h.Authority == "" {
			return errMissingPseudo
		}
	} else {
		if b.seen&seenProtocol != 0 && h.Method != "CONNECT" {
			return errUnknownPseudo
		}
		if h.Scheme == "" || h.Path == "" {
			return errMissingPseudo
		}
		if h.Path[0] != '/' && !(h.Path == "*" && h.Method == "OPTIONS") &&
			(equalFold(h.Scheme, "http") || equalFold(h.Scheme, "https")) {
			return errBadPath
		}
	}
	if b.hostSeen != "" && h.Authority != "" && !equalFold(b.hostSeen, h.Authority) {
		return errHostAuthority
	}
	return nil
}

// finishResponse checks a response head (RFC 9113 §8.3.2).
func (b *headerBuilder) finishResponse() error {
	if b.err != nil {
		return b.err
	}
	if b.seen != seenStatus {
		if b.seen&seenStatus == 0 {
			return errMissingPseudo
		}
		return errUnknownPseudo
	}
	v := b.statusV
	if len(v) != 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9' {
		return errBadStatus
	}
	b.h.Status = int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
	return nil
}

// finishTrailers checks a trailer block.
func (b *headerBuilder) finishTrailers() error {
	if b.err != nil {
		return b.err
	}
	if b.seen != 0 {
		return errPseudoInTrailers
	}
	b.h.Trailers = true
	return nil
}
