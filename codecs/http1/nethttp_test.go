package http1

import (
	"bufio"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// ours parses a whole request, head and body.
func parseWhole(t *testing.T, raw string) (r *Request, body string, trailers []Header) {
	t.Helper()
	r = new(Request)
	n, err := ParseRequestHead([]byte(raw), r, nil)
	if err != nil {
		t.Fatalf("ParseRequestHead: %v", err)
	}
	rest := raw[n:]
	switch kind, length := r.BodyKind(); kind {
	case BodyContentLength:
		body = rest[:length]
	case BodyChunked:
		var d ChunkedDecoder
		in := []byte(rest)
		var b strings.Builder
		for {
			data, m, err := d.Decode(in)
			b.Write(data)
			in = in[m:]
			if err == ErrBodyDone {
				break
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
		}
		body, trailers = b.String(), d.Trailers()
	}
	return r, body, trailers
}

// TestAgainstNetHTTP parses valid requests with both this package and
// net/http.ReadRequest and compares method, target, fields and body.
func TestAgainstNetHTTP(t *testing.T) {
	tests := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /search?q=go&x=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\nAccept: text/html\r\n\r\n",
		"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
		"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n",
		"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"DELETE /r HTTP/1.1\r\nHost: a\r\nX-Value:   padded\t \r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	for _, raw := range tests {
		t.Run(strings.SplitN(raw, "\r\n", 2)[0], func(t *testing.T) {
			r, body, trailers := parseWhole(t, raw)
			std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatalf("net/http: %v", err)
			}
			stdBody, err := io.ReadAll(std.Body)
			if err != nil {
				t.Fatalf("net/http body: %v", err)
			}
			if std.Method != string(r.Method) || std.RequestURI != string(r.Target) || std.ProtoMinor != r.ProtoMinor {
				t.Errorf("request line: net/http %s %s 1.%d", std.Method, std.RequestURI, std.ProtoMinor)
			}
			if string(stdBody) != body {
				t.Errorf("body: net/http %q, ours %q", stdBody, body)
			}
			// net/http moves Host to Request.Host and drops
			// Transfer-Encoding, and keeps repeated Content-Length values
			// as one.
			ours := http.Header{}
			for _, h := range r.Headers() {
				name := textproto.CanonicalMIMEHeaderKey(string(h.Name))
				switch name {
				case "Host":
					if std.Host != string(h.Value) {
						t.Errorf("Host: net/http %q, ours %q", std.Host, h.Value)
					}
					continue
				case "Transfer-Encoding", "Trailer":
					continue
				case "Content-Length":
					if ours.Get(name) != "" {
						continue
					}
				}
				ours[name] = append(ours[name], string(h.Value))
			}
			for name, values := range std.Header {
				if !slices.Equal(values, ours[name]) {
					t.Errorf("%s: net/http %q, ours %q", name, values, ours[name])
				}
			}
			if len(ours) != len(std.Header) {
				t.Errorf("fields: net/http %v, ours %v", std.Header, ours)
			}
			for _, h := range trailers {
				if got := std.Trailer.Get(string(h.Name)); got != string(h.Value) {
					t.Errorf("trailer %s: net/http %q, ours %q", h.Name, got, h.Value)
				}
			}
		})
	}
}

// TestStricterThanNetHTTP lists requests net/http.ReadRequest accepts and
// this package rejects on purpose: each is a way for two parsers to
// disagree about a message, or a form RFC 9112 lets a recipient refuse.
func TestStricterThanNetHTTP(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		err  error
	}{
		// net/http accepts bare LF line endings (RFC 9112 §2.2 allows it).
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", ErrBareLF},
		// net/http accepts Transfer-Encoding in HTTP/1.0 requests by
		// ignoring it and reading no body.
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrTransferEncodingHTTP10},
		// net/http unfolds obsolete line folding.
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", ErrObsFold},
		// net/http accepts userinfo in Host.
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrInvalidHost},
		// net/http accepts a CONNECT target that is a path.
		{"CONNECT with path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget},
		// net/http accepts * with any method.
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget},
		// net/http accepts trailing whitespace after a chunk size.
		{"whitespace after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", ErrInvalidChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
			if err == nil {
				_, err = io.ReadAll(std.Body)
			}
			if err != nil {
				t.Fatalf("net/http rejects it too (%v): move the case to the error table", err)
			}
			var r Request
			n, err := ParseRequestHead([]byte(tt.raw), &r, nil)
			if err == nil {
				var d ChunkedDecoder
				_, _, err = d.Decode([]byte(tt.raw[n:]))
			}
			if err != tt.err {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
}
