package http1

import (
	"errors"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestParseRequestHead(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		method    string
		target    string
		minor     int
		headers   []string // "Name: value"
		kind      BodyKind
		length    int64
		keepAlive bool
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, []string{"Host: a"}, BodyNone, 0, true},
		{"POST content-length", "POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", "POST", "/p?q=1", 1,
			[]string{"Host: a", "Content-Length: 5"}, BodyContentLength, 5, true},
		{"content-length zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST", "/", 1,
			[]string{"Host: a", "Content-Length: 0"}, BodyNone, 0, true},
		{"repeated identical content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\n", "POST", "/", 1,
			[]string{"Host: a", "Content-Length: 3", "Content-Length: 003"}, BodyContentLength, 3, true},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/", 1,
			[]string{"Host: a", "Transfer-Encoding: chunked"}, BodyChunked, -1, true},
		{"Chunked in another case with empty list elements", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n", "POST", "/", 1,
			[]string{"Host: a", "Transfer-Encoding: , CHUNKED ,"}, BodyChunked, -1, true},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, nil, BodyNone, 0, false},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0,
			[]string{"Connection: Keep-Alive"}, BodyNone, 0, true},
		{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", "GET", "/", 1,
			[]string{"Host: a", "Connection: foo, close"}, BodyNone, 0, false},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, []string{"Host: a"}, BodyNone, 0, true},
		{"OWS trimmed, empty value, obs-text", "GET / HTTP/1.1\r\nHost:a\r\nX-Empty:\r\nX-T: \t v \xff\t \r\n\r\n", "GET", "/", 1,
			[]string{"Host: a", "X-Empty: ", "X-T: v \xff"}, BodyNone, 0, true},
		{"absolute form", "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", "GET", "http://a.example/x", 1,
			[]string{"Host: a.example"}, BodyNone, 0, true},
		{"authority form", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "CONNECT", "a.example:443", 1,
			[]string{"Host: a.example:443"}, BodyNone, 0, true},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "OPTIONS", "*", 1,
			[]string{"Host: [::1]:80"}, BodyNone, 0, true},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 1, []string{"Host: "}, BodyNone, 0, true},
		{"token method", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH", "/", 1, []string{"Host: a"}, BodyNone, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequestHead([]byte(tt.in+"rest"), &r, nil)
			if err != nil || n != len(tt.in) {
				t.Fatalf("ParseRequestHead = %d, %v; want %d, nil", n, err, len(tt.in))
			}
			if string(r.Method) != tt.method || string(r.Target) != tt.target || r.ProtoMinor != tt.minor {
				t.Errorf("request line = %q %q 1.%d", r.Method, r.Target, r.ProtoMinor)
			}
			if got := fieldStrings(r.Headers()); strings.Join(got, "|") != strings.Join(tt.headers, "|") {
				t.Errorf("headers = %q, want %q", got, tt.headers)
			}
			if kind, length := r.BodyKind(); kind != tt.kind || length != tt.length {
				t.Errorf("BodyKind = %v, %d; want %v, %d", kind, length, tt.kind, tt.length)
			}
			if r.KeepAlive() != tt.keepAlive {
				t.Errorf("KeepAlive = %v", r.KeepAlive())
			}
			for i := range len(tt.in) {
				if n, err := ParseRequestHead([]byte(tt.in[:i]), &r, nil); n != 0 || err != codecs.ErrNeedMore {
					t.Fatalf("prefix of %d: %d, %v", i, n, err)
				}
			}
		})
	}
}

func fieldStrings(hs []Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, string(h.Name)+": "+string(h.Value))
	}
	return out
}

