package http1

import (
	"errors"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// decodeAll feeds in to a fresh decoder in pieces of at most step bytes,
// keeping unconsumed bytes as a connection's buffer does, and returns the
// body, the trailers as "Name: value" strings, the bytes after the body
// and the final error (nil once the body is done).
func decodeAll(in string, step int, lim *Limits) (body string, trailers []string, rest string, err error) {
	var d ChunkedDecoder
	d.Reset(lim)
	var buf []byte
	var out strings.Builder
	for fed := 0; ; {
		data, n, err := d.Decode(buf)
		out.Write(data)
		buf = buf[n:]
		switch {
		case err == ErrBodyDone:
			return out.String(), fieldStrings(d.Trailers()), string(buf) + in[fed:], nil
		case err == codecs.ErrNeedMore:
			if fed == len(in) {
				return out.String(), nil, "", err
			}
			end := min(fed+step, len(in))
			buf = append(buf, in[fed:end]...)
			fed = end
		case err != nil:
			return out.String(), nil, "", err
		}
	}
}

func TestChunkedDecoder(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		body     string
		trailers []string
	}{
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", nil},
		{"empty body", "0\r\n\r\n", "", nil},
		{"upper-case hex and leading zeros", "00A\r\n0123456789\r\n000\r\n\r\n", "0123456789", nil},
		{"extensions", "5;name=value;flag\r\nhello\r\n0 ; last=\"x y\"\r\n\r\n", "hello", nil},
		{"whitespace before extension", "5 \t;x\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"trailers", "5\r\nhello\r\n0\r\nChecksum: abc\r\nX-T:  1 \r\n\r\n", "hello", []string{"Checksum: abc", "X-T: 1"}},
		{"large chunk", "1000\r\n" + strings.Repeat("x", 4096) + "\r\n0\r\n\r\n", strings.Repeat("x", 4096), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 3, 7, len(tt.in)} {
				body, trailers, rest, err := decodeAll(tt.in+"NEXT", step, nil)
				if err != nil || body != tt.body || rest != "NEXT" ||
					strings.Join(trailers, "|") != strings.Join(tt.trailers, "|") {
					t.Fatalf("step %d: body %q, trailers %q, rest %q, err %v", step, body, trailers, rest, err)
				}
			}
		})
	}
}

func TestChunkedDecoderErrors(t *testing.T) {
	small := &Limits{MaxLineBytes: 8, MaxBodyBytes: 10, MaxHeaderBytes: 16, MaxHeaders: 1}
	tests := []struct {
		name string
		in   string
		lim  *Limits
		err  error
	}{
		{"non-hex size", "g\r\n", nil, ErrInvalidChunkSize},
		{"empty size", "\r\n", nil, ErrInvalidChunkSize},
		{"signed size", "+5\r\n", nil, ErrInvalidChunkSize},
		{"0x prefix", "0x5\r\n", nil, ErrInvalidChunkSize},
		{"space before size", " 5\r\n", nil, ErrInvalidChunkSize},
		{"trailing space without extension", "5 \r\nhello\r\n", nil, ErrInvalidChunkSize},
		{"byte after whitespace", "5 x\r\n", nil, ErrInvalidChunkSize},
		{"control byte in extension", "5;a\x00\r\n", nil, ErrInvalidChunkSize},
		{"size of 2^63", "8000000000000000\r\n", nil, ErrChunkSizeOverflow},
		{"size of 17 hex digits", "10000000000000000\r\n", nil, ErrChunkSizeOverflow},
		{"size line too long", "5;aaaaaaaaa\r\n", small, ErrChunkLineTooLong},
		{"bare LF after size", "5\nhello\r\n", nil, ErrBareLF},
		{"CR without LF after size", "5\rhello\r\n", nil, ErrBareCR},
		{"data too long", "5\r\nhello!\r\n", nil, ErrMissingChunkCRLF},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", nil, ErrMissingChunkCRLF},
		{"CR without LF after data", "5\r\nhello\rx", nil, ErrMissingChunkCRLF},
		{"body above MaxBodyBytes", "6\r\nhello!\r\n5\r\n", small, ErrBodyTooLarge},
		{"sum of sizes overflows", "7fffffffffffffff\r\n", &Limits{MaxBodyBytes: 1}, ErrBodyTooLarge},
		{"bare LF ending trailers", "0\r\nX: 1\r\n\n", nil, ErrBareLF},
		{"obs-fold in trailers", "0\r\nX: 1\r\n 2\r\n\r\n", nil, ErrObsFold},
		{"invalid trailer name", "0\r\nX Y: 1\r\n\r\n", nil, ErrInvalidFieldName},
		{"trailers too large", "0\r\nX: 12345678901234\r\n\r\n", small, ErrHeaderTooLarge},
		{"too many trailers", "0\r\nA: 1\r\nB: 2\r\n\r\n", small, ErrTooManyHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{1, len(tt.in)} {
				if _, _, _, err := decodeAll(tt.in, step, tt.lim); err != tt.err {
					t.Fatalf("step %d: err %v, want %v", step, err, tt.err)
				}
			}
			var d ChunkedDecoder
			d.Reset(tt.lim)
			in := []byte(tt.in)
			for {
				_, n, err := d.Decode(in)
				in = in[n:]
				if err == tt.err {
					break
				}
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
			}
			if _, _, err := d.Decode([]byte("0\r\n\r\n")); err != tt.err {
				t.Errorf("after the error, Decode = %v", err)
			}
			if !errors.Is(tt.err, ErrMalformed) && StatusFor(tt.err) == 400 {
				t.Errorf("%v is not a malformation", tt.err)
			}
		})
	}
}

