package http2

import "strings"

// LowerName returns a field name as HTTP/2 writes it, in lowercase (RFC
// 9113 §8.2.1), without allocating for the fields most requests and
// responses carry. The string never changes, as an HPACK encoder needs.
func LowerName(name []byte) string {
	if s, ok := commonLower[string(name)]; ok {
		return s
	}
	return strings.ToLower(string(name))
}

var commonLower = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		// requests
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cookie", "Host",
		"If-Modified-Since", "If-None-Match", "Origin", "Referer", "Te", "User-Agent",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
		"Grpc-Accept-Encoding", "Grpc-Encoding", "Grpc-Timeout",
		// responses
		"Accept-Ranges", "Age", "Allow", "Alt-Svc", "Content-Encoding", "Content-Language",
		"Content-Location", "Content-Range", "Date", "ETag", "Expires", "Last-Modified", "Link",
		"Location", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Vary",
		"WWW-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "Grpc-Status", "Grpc-Message",
		// both
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Keep-Alive",
		"Proxy-Connection", "Trailer", "Transfer-Encoding", "Upgrade", "Via",
	} {
		m[n] = strings.ToLower(n)
		m[strings.ToLower(n)] = strings.ToLower(n)
	}
	return m
}()
