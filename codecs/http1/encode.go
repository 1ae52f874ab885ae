package http1

import "strconv"

// AppendRequestHead appends r's head to dst: the request line, the field
// lines in order and the blank line. For a parsed Request it reproduces
// the head byte for byte, except that whitespace around field values
// becomes one space after the colon and leading empty lines are dropped.
// CR, LF and NUL bytes in any part become spaces, so that a Request built
// from untrusted strings cannot add lines of its own.
func AppendRequestHead(dst []byte, r *Request) []byte {
	dst = appendRequestLine(dst, r.Method, r.Target, r.ProtoMinor)
	for _, h := range r.Headers() {
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, '\r', '\n')
}

// AppendResponseHead appends to dst an HTTP/1.1 response head with the
// status code, the reason phrase, the fields in order and the blank line.
// status must be from 100 to 999. As in [AppendRequestHead], CR, LF and
// NUL bytes become spaces.
func AppendResponseHead(dst []byte, status int, reason string, headers ...Header) []byte {
	dst = appendStatusLine(dst, status, reason)
	for _, h := range headers {
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, '\r', '\n')
}

// AppendEndToEndHeaders appends to dst the field lines of headers that are
// end-to-end: all but the hop-by-hop fields a proxy must not forward
// (RFC 9110 §7.6.1), which are Connection, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade and any field the Connection
// fields name but Content-Length and Host (see [IsHopByHop]). It
// allocates nothing.
func AppendEndToEndHeaders(dst []byte, headers []Header) []byte {
	for _, h := range headers {
		if !isHopByHop(h.Name, headers) {
			dst = appendField(dst, h.Name, h.Value)
		}
	}
	return dst
}

// AppendProxyRequestHead appends the head a reverse proxy sends upstream
// for r: an HTTP/1.1 request line with r's method and target, r's
// end-to-end fields (see [AppendEndToEndHeaders]), "Transfer-Encoding:
// chunked" when r's body is chunked, then extra (such as Forwarded or
// Connection fields of the proxy's own) and the blank line. The body can
// then be forwarded as received: Content-Length is end-to-end and kept,
// and a chunked body stays chunked.
func AppendProxyRequestHead(dst []byte, r *Request, extra ...Header) []byte {
	dst = appendRequestLine(dst, r.Method, r.Target, 1)
	dst = AppendEndToEndHeaders(dst, r.Headers())
	if kind, _ := r.BodyKind(); kind == BodyChunked {
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	for _, h := range extra {
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, '\r', '\n')
}

// AppendProxyResponseHead appends the head a reverse proxy sends
// downstream for r, the response to a request with the given method: an
// HTTP/1.1 status line with r's code and reason, r's end-to-end fields,
// "Transfer-Encoding: chunked" when r's body is chunked, extra and the
// blank line. For a close-delimited body the proxy adds "Connection:
// close" in extra and closes the client connection after the body, or
// re-frames the body with [AppendChunk] and adds "Transfer-Encoding:
// chunked" itself.
func AppendProxyResponseHead(dst []byte, r *Response, method []byte, extra ...Header) []byte {
	dst = appendStatusLine(dst, r.StatusCode, r.Reason)
	dst = AppendEndToEndHeaders(dst, r.Headers())
	if kind, _ := r.BodyKind(method); kind == BodyChunked {
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	for _, h := range extra {
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, '\r', '\n')
}

func appendRequestLine(dst, method, target []byte, minor int) []byte {
	dst = appendSafe(dst, method)
	dst = append(dst, ' ')
	dst = appendSafe(dst, target)
	dst = append(dst, " HTTP/1."...)
	return append(dst, byte('0'+minor), '\r', '\n')
}

func appendStatusLine[T string | []byte](dst []byte, status int, reason T) []byte {
	if status < 100 || status > 999 {
		panic("penstock/http1: status code " + strconv.Itoa(status) + " is not three digits")
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = appendSafe(dst, reason)
	return append(dst, '\r', '\n')
}

func appendField(dst, name, value []byte) []byte {
	start := len(dst)
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	sanitize(dst[start:]) // one pass over the line, ": " included
	return append(dst, '\r', '\n')
}

// appendSafe appends b with CR, LF and NUL replaced by spaces.
func appendSafe[T string | []byte](dst []byte, b T) []byte {
	start := len(dst)
	dst = append(dst, b...)
	sanitize(dst[start:])
	return dst
}

// isHopByHop reports whether the field named name is hop-by-hop among
// headers.
func isHopByHop(name []byte, headers []Header) bool {
	return isHopByHopName(name) || namedByConnection(name, headers)
}

// isHopByHopName reports whether name is one of the hop-by-hop fields RFC
// 9110 §7.6.1 lists.
func isHopByHopName(name []byte) bool {
	switch len(name) {
	case len("te"):
		return equalFold(name, "te")
	case len("trailer"): // and "upgrade"
		return equalFold(name, "trailer") || equalFold(name, "upgrade")
	case len("connection"): // and "keep-alive"
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case len("proxy-connection"):
		return equalFold(name, "proxy-connection")
	case len("transfer-encoding"):
		return equalFold(name, "transfer-encoding")
	}
	return false
}

// namedByConnection reports whether a Connection field among headers
// names the field name, which must not be one that frames or routes the
// message (see [IsHopByHop]).
func namedByConnection(name []byte, headers []Header) bool {
	if framesOrRoutes(name) {
		return false
	}
	for _, h := range headers {
		if equalFold(h.Name, "connection") && hasToken(h.Value, name) {
			return true
		}
	}
	return false
}

// AppendRequestLine appends an HTTP/1.1 request line. As in
// [AppendRequestHead], CR, LF and NUL bytes become spaces.
func AppendRequestLine(dst, method, target []byte) []byte {
	return appendRequestLine(dst, method, target, 1)
}

// AppendStatusLine appends an HTTP/1.1 status line; status must be from
// 100 to 999.
func AppendStatusLine(dst []byte, status int, reason string) []byte {
	return appendStatusLine(dst, status, reason)
}

// AppendHeader appends one field line. As in [AppendRequestHead], CR, LF
// and NUL bytes become spaces.
func AppendHeader(dst, name, value []byte) []byte { return appendField(dst, name, value) }

// IsHopByHop reports whether the field named name is hop-by-hop in a head
// with the given fields: one of the fields RFC 9110 §7.6.1 lists, or one
// that a Connection field names. A proxy does not forward it.
//
// A Connection field cannot make Content-Length or Host hop-by-hop: the
// token is ignored. They frame and route the message, and a proxy that
// dropped them on a peer's word would send a body as the next request on
// its connection (request smuggling) or a request with no Host.
// Transfer-Encoding is hop-by-hop in any case, and a proxy frames the
// body it forwards itself.
func IsHopByHop(name []byte, headers []Header) bool { return isHopByHop(name, headers) }

// framesOrRoutes reports whether name is Content-Length or Host, which no
// Connection field can make hop-by-hop.
func framesOrRoutes(name []byte) bool {
	switch len(name) {
	case len("host"):
		return equalFold(name, "host")
	case len("content-length"):
		return equalFold(name, "content-length")
	}
	return false
}

// EqualFold reports whether b and s are equal without regard to ASCII
// case, as field names compare. It allocates nothing.
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }

// HasToken reports whether the comma-separated list value (a field value
// such as Connection's) holds token, without regard to ASCII case.
func HasToken(value []byte, token string) bool { return hasToken(value, token) }
