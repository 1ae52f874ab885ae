package httpproxy

import (
	"bytes"
	"strconv"

	"github.com/penstock-proxy/penstock/l7/httpd"
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
