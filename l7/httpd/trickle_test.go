package httpd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs/http1"
	"github.com/penstock-proxy/penstock/transport"
)

// A request head that arrives a byte per read is parsed about once per
// line, not once per read: a client trickling a large head cannot make
// the loop scan it from its start thousands of times. Before, a 60-line
// head of ~3 KB sent a byte at a time was parsed ~3,000 times.
func TestTrickledHeadParsedPerLine(t *testing.T) {
	var head strings.Builder
	head.WriteString("GET /trickle HTTP/1.1\r\nHost: a\r\n")
	const fields = 60
	for i := range fields {
		fmt.Fprintf(&head, "X-Field-%02d: %s\r\n", i, strings.Repeat("v", 32))
	}
	head.WriteString("\r\n")
	in := []byte(head.String())

	parses := 0
	parseRequestHead = func(in []byte, r *http1.Request, lim *http1.Limits) (int, error) {
		parses++
		return http1.ParseRequestHead(in, r, lim)
	}
	defer func() { parseRequestHead = http1.ParseRequestHead }()

	var got string
	srv := &Server{Logger: quietLogger, Handler: HandlerFunc(func(x *Exchange) {
		got = string(x.Req.Path)
		_ = x.Respond(200, nil)
	})}
	st := &fuzzStream{fakeStream: fakeStream{loop: transport.NewSerialLoop()}}
	srv.Accept(st)
	for i := range in {
		st.pending = append(st.pending, in[i])
		st.deliver()
	}
	if got != "/trickle" {
		t.Fatalf("request not served (path %q); output %q", got, st.out.Bytes())
	}
	if !bytes.HasPrefix(st.out.Bytes(), []byte("HTTP/1.1 200 ")) {
		t.Fatalf("output %q", st.out.Bytes())
	}
	// A parse at each CR and LF of its lines at most.
	if limit := 2 * (fields + 3); parses > limit {
		t.Fatalf("%d parses for a head of %d bytes in %d lines, want at most %d", parses, len(in), fields+3, limit)
	}
}
