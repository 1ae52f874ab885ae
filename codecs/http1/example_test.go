package http1_test

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/http1"
)

// A server's read handler parses the requests a client pipelined into its
// buffer, streams each body and answers in order. What remains is the start
// of a request still in flight, kept for the next read.
func ExampleParseRequestHead() {
	buf := []byte("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
		"GET /ignored HTTP/1.1\r\n")
	var req http1.Request // one per connection, reused
	var dec http1.ChunkedDecoder
	var out []byte
	for {
		n, err := http1.ParseRequestHead(buf, &req, nil)
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			out = http1.AppendResponseHead(out, http1.StatusFor(err), "Bad Request",
				http1.Header{Name: []byte("Connection"), Value: []byte("close")})
			break
		}
		target, keepAlive := string(req.Target), req.KeepAlive()
		buf = buf[n:]
		size := 0
		switch kind, length := req.BodyKind(); kind {
		case http1.BodyContentLength:
			size = int(length) // a real server streams it as it arrives
			buf = buf[length:]
		case http1.BodyChunked:
			dec.Reset(nil)
			for {
				data, m, err := dec.Decode(buf)
				size += len(data) // hand data on here
				buf = buf[m:]
				if err != nil {
					break // ErrBodyDone, or ErrNeedMore in a real loop
				}
			}
		}
		fmt.Printf("%s: %d body bytes\n", target, size)
		body := []byte("ok")
		out = http1.AppendResponseHead(out, 200, "OK",
			http1.Header{Name: []byte("Content-Length"), Value: strconv.AppendInt(nil, int64(len(body)), 10)})
		out = append(out, body...)
		if !keepAlive {
			break
		}
	}
	fmt.Printf("%q\n", out)
	// Output:
	// /upload: 11 body bytes
	// /next: 0 body bytes
	// "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
}
