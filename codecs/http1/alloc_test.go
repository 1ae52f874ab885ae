package http1

import (
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// TestNoAllocs checks that the hot paths allocate nothing with warmed-up
// storage: parsing heads (errors included), decoding a chunked body and
// encoding.
func TestNoAllocs(t *testing.T) {
	get := []byte(browserGET)
	resp := []byte(typicalResponse)
	smuggle := []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	trailers := []byte("5\r\nhello\r\n0\r\nX: 1\r\n\r\n")
	var req Request
	var res Response
	var d ChunkedDecoder
	if _, err := ParseRequestHead(get, &req, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseResponseHead(resp, &res, nil); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	extra := []Header{{Name: []byte("Forwarded"), Value: []byte("for=192.0.2.1")}}
	tests := []struct {
		name string
		f    func()
	}{
		{"ParseRequestHead", func() { _, _ = ParseRequestHead(get, &req, nil) }},
		{"ParseRequestHead need more", func() { _, _ = ParseRequestHead(get[:300], &req, nil) }},
		{"ParseRequestHead smuggling", func() { _, _ = ParseRequestHead(smuggle, &req, nil) }},
		{"ParseResponseHead", func() { _, _ = ParseResponseHead(resp, &res, nil) }},
		{"helpers", func() {
			_, _ = req.Header("cookie")
			_ = req.KeepAlive()
			_, _ = req.BodyKind()
			_, _ = req.Upgrade()
			_, _ = res.BodyKind([]byte("GET"))
			_ = StatusFor(codecs.ErrNeedMore)
			_ = StatusFor(ErrObsFold)
		}},
		{"ChunkedDecoder.Decode", func() { decodeBody(t, &d, chunkedBody, 1000) }},
		{"ChunkedDecoder.Decode trailers", func() { decodeBody(t, &d, trailers, 3) }},
		{"encoders", func() {
			b := AppendRequestHead(dst[:0], &req)
			b = AppendResponseHead(b, 200, "OK", extra...)
			b = AppendProxyRequestHead(b, &req, extra...)
			b = AppendProxyResponseHead(b, &res, req.Method)
			b = AppendChunk(b, get[:100])
			_ = AppendLastChunk(b, extra...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f()
			if allocs := testing.AllocsPerRun(100, tt.f); allocs != 0 {
				t.Fatalf("%v allocations per run", allocs)
			}
		})
	}
}
