package httpd

import (
	"bytes"
	"net"

	"github.com/penstock-proxy/penstock/codecs/http1"
)

// Field is one header field line, a name and a value.
type Field = http1.Header

// Request is what a handler sees of a request: the parts HTTP/1.1 and
// HTTP/2 share. Its byte slices are valid until the exchange ends and must
// not be modified.
type Request struct {
	// Method is the method, such as GET.
	Method []byte
	// Target is the request target as sent.
	Target []byte
	// Path is the target's path (for an absolute-form target, the part
	// after the authority); Query is what follows '?', without it.
	Path, Query []byte
	// Host is the authority: the Host field, or an absolute-form target's.
	Host []byte
	// Scheme is "http" (or "https" behind TLS).
	Scheme string
	// ProtoMajor and ProtoMinor are the HTTP version.
	ProtoMajor, ProtoMinor int
	// Headers are the field lines in order.
	Headers []Field
	// ContentLength is the body's length, 0 without a body, -1 when the
	// body is chunked.
	ContentLength int64
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr

	h1 *http1.Request
}

// Header returns the first value of the field named name (any case).
func (r *Request) Header(name string) ([]byte, bool) {
	for _, h := range r.Headers {
		if http1.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return nil, false
}

// HTTP1 returns the HTTP/1 head the request came from, for what the
// neutral view leaves out (Upgrade, Expect), or nil for another protocol.
func (r *Request) HTTP1() *http1.Request { return r.h1 }

// Idempotent reports whether the method is idempotent (RFC 9110 §9.2.2),
// which makes a retry after a failure safe.
func (r *Request) Idempotent() bool {
	switch string(r.Method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func (r *Request) fill(h *http1.Request, raddr net.Addr) {
	*r = Request{Method: h.Method, Target: h.Target, Scheme: "http", ProtoMajor: 1,
		ProtoMinor: h.ProtoMinor, Headers: h.Headers(), RemoteAddr: raddr, h1: h}
	t := h.Target
	if len(t) > 0 && t[0] != '/' && t[0] != '*' {
		// absolute-form: scheme "://" authority path
		if i := bytes.Index(t, []byte("://")); i >= 0 {
			rest := t[i+3:]
			j := bytes.IndexAny(rest, "/?")
			if j < 0 {
				j = len(rest)
			}
			r.Host = rest[:j]
			t = rest[j:]
		} else {
			// authority-form (CONNECT)
			r.Host = t
			t = nil
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		r.Path, r.Query = t[:i], t[i+1:]
	} else {
		r.Path = t
	}
	if r.Host == nil {
		r.Host, _ = h.Header("host")
	}
	switch kind, n := h.BodyKind(); kind {
	case http1.BodyContentLength:
		r.ContentLength = n
	case http1.BodyChunked:
		r.ContentLength = -1
	}
}
