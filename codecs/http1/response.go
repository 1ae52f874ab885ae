package http1

// Response is one parsed response head. Its zero value is ready to use;
// [ParseResponseHead] resets and refills it. Like a [Request], it
// allocates only to grow its kept storage, its fields are borrowed from
// the parser's input, and it is not safe for concurrent use.
type Response struct {
	// StatusCode is the three-digit status code, from 100 to 999.
	StatusCode int
	// Reason is the reason phrase as sent, possibly empty.
	Reason []byte
	// ProtoMinor is the minor HTTP version: 0 or 1.
	ProtoMinor int

	head
}

// ParseResponseHead parses the response head at the start of in into r
// and returns its length n, as [ParseRequestHead] does for requests, with
// the same field rules. A status line longer than Limits.MaxLineBytes is
// [ErrHeaderTooLarge]. The reason phrase, and the space before it, may be
// missing; no empty lines may precede the status line.
func ParseResponseHead(in []byte, r *Response, lim *Limits) (n int, err error) {
	r.reset()
	n, err = r.parse(in, lim)
	if err != nil {
		r.reset()
		return 0, err
	}
	return n, nil
}

func (r *Response) reset() {
	r.StatusCode, r.Reason, r.ProtoMinor = 0, nil, 0
	r.head.reset()
}

func (r *Response) parse(in []byte, lim *Limits) (int, error) {
	maxHead := lim.maxHeaderBytes()
	line, off, err := nextLine(in, 0, min(lim.maxLineBytes(), maxHead-2), ErrHeaderTooLarge)
	if err != nil {
		return 0, err
	}
	if err := r.parseStatusLine(line); err != nil {
		return 0, err
	}
	off, err = parseFields(in, off, maxHead, lim.maxHeaders(), &r.headers, &r.head)
	if err != nil {
		return 0, err
	}
	if err := r.finish(r.ProtoMinor, lim); err != nil {
		return 0, err
	}
	return off, nil
}

// parseStatusLine parses HTTP-version SP status-code [SP reason-phrase].
func (r *Response) parseStatusLine(line []byte) error {
	const vlen = len("HTTP/1.1")
	if len(line) < vlen+4 || line[vlen] != ' ' {
		if len(line) >= vlen {
			if _, err := parseVersion(line[:vlen]); err != nil {
				return err
			}
		}
		return ErrInvalidStatusLine
	}
	minor, err := parseVersion(line[:vlen])
	if err != nil {
		return err
	}
	code := 0
	for _, c := range line[vlen+1 : vlen+4] {
		if c < '0' || c > '9' {
			return ErrInvalidStatusLine
		}
		code = code*10 + int(c-'0')
	}
	reason := line[vlen+4:]
	switch {
	case code < 100:
		return ErrInvalidStatusLine
	case len(reason) > 0 && reason[0] != ' ':
		return ErrInvalidStatusLine
	case len(reason) > 0:
		reason = reason[1:]
	}
	if !validValue(reason) {
		return ErrInvalidStatusLine
	}
	r.StatusCode, r.Reason, r.ProtoMinor = code, reason, minor
	return nil
}

// BodyKind returns how the response's body is framed and, for
// [BodyContentLength], its length. method is the method of the request
// the response answers: responses to HEAD, 1xx, 204 and 304 responses and
// 2xx responses to CONNECT (after which the connection is a tunnel) have
// no body whatever their fields say (RFC 9112 §6.3). A response with
// neither Content-Length nor Transfer-Encoding is [BodyCloseDelimited].
func (r *Response) BodyKind(method []byte) (kind BodyKind, length int64) {
	switch {
	case string(method) == "HEAD", r.StatusCode < 200, r.StatusCode == 204, r.StatusCode == 304,
		string(method) == "CONNECT" && r.StatusCode < 300:
		return BodyNone, 0
	case r.teChunked:
		return BodyChunked, -1
	case r.hasCL && r.contentLength > 0:
		return BodyContentLength, r.contentLength
	case r.hasCL:
		return BodyNone, 0
	default:
		return BodyCloseDelimited, -1
	}
}

// KeepAlive reports whether the connection may carry another response
// after this one, judging by the version and the Connection field as
// [Request.KeepAlive] does. A close-delimited body ends the connection
// whatever KeepAlive says.
func (r *Response) KeepAlive() bool { return r.keepAlive(r.ProtoMinor) }
