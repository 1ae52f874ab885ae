package http1

import (
	"bytes"
	"errors"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func FuzzParseRequestHead(f *testing.F) {
	f.Add([]byte(pipelined))
	f.Add([]byte(browserGET))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("\r\nGET * HTTP/1.0\r\nX: a\r\n b\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Foo\r\nClose: 1\r\nX-Foo: 2\r\nKeep-Alive: 3\r\nTE: 4\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive, Content-Length, Host\r\n\r\nabc"))
	lim := &Limits{MaxHeaderBytes: 1024, MaxHeaders: 16, MaxLineBytes: 256}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 2048 {
			return
		}
		var r Request
		n, err := ParseRequestHead(in, &r, lim)
		if n < 0 || n > len(in) || (err != nil) != (n == 0) {
			t.Fatalf("ParseRequestHead = %d, %v for %d bytes", n, err, len(in))
		}
		if err != nil && !errors.Is(err, codecs.ErrNeedMore) && StatusFor(err) < 400 {
			t.Fatalf("error %v maps to status %d", err, StatusFor(err))
		}
		var p Request
		checkPrefixes(t, in, n, err, func(b []byte) (int, error) { return ParseRequestHead(b, &p, lim) })
		if err != nil {
			return
		}
		checkHopByHop(t, &r.head, "close", "x-foo")
		// A parsed head encodes to one that parses the same.
		enc := AppendRequestHead(nil, &r)
		var again Request
		if _, err := ParseRequestHead(enc, &again, nil); err != nil {
			t.Fatalf("re-parse of %q: %v", enc, err)
		}
		if !bytes.Equal(again.Method, r.Method) || !bytes.Equal(again.Target, r.Target) || len(again.Headers()) != len(r.Headers()) {
			t.Fatalf("re-parse of %q differs", enc)
		}
		k1, l1 := r.BodyKind()
		k2, l2 := again.BodyKind()
		if k1 != k2 || l1 != l2 {
			t.Fatalf("re-parse changed framing")
		}
	})
}

func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\nT: 1\r\n\r\n"), uint8(1))
	f.Add([]byte("a;x=y\r\n0123456789\r\n0\r\n\r\nGET"), uint8(3))
	f.Add([]byte("7fffffffffffffff\r\n"), uint8(2))
	lim := &Limits{MaxHeaderBytes: 256, MaxHeaders: 8, MaxLineBytes: 64, MaxBodyBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole, _, wholeRest, wholeErr := decodeAll(string(in), len(in)+1, lim)
		pieces, _, piecesRest, piecesErr := decodeAll(string(in), int(step%16)+1, lim)
		if wholeErr != piecesErr || whole != pieces || wholeRest != piecesRest {
			t.Fatalf("whole: %q %q %v; in pieces of %d: %q %q %v", whole, wholeRest, wholeErr, step%16+1, pieces, piecesRest, piecesErr)
		}
		if len(whole) > len(in) {
			t.Fatalf("%d bytes of data from %d of input", len(whole), len(in))
		}
		if wholeErr != nil {
			return
		}
		// The body re-encoded decodes to the same data.
		enc := AppendLastChunk(AppendChunk(nil, []byte(whole)))
		again, _, rest, err := decodeAll(string(enc), 7, lim)
		if err != nil || again != whole || rest != "" {
			t.Fatalf("re-encoded: %q, %q, %v", again, rest, err)
		}
	})
}

func FuzzParseResponseHead(f *testing.F) {
	f.Add([]byte(typicalResponse))
	f.Add([]byte("HTTP/1.1 204 No Content\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\tfine\x80\r\nX: a\tb\x7fc\r\n\r\n"))
	lim := &Limits{MaxHeaderBytes: 1024, MaxHeaders: 16, MaxLineBytes: 256}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 2048 {
			return
		}
		var r Response
		n, err := ParseResponseHead(in, &r, lim)
		if n < 0 || n > len(in) || (err != nil) != (n == 0) {
			t.Fatalf("ParseResponseHead = %d, %v for %d bytes", n, err, len(in))
		}
		var p Response
		checkPrefixes(t, in, n, err, func(b []byte) (int, error) { return ParseResponseHead(b, &p, lim) })
		if err != nil {
			return
		}
		if r.StatusCode < 100 || r.StatusCode > 999 {
			t.Fatalf("status %d", r.StatusCode)
		}
		checkHopByHop(t, &r.head, "close", "x-a")
		// A parsed head encodes to one that parses the same.
		enc := AppendResponseHead(nil, r.StatusCode, string(r.Reason), r.Headers()...)
		var again Response
		if _, err := ParseResponseHead(enc, &again, nil); err != nil {
			t.Fatalf("re-parse of %q: %v", enc, err)
		}
		if again.StatusCode != r.StatusCode || !bytes.Equal(again.Reason, r.Reason) || len(again.Headers()) != len(r.Headers()) {
			t.Fatalf("re-parse of %q differs", enc)
		}
		for i, h := range r.Headers() {
			g := again.Headers()[i]
			if !bytes.Equal(g.Name, h.Name) || !bytes.Equal(g.Value, h.Value) {
				t.Fatalf("field %d: %q: %q became %q: %q", i, h.Name, h.Value, g.Name, g.Value)
			}
		}
	})
}

