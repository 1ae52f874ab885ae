package http1

import (
	"strings"
	"testing"
)

// browserGET is a typical browser request head: about 500 bytes, 10
// fields.
const browserGET = "GET /articles/2024/http-parsing?ref=home&page=2 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Sec-Fetch-Dest: document\r\n\r\n"

const typicalResponse = "HTTP/1.1 200 OK\r\nDate: Mon, 23 Nov 2026 00:14:02 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 5120\r\nCache-Control: max-age=60\r\nETag: \"5e1-af3\"\r\nVary: Accept-Encoding\r\n\r\n"

// chunkedBody is 64 KiB in 4 KiB chunks.
var chunkedBody = func() []byte {
	var b []byte
	for range 16 {
		b = AppendChunk(b, []byte(strings.Repeat("x", 4096)))
	}
	return AppendLastChunk(b)
}()

func BenchmarkParseRequestHead(b *testing.B) {
	in := []byte(browserGET)
	var r Request
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequestHead(in, &r, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponseHead(b *testing.B) {
	in := []byte(typicalResponse)
	var r Response
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponseHead(in, &r, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkedDecode decodes a 64 KiB body that arrives in 16 KiB
// reads.
func BenchmarkChunkedDecode(b *testing.B) {
	var d ChunkedDecoder
	b.SetBytes(int64(len(chunkedBody)))
	b.ReportAllocs()
	for b.Loop() {
		decodeBody(b, &d, chunkedBody, 16<<10)
	}
}

func decodeBody(tb testing.TB, d *ChunkedDecoder, body []byte, read int) {
	d.Reset(nil)
	start, end := 0, 0
	for {
		_, n, err := d.Decode(body[start:end])
		start += n
		switch err {
		case nil:
		case ErrBodyDone:
			return
		default:
			if end == len(body) {
				tb.Fatal(err)
			}
			end = min(end+read, len(body))
		}
	}
}

func BenchmarkAppendProxyRequestHead(b *testing.B) {
	var r Request
	if _, err := ParseRequestHead([]byte(browserGET), &r, nil); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendProxyRequestHead(dst[:0], &r)
	}
}
