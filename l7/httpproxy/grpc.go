package httpproxy

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// isGRPC reports whether r is a gRPC request (content-type application/grpc
// or application/grpc+proto and the like).
func isGRPC(r *httpd.Request) bool {
	v, ok := r.Header("content-type")
	return ok && bytes.HasPrefix(v, []byte("application/grpc")) &&
		(len(v) == len("application/grpc") || v[len("application/grpc")] == '+' || v[len("application/grpc")] == ';')
}

// grpcCode maps the status the proxy would answer to a gRPC status code
// (gRPC's HTTP-to-gRPC mapping: 400 INTERNAL, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
// others UNKNOWN); a 504 the proxy raises itself is a deadline.
func grpcCode(status int) int {
	switch status {
	case 400:
		return 13
	case 401:
		return 16
	case 403:
		return 7
	case 404:
		return 12
	case 504:
		return 4 // DEADLINE_EXCEEDED: the proxy's own timeout
	case 429, 502, 503:
		return 14
	}
	return 2
}

// respondGRPC answers a failed gRPC request with a trailers-only response:
// HTTP 200, the status in grpc-status and grpc-message.
func (s *Session) respondGRPC(status int, e *Error) {
	code := grpcCode(status)
	msg := "penstock: " + httpd.StatusText(status)
	if e != nil && e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	_ = s.X.WriteHead(200,
		httpd.Field{Name: []byte("Content-Type"), Value: []byte("application/grpc")},
		httpd.Field{Name: []byte("Grpc-Status"), Value: strconv.AppendInt(nil, int64(code), 10)},
		httpd.Field{Name: []byte("Grpc-Message"), Value: grpcPercentEncode(msg)})
	_ = s.X.End()
}

// grpcPercentEncode encodes a grpc-message value as the gRPC spec asks:
// bytes outside printable ASCII and '%' as %XX.
func grpcPercentEncode(m string) []byte {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(m))
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			out = append(out, '%', hex[c>>4], hex[c&15])
			continue
		}
		out = append(out, c)
	}
	return out
}

// grpcTimeoutUnits are grpc-timeout's units, finest first.
var grpcTimeoutUnits = [...]struct {
	c byte
	d time.Duration
}{{'n', time.Nanosecond}, {'u', time.Microsecond}, {'m', time.Millisecond},
	{'S', time.Second}, {'M', time.Minute}, {'H', time.Hour}}

// parseGRPCTimeout reads a grpc-timeout value: one to eight ASCII digits
// and a unit (H, M, S, m, u, n). ok is false for anything else, and for
// a value too long for a time.Duration (no deadline then).
func parseGRPCTimeout(v []byte) (d time.Duration, ok bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	for _, u := range grpcTimeoutUnits {
		if u.c == v[len(v)-1] {
			if n > int64(math.MaxInt64/u.d) {
				return 0, false
			}
			return time.Duration(n) * u.d, true
		}
	}
	return 0, false
}

// appendGRPCTimeout appends d as a grpc-timeout value: the finest unit in
// which it fits eight digits, rounded up (a deadline passed on is never
// earlier than the caller's, by less than one unit).
func appendGRPCTimeout(dst []byte, d time.Duration) []byte {
	if d < 1 {
		d = 1
	}
	for _, u := range grpcTimeoutUnits {
		n := d / u.d
		if d%u.d != 0 {
			n++
		}
		if n <= 99999999 {
			return append(strconv.AppendInt(dst, int64(n), 10), u.c)
		}
	}
	return append(dst, "99999999H"...)
}

// armDeadline starts the session's deadline timer, when it has a
// deadline (Session.Deadline).
func (s *Session) armDeadline() {
	if s.Deadline.IsZero() {
		return
	}
	loop := s.X.Loop()
	if s.deadline == nil || s.deadlineLoop != loop {
		s.deadline, s.deadlineLoop = transport.NewTimer(loop, s.deadlineFn), loop
	}
	s.deadline.Reset(time.Until(s.Deadline))
}

// deadlinePassed reports whether the session's deadline has come; the
// session has failed (504, or DEADLINE_EXCEEDED for gRPC) when it has.
func (s *Session) deadlinePassed() bool {
	if s.Deadline.IsZero() || time.Until(s.Deadline) > 0 {
		return false
	}
	s.onDeadline()
	return true
}

// onDeadline ends the session whose deadline has come: the upstream's
// stream is reset (its connection closed on HTTP/1.1), and the client
// answered 504 / DEADLINE_EXCEEDED, or its stream reset when the response
// has started.
func (s *Session) onDeadline() {
	if s.done {
		return
	}
	what := "the request's deadline"
	if v, ok := s.X.Req.Header("grpc-timeout"); ok && isGRPC(&s.X.Req) {
		what = "grpc-timeout " + string(v)
	}
	s.fail(&Error{Source: Upstream, Kind: KindTimeout, Retry: RetryUnsafe,
		Err: fmt.Errorf("%w: %s ran out (%s)", ErrDeadline, what, s.phase())})
}

// setGRPCTimeout rewrites the grpc-timeout sent upstream to what is left
// of the session's deadline, when it is a gRPC request.
func (s *Session) setGRPCTimeout() {
	if s.Deadline.IsZero() || !isGRPC(&s.X.Req) {
		return
	}
	s.gto = appendGRPCTimeout(s.gto[:0], time.Until(s.Deadline))
	fs := s.UpstreamHeader.Fields
	for i := range fs {
		if equalFold(fs[i].Name, "grpc-timeout") {
			fs[i].Value = s.gto
			return
		}
	}
	s.UpstreamHeader.Fields = append(fs, httpd.Field{Name: hGRPCTimeout, Value: s.gto})
}

var hGRPCTimeout = []byte("grpc-timeout")