// checkPrefixes asserts that every prefix of in needs more bytes or fails
// as the whole did: parse of the whole gave n, err.
func checkPrefixes(t *testing.T, in []byte, n int, err error, parse func([]byte) (int, error)) {
	t.Helper()
	for i := range len(in) {
		m, perr := parse(in[:i])
		switch {
		case err == nil && i >= n && (m != n || perr != nil):
			t.Fatalf("prefix %d of a %d-byte head: %d, %v", i, n, m, perr)
		case err == nil && i < n && perr != codecs.ErrNeedMore:
			t.Fatalf("prefix %d of a %d-byte head: %d, %v", i, n, m, perr)
		case err != nil && perr != codecs.ErrNeedMore && perr != err:
			t.Fatalf("prefix %d: %v, whole: %v", i, perr, err)
		}
	}
}

// checkHopByHop asserts that a head's own hop-by-hop test agrees with the
// general one for each of its field names and the extra names.
func checkHopByHop(t *testing.T, m *head, extra ...string) {
	t.Helper()
	names := make([][]byte, 0, len(m.Headers())+len(extra))
	for _, h := range m.Headers() {
		names = append(names, h.Name)
	}
	for _, e := range extra {
		names = append(names, []byte(e))
	}
	for _, name := range names {
		if got, want := m.IsHopByHop(name), IsHopByHop(name, m.Headers()); got != want {
			t.Fatalf("IsHopByHop(%q) = %v, the general test says %v", name, got, want)
		}
	}
	for _, name := range []string{"Content-Length", "host"} {
		if m.IsHopByHop([]byte(name)) {
			t.Fatalf("%s is hop-by-hop: a Connection field may not make it so", name)
		}
	}
}

// FuzzHeadMayParse checks the promise that lets a server skip parses: a
// head fed in pieces and parsed only when HeadScan.MayParse says so gets the
// same answer, at the same or a later piece, as one parsed after every
// piece; a skipped parse would only ever have said ErrNeedMore or found a
// fault that the next completed line reports as well.
func FuzzHeadMayParse(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nbody",
		"GET / HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\nX: y\n\n",
		"G\x00T / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1), false)
		f.Add([]byte(s), uint8(7), true)
	}
	lim := &Limits{MaxLineBytes: 32, MaxHeaderBytes: 96, MaxHeaders: 4}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, response bool) {
		parse := func(in []byte) (int, error) {
			if response {
				var r Response
				return ParseResponseHead(in, &r, lim)
			}
			var r Request
			return ParseRequestHead(in, &r, lim)
		}
		step := int(cut%9) + 1
		type answer struct {
			at  int // bytes fed when it came
			n   int
			err error
		}
		run := func(lazy bool) answer {
			var scan HeadScan
			for end := min(step, len(data)); ; end = min(end+step, len(data)) {
				in := data[:end]
				if !lazy || scan.MayParse(in, lim) {
					n, err := parse(in)
					if err != codecs.ErrNeedMore {
						return answer{end, n, err}
					}
				}
				if end == len(data) {
					return answer{end, 0, codecs.ErrNeedMore}
				}
			}
		}
		eager, lazy := run(false), run(true)
		switch {
		case lazy.err == codecs.ErrNeedMore:
			// Skipped to the end: the eager parse found no head either
			// (a fault in a line still incomplete is all it may see).
			if eager.err != codecs.ErrNeedMore {
				t.Fatalf("eager answered %d %v at %d; lazy never did", eager.n, eager.err, eager.at)
			}
		case lazy.at < eager.at:
			t.Fatalf("lazy answered at %d, before eager at %d", lazy.at, eager.at)
		case (lazy.err == nil) != (eager.err == nil) || lazy.n != eager.n:
			t.Fatalf("lazy %d %v at %d, eager %d %v at %d", lazy.n, lazy.err, lazy.at, eager.n, eager.err, eager.at)
		case lazy.err != nil && StatusFor(lazy.err) != StatusFor(eager.err):
			t.Fatalf("lazy fault %v (%d), eager %v (%d)", lazy.err, StatusFor(lazy.err), eager.err, StatusFor(eager.err))
		}
	})
}
