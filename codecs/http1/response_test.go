package http1

import (
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestParseResponseHead(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		method    string
		status    int
		reason    string
		kind      BodyKind
		length    int64
		keepAlive bool
	}{
		{"200 content-length", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "GET", 200, "OK", BodyContentLength, 12, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", 200, "OK", BodyChunked, -1, true},
		{"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "GET", 200, "OK", BodyCloseDelimited, -1, false},
		{"HTTP/1.0 close-delimited", "HTTP/1.0 200 OK\r\n\r\n", "GET", 200, "OK", BodyCloseDelimited, -1, false},
		{"content-length zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", 200, "OK", BodyNone, 0, true},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "HEAD", 200, "OK", BodyNone, 0, true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, "No Content", BodyNone, 0, true},
		{"304 with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", 304, "Not Modified", BodyNone, 0, true},
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", "POST", 100, "Continue", BodyNone, 0, true},
		{"101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "GET", 101, "Switching Protocols", BodyNone, 0, true},
		{"CONNECT 200", "HTTP/1.1 200 Connection Established\r\n\r\n", "CONNECT", 200, "Connection Established", BodyNone, 0, true},
		{"CONNECT 407", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n", "CONNECT", 407, "Proxy Authentication Required", BodyContentLength, 3, true},
		{"empty reason", "HTTP/1.1 404 \r\nContent-Length: 1\r\n\r\n", "GET", 404, "", BodyContentLength, 1, true},
		{"no reason", "HTTP/1.1 404\r\nContent-Length: 1\r\n\r\n", "GET", 404, "", BodyContentLength, 1, true},
		{"reason with spaces and obs-text", "HTTP/1.1 500 Internal \xe9rror  \r\nContent-Length: 1\r\n\r\n", "GET", 500, "Internal \xe9rror  ", BodyContentLength, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponseHead([]byte(tt.in+"body"), &r, nil)
			if err != nil || n != len(tt.in) {
				t.Fatalf("ParseResponseHead = %d, %v; want %d", n, err, len(tt.in))
			}
			if r.StatusCode != tt.status || string(r.Reason) != tt.reason {
				t.Errorf("status line = %d %q", r.StatusCode, r.Reason)
			}
			if kind, length := r.BodyKind([]byte(tt.method)); kind != tt.kind || length != tt.length {
				t.Errorf("BodyKind = %v, %d; want %v, %d", kind, length, tt.kind, tt.length)
			}
			if r.KeepAlive() != tt.keepAlive {
				t.Errorf("KeepAlive = %v", r.KeepAlive())
			}
			for i := range len(tt.in) {
				if n, err := ParseResponseHead([]byte(tt.in[:i]), &r, nil); n != 0 || err != codecs.ErrNeedMore {
					t.Fatalf("prefix of %d: %d, %v", i, n, err)
				}
			}
		})
	}
}

func TestParseResponseHeadErrors(t *testing.T) {
	small := &Limits{MaxLineBytes: 20}
	tests := []struct {
		name string
		in   string
		lim  *Limits
		err  error
	}{
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", nil, ErrContentLengthWithTransferEncoding},
		{"conflicting CL", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", nil, ErrConflictingContentLength},
		{"TE not chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", nil, ErrChunkedNotFinal},
		{"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", nil, ErrTransferEncodingHTTP10},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", nil, ErrObsFold},
		{"bare LF", "HTTP/1.1 200 OK\n\r\n", nil, ErrBareLF},
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", nil, ErrInvalidStatusLine},
		{"status below 100", "HTTP/1.1 099 OK\r\n\r\n", nil, ErrInvalidStatusLine},
		{"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", nil, ErrInvalidStatusLine},
		{"no space after version", "HTTP/1.1-200 OK\r\n\r\n", nil, ErrInvalidStatusLine},
		{"control byte in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", nil, ErrInvalidStatusLine},
		{"bad version", "HTTX/1.1 200 OK\r\n\r\n", nil, ErrInvalidVersion},
		{"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", nil, ErrVersionNotSupported},
		{"short line", "HTTP/1\r\n\r\n", nil, ErrInvalidStatusLine},
		{"status line too long", "HTTP/1.1 200 " + strings.Repeat("K", 20) + "\r\n\r\n", small, ErrHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if n, err := ParseResponseHead([]byte(tt.in), &r, tt.lim); n != 0 || err != tt.err {
				t.Fatalf("ParseResponseHead = %d, %v; want %v", n, err, tt.err)
			}
		})
	}
}
