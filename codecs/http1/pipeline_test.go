package http1

import (
	"fmt"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// conn is a server connection's read side as an event loop drives it: it
// appends what each read brings and handles as many messages as the buffer
// holds, logging one line per request.
type conn struct {
	buf       []byte
	req       Request
	dec       ChunkedDecoder
	inBody    bool
	kind      BodyKind
	remaining int64
	body      []byte
	trailers  []string
	log       []string
	needMore  int
	err       error
}

func (c *conn) read(p []byte) {
	c.buf = append(c.buf, p...)
	for c.err == nil {
		if !c.inBody {
			n, err := ParseRequestHead(c.buf, &c.req, nil)
			if err == codecs.ErrNeedMore {
				c.needMore++
				return
			}
			if err != nil {
				c.err = err
				return
			}
			c.kind, c.remaining = c.req.BodyKind()
			c.log = append(c.log, fmt.Sprintf("%s %s", c.req.Method, c.req.Target))
			c.buf = c.buf[n:]
			c.inBody, c.body = true, c.body[:0]
			c.dec.Reset(nil)
		}
		switch c.kind {
		case BodyContentLength:
			k := min(c.remaining, int64(len(c.buf)))
			c.body = append(c.body, c.buf[:k]...)
			c.buf, c.remaining = c.buf[k:], c.remaining-k
			if c.remaining > 0 {
				c.needMore++
				return
			}
		case BodyChunked:
			data, n, err := c.dec.Decode(c.buf)
			c.body = append(c.body, data...)
			if err == ErrBodyDone {
				c.trailers = fieldStrings(c.dec.Trailers())
			}
			c.buf = c.buf[n:]
			switch {
			case err == codecs.ErrNeedMore:
				c.needMore++
				return
			case err == nil:
				continue
			case err != ErrBodyDone:
				c.err = err
				return
			}
		}
		c.log[len(c.log)-1] += fmt.Sprintf(" body=%q trailers=%q", c.body, c.trailers)
		c.inBody, c.trailers = false, nil
	}
}

const pipelined = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
	"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nT: 1\r\n\r\n" +
	"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"

var pipelinedLog = []string{
	`POST /a body="hello" trailers=[]`,
	`POST /b body="abcde" trailers=["T: 1"]`,
	`GET /c body="" trailers=[]`,
}

// TestPipelineSplits feeds three pipelined requests in two reads split at
// every point, and in one-byte reads.
func TestPipelineSplits(t *testing.T) {
	check := func(t *testing.T, c *conn) {
		t.Helper()
		if c.err != nil || strings.Join(c.log, "\n") != strings.Join(pipelinedLog, "\n") || len(c.buf) != 0 {
			t.Fatalf("err %v, buffered %q, log:\n%s", c.err, c.buf, strings.Join(c.log, "\n"))
		}
	}
	for split := range len(pipelined) {
		var c conn
		c.read([]byte(pipelined[:split]))
		if c.err != nil || c.needMore == 0 {
			t.Fatalf("split %d: first read: err %v, need-more %d", split, c.err, c.needMore)
		}
		c.read([]byte(pipelined[split:]))
		check(t, &c)
	}
	var c conn
	for i := range len(pipelined) {
		c.read([]byte{pipelined[i]})
	}
	check(t, &c)
}