func TestChunkedDecoderPartialData(t *testing.T) {
	var d ChunkedDecoder
	data, n, err := d.Decode([]byte("a\r\n0123"))
	if string(data) != "0123" || n != 7 || err != nil {
		t.Fatalf("Decode = %q, %d, %v", data, n, err)
	}
	data, n, err = d.Decode([]byte("456789\r"))
	if string(data) != "456789" || n != 6 || err != nil {
		t.Fatalf("Decode = %q, %d, %v", data, n, err)
	}
	data, n, err = d.Decode([]byte("\r"))
	if data != nil || n != 1 || err != codecs.ErrNeedMore {
		t.Fatalf("Decode = %q, %d, %v", data, n, err)
	}
	if d.Done() || d.Trailers() != nil {
		t.Fatal("Done before the end")
	}
	_, n, err = d.Decode([]byte("\n0\r\nX: 1\r\n"))
	if n != 4 || err != codecs.ErrNeedMore {
		t.Fatalf("Decode = %d, %v; want the trailer section left unconsumed", n, err)
	}
	_, n, err = d.Decode([]byte("X: 1\r\n\r\nGET"))
	if n != 8 || err != ErrBodyDone || !d.Done() || len(d.Trailers()) != 1 {
		t.Fatalf("Decode = %d, %v, trailers %q", n, err, fieldStrings(d.Trailers()))
	}
	if _, n, err = d.Decode([]byte("GET")); n != 0 || err != ErrBodyDone {
		t.Fatalf("Decode after the end = %d, %v", n, err)
	}
	d.Reset(nil)
	if d.Done() || d.Trailers() != nil {
		t.Fatal("Reset kept the state")
	}
}

func TestChunkedRoundTrip(t *testing.T) {
	pieces := []string{"a", "", strings.Repeat("b", 255), strings.Repeat("c", 4097), "\r\n0\r\n\r\n"}
	var enc []byte
	for _, p := range pieces {
		enc = AppendChunk(enc, []byte(p))
	}
	enc = AppendLastChunk(enc, Header{Name: []byte("Digest"), Value: []byte("sha-256=x")}, Header{Name: []byte("X"), Value: []byte("a\r\nInjected: 1")})
	body, trailers, rest, err := decodeAll(string(enc), 5, nil)
	if err != nil || body != strings.Join(pieces, "") || rest != "" {
		t.Fatalf("round trip: %v, rest %q", err, rest)
	}
	if strings.Join(trailers, "|") != "Digest: sha-256=x|X: a  Injected: 1" {
		t.Fatalf("trailers = %q", trailers)
	}
}