// TestParseRequestHeadErrors covers every rejection, the request
// smuggling vectors first.
func TestParseRequestHeadErrors(t *testing.T) {
	const get = "GET / HTTP/1.1\r\n"
	const post = "POST / HTTP/1.1\r\nHost: a\r\n"
	small := &Limits{MaxHeaderBytes: 64, MaxHeaders: 2, MaxLineBytes: 24, MaxBodyBytes: 100}
	tests := []struct {
		name   string
		in     string
		lim    *Limits
		err    error
		status int
	}{
		{"CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", nil, ErrContentLengthWithTransferEncoding, 400},
		{"TE and CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", nil, ErrContentLengthWithTransferEncoding, 400},
		{"CL differing values", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", nil, ErrConflictingContentLength, 400},
		{"CL list", post + "Content-Length: 5, 5\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL non-digit", post + "Content-Length: 5a\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL hex", post + "Content-Length: 0x5\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL plus sign", post + "Content-Length: +5\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL minus sign", post + "Content-Length: -1\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL inner space", post + "Content-Length: 1 2\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL empty", post + "Content-Length: \r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL overflow", post + "Content-Length: 9223372036854775808\r\n\r\n", nil, ErrInvalidContentLength, 400},
		{"CL above MaxBodyBytes", "POST / HTTP/1.0\r\nContent-Length: 101\r\n\r\n", small, ErrBodyTooLarge, 413},
		{"TE unknown coding", post + "Transfer-Encoding: gzip\r\n\r\n", nil, ErrChunkedNotFinal, 400},
		{"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", nil, ErrChunkedNotFinal, 400},
		{"TE chunked then identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", nil, ErrChunkedNotFinal, 400},
		{"TE chunked then identity on two lines", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", nil, ErrChunkedNotFinal, 400},
		{"TE chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", nil, ErrChunkedTwice, 400},
		{"TE empty", post + "Transfer-Encoding: \r\n\r\n", nil, ErrChunkedNotFinal, 400},
		{"TE vertical tab", post + "Transfer-Encoding: chunked\x0b\r\n\r\n", nil, ErrInvalidFieldValue, 400},
		{"TE parameter", post + "Transfer-Encoding: chunked;q=1\r\n\r\n", nil, ErrInvalidTransferCoding, 400},
		{"TE quoted", post + "Transfer-Encoding: \"chunked\"\r\n\r\n", nil, ErrInvalidTransferCoding, 400},
		{"TE gzip then chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", nil, ErrUnsupportedTransferCoding, 501},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", nil, ErrTransferEncodingHTTP10, 400},
		{"obs-fold", get + "Host: a\r\nX: a\r\n b\r\n\r\n", nil, ErrObsFold, 400},
		{"obs-fold with tab", get + "Host: a\r\nX: a\r\n\tb\r\n\r\n", nil, ErrObsFold, 400},
		{"space before first field", get + " Host: a\r\n\r\n", nil, ErrObsFold, 400},
		{"NUL in value", get + "Host: a\r\nX: a\x00b\r\n\r\n", nil, ErrInvalidFieldValue, 400},
		{"CR in value", get + "Host: a\r\nX: a\rb\r\n\r\n", nil, ErrInvalidFieldValue, 400},
		{"DEL in value", get + "Host: a\r\nX: a\x7fb\r\n\r\n", nil, ErrInvalidFieldValue, 400},
		{"NUL in name", get + "Host: a\r\nX\x00Y: a\r\n\r\n", nil, ErrInvalidFieldName, 400},
		{"CR in name", get + "Host: a\r\nX\rY: a\r\n\r\n", nil, ErrInvalidFieldName, 400},
		{"space in name", get + "Host: a\r\nX Y: a\r\n\r\n", nil, ErrInvalidFieldName, 400},
		{"empty name", get + "Host: a\r\n: a\r\n\r\n", nil, ErrInvalidFieldName, 400},
		{"space before colon", get + "Host: a\r\nContent-Length : 5\r\n\r\n", nil, ErrSpaceBeforeColon, 400},
		{"tab before colon", get + "Host: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", nil, ErrSpaceBeforeColon, 400},
		{"missing colon", get + "Host: a\r\nX-Foo\r\n\r\n", nil, ErrMissingColon, 400},
		{"missing Host", get + "X: a\r\n\r\n", nil, ErrMissingHost, 400},
		{"two Hosts", get + "Host: a\r\nHost: b\r\n\r\n", nil, ErrDuplicateHost, 400},
		{"two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", nil, ErrDuplicateHost, 400},
		{"Host with space", get + "Host: a b\r\n\r\n", nil, ErrInvalidHost, 400},
		{"Host with slash", get + "Host: a/b\r\n\r\n", nil, ErrInvalidHost, 400},
		{"Host with at sign", get + "Host: u@a\r\n\r\n", nil, ErrInvalidHost, 400},
		{"bare LF ending request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", nil, ErrBareLF, 400},
		{"bare LF ending field", get + "Host: a\nX: b\r\n\r\n", nil, ErrBareLF, 400},
		{"bare LF ending head", get + "Host: a\r\n\n", nil, ErrBareLF, 400},
		{"bare LF before request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrBareLF, 400},
		{"bare CR before request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrBareCR, 400},
		{"method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidMethod, 400},
		{"method with NUL", "G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidMethod, 400},
		{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidMethod, 400},
		{"two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidVersion, 400},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"non-ASCII target", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"CONNECT with path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidTarget, 400},
		{"missing version", "GET /\r\nHost: a\r\n\r\n", nil, ErrInvalidRequestLine, 400},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", nil, ErrInvalidVersion, 400},
		{"version with trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", nil, ErrInvalidVersion, 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", nil, ErrVersionNotSupported, 505},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", nil, ErrVersionNotSupported, 505},
		{"request line too long", "GET /" + strings.Repeat("a", 20) + " HTTP/1.1\r\n", small, ErrURITooLong, 414},
		{"request line too long, incomplete", "GET /" + strings.Repeat("a", 30), small, ErrURITooLong, 414},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 40) + "\r\n\r\n", small, ErrHeaderTooLarge, 431},
		{"head too large, incomplete", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 40), small, ErrHeaderTooLarge, 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", small, ErrTooManyHeaders, 431},
		{"too many empty lines", strings.Repeat("\r\n", 40), small, ErrHeaderTooLarge, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequestHead([]byte(tt.in), &r, tt.lim)
			if n != 0 || err != tt.err {
				t.Fatalf("ParseRequestHead = %d, %v; want %v", n, err, tt.err)
			}
			if got := StatusFor(err); got != tt.status {
				t.Errorf("StatusFor = %d, want %d", got, tt.status)
			}
			if r.Method != nil || len(r.Headers()) != 0 {
				t.Errorf("Request not reset after an error")
			}
			for i := range len(tt.in) {
				_, perr := ParseRequestHead([]byte(tt.in[:i]), &r, tt.lim)
				if perr != codecs.ErrNeedMore && perr != tt.err {
					t.Fatalf("prefix of %d: %v", i, perr)
				}
			}
		})
	}
}

func TestRequestHelpers(t *testing.T) {
	in := "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Expect: 100-Continue\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
	var r Request
	if _, err := ParseRequestHead([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Header("X-DUP"); !ok || string(v) != "1" {
		t.Errorf("Header(X-DUP) = %q, %v", v, ok)
	}
	if _, ok := r.Header("X-Missing"); ok {
		t.Error("Header(X-Missing) found")
	}
	if v, ok := r.Upgrade(); !ok || string(v) != "websocket" {
		t.Errorf("Upgrade = %q, %v", v, ok)
	}
	if !r.Expect100() {
		t.Error("Expect100 = false")
	}
	in = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
	if _, err := ParseRequestHead([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Upgrade(); ok || r.Expect100() {
		t.Error("Upgrade without Connection: upgrade, or Expect100 kept from the last request")
	}
}

// TestManyHeaders spills past the fixed header array and reuses the spill.
func TestManyHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := range 60 {
		b.WriteString("X-" + strings.Repeat("h", i) + ": v\r\n")
	}
	b.WriteString("\r\n")
	var r Request
	for range 2 {
		if _, err := ParseRequestHead([]byte(b.String()), &r, nil); err != nil {
			t.Fatal(err)
		}
		if len(r.Headers()) != 61 || string(r.Headers()[60].Name) != "X-"+strings.Repeat("h", 59) {
			t.Fatalf("got %d headers", len(r.Headers()))
		}
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{codecs.ErrNeedMore, 0},
		{ErrBodyDone, 0},
		{ErrMalformed, 400},
		{ErrObsFold, 400},
		{ErrHeaderTooLarge, 431},
		{ErrTooManyHeaders, 431},
		{ErrURITooLong, 414},
		{ErrBodyTooLarge, 413},
		{ErrUnsupportedTransferCoding, 501},
		{ErrVersionNotSupported, 505},
		{errors.New("other"), 500},
	}
	for _, tt := range tests {
		if got := StatusFor(tt.err); got != tt.want {
			t.Errorf("StatusFor(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if !errors.Is(ErrBodyTooLarge, codecs.ErrTooLarge) || !errors.Is(ErrHeaderTooLarge, codecs.ErrTooLarge) {
		t.Error("size errors do not wrap codecs.ErrTooLarge")
	}
}
