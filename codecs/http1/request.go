package http1

import (
	"bytes"

	"github.com/penstock-proxy/penstock/codecs"
)

// Request is one parsed request head. Its zero value is ready to use;
// [ParseRequestHead] resets and refills it. It allocates only to grow the
// storage it keeps, for heads of more than 32 field lines, so reusing one
// Request per connection makes parsing allocation-free in steady state.
//
// Method, Target and the header bytes are borrowed from the input of
// ParseRequestHead: they are valid until the caller's buffer changes or the
// Request is parsed into again, and must not be modified. A Request is not
// safe for concurrent use.
type Request struct {
	// Method is the request method, such as GET, as sent (methods are
	// case-sensitive).
	Method []byte
	// Target is the request target as sent: an origin-form path and query,
	// an absolute URI, an authority for CONNECT or "*" for OPTIONS.
	Target []byte
	// ProtoMinor is the minor HTTP version: 0 or 1.
	ProtoMinor int

	head
}

// ParseRequestHead parses the request head at the start of in into r and
// returns its length n: in[:n] is the start line, the field lines and the
// blank line ending them, so in[n:] starts the body or the next request.
// Empty lines before the request line are skipped, as RFC 9112 §2.2
// advises, and counted in n.
//
// It returns codecs.ErrNeedMore while in holds only part of a head. It
// reports a malformation as soon as the line that shows it is complete,
// and an exceeded limit as soon as the bytes exceed it, so that a server
// can answer with [StatusFor] without waiting for the rest, and a longer
// input never turns an error into success. It checks every rule of the package documentation. lim may be nil
// for the defaults.
//
// ParseRequestHead parses in from its start on every call; a caller that
// gets a head over many reads asks a [HeadScan] first, and parses about
// once per line instead of once per read. It never modifies in and keeps
// no reference to it except through r's borrowed fields.
func ParseRequestHead(in []byte, r *Request, lim *Limits) (n int, err error) {
	r.reset()
	n, err = r.parse(in, lim)
	if err != nil {
		r.reset()
		return 0, err
	}
	return n, nil
}

func (r *Request) reset() {
	r.Method, r.Target, r.ProtoMinor = nil, nil, 0
	r.head.reset()
}

func (r *Request) parse(in []byte, lim *Limits) (int, error) {
	maxHead := lim.maxHeaderBytes()
	off, err := skipEmptyLines(in, maxHead)
	if err != nil {
		return 0, err
	}
	maxLine, tooLong := lim.maxLineBytes(), ErrURITooLong
	if rest := maxHead - off - 2; rest < maxLine {
		maxLine, tooLong = rest, ErrHeaderTooLarge
	}
	line, off, err := nextLine(in, off, maxLine, tooLong)
	if err != nil {
		return 0, err
	}
	if err := r.parseRequestLine(line); err != nil {
		return 0, err
	}
	off, err = parseFields(in, off, maxHead, lim.maxHeaders(), &r.headers, &r.head)
	if err != nil {
		return 0, err
	}
	if r.hosts == 0 && r.ProtoMinor == 1 {
		return 0, ErrMissingHost
	}
	if err := r.finish(r.ProtoMinor, lim); err != nil {
		return 0, err
	}
	return off, nil
}

// skipEmptyLines returns the offset of the first byte after the CRLFs at
// the start of in.
func skipEmptyLines(in []byte, maxHead int) (int, error) {
	off := 0
	for {
		switch {
		case off == len(in):
			return 0, codecs.ErrNeedMore
		case in[off] == '\n':
			return 0, ErrBareLF
		case in[off] != '\r':
			return off, nil
		case off+1 == len(in):
			return 0, codecs.ErrNeedMore
		case in[off+1] != '\n':
			return 0, ErrBareCR
		}
		off += 2
		if off > maxHead-2 {
			return 0, ErrHeaderTooLarge
		}
	}
}

// parseRequestLine parses method SP request-target SP HTTP-version.
func (r *Request) parseRequestLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return ErrInvalidRequestLine
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return ErrInvalidRequestLine
	}
	sp2 += sp1 + 1
	method, target, version := line[:sp1:sp1], line[sp1+1:sp2:sp2], line[sp2+1:]
	if !isToken(method) {
		return ErrInvalidMethod
	}
	if !validTarget(method, target) {
		return ErrInvalidTarget
	}
	minor, err := parseVersion(version)
	if err != nil {
		return err
	}
	r.Method, r.Target, r.ProtoMinor = method, target, minor
	return nil
}

// validTarget checks the request-target forms of RFC 9112 §3.2: an
// authority for CONNECT, "*" for OPTIONS, and otherwise an origin-form
// path or an absolute URI, all of visible ASCII.
func validTarget(method, target []byte) bool {
	if len(target) == 0 {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	switch {
	case string(method) == "CONNECT":
		return all(target, classHost)
	case target[0] == '/':
		return true
	case len(target) == 1 && target[0] == '*':
		return string(method) == "OPTIONS"
	default:
		return isAbsoluteURI(target)
	}
}

// isAbsoluteURI reports whether target starts with a scheme (RFC 3986
// §3.1) followed by "://".
func isAbsoluteURI(target []byte) bool {
	colon := bytes.Index(target, []byte("://"))
	if colon <= 0 {
		return false
	}
	for i, c := range target[:colon] {
		alpha := lower(c) >= 'a' && lower(c) <= 'z'
		if !alpha && (i == 0 || (c < '0' || c > '9') && c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// BodyKind returns how the request's body is framed and, for
// [BodyContentLength], its length. A request with neither Content-Length
// nor Transfer-Encoding, or with "Content-Length: 0", has no body (RFC 9112
// §6.3).
func (r *Request) BodyKind() (kind BodyKind, length int64) {
	switch {
	case r.teChunked:
		return BodyChunked, -1
	case r.hasCL && r.contentLength > 0:
		return BodyContentLength, r.contentLength
	default:
		return BodyNone, 0
	}
}

// KeepAlive reports whether the connection may carry another request after
// this one: for HTTP/1.1 unless the Connection field holds "close", for
// HTTP/1.0 only when it holds "keep-alive".
func (r *Request) KeepAlive() bool { return r.keepAlive(r.ProtoMinor) }
