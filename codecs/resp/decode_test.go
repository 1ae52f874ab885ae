package resp

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// feed decodes the requests in in as a proxy reads them from a stream:
// reads of step bytes, each call to Decode given every unconsumed byte so
// far. Every move-th read (none when move is 0) first moves the unconsumed
// bytes to a new buffer and overwrites the old one, as a stream that
// compacts its input may, so that a decoder which kept a slice of the old
// buffer instead of an offset gives wrong arguments. It returns the
// requests decoded, quoted, the calls made, and the error that stopped it:
// nil when every byte made up whole requests, codecs.ErrNeedMore when the
// input ends inside one.
func feed(cmd *Command, in []byte, step, move int) (reqs []string, calls int, err error) {
	return feedReads(cmd, in, func(read int) (int, bool) { return step, move > 0 && read%move == 0 })
}

// feedReads is feed with the size of each read, and whether to move the
// unconsumed bytes before it, chosen by next.
func feedReads(cmd *Command, in []byte, next func(read int) (size int, move bool)) (reqs []string, calls int, err error) {
	var buf []byte
	for read, off := 0, 0; off < len(in); read++ {
		size, move := next(read)
		if move {
			old := buf
			buf = append(make([]byte, 0, len(buf)+size), buf...)
			for i := range old {
				old[i] = 'X'
			}
		}
		buf = append(buf, in[off:min(off+size, len(in))]...)
		off += size
		for len(buf) > 0 {
			calls++
			n, err := cmd.Decode(buf)
			if err == codecs.ErrNeedMore {
				break
			}
			if err != nil {
				return reqs, calls, err
			}
			reqs = append(reqs, quoteArgs(cmd.Args()))
			buf = buf[n:]
		}
	}
	if len(buf) > 0 {
		return reqs, calls, codecs.ErrNeedMore
	}
	return reqs, calls, nil
}

// TestDecodeInPiecesLinear feeds an MGET of 200,000 keys (3.5 MB) in 4 KiB
// reads, as a client sends one to a proxy, and counts the bytes the decoder
// examines: they must stay within a small multiple of the request's size
// plus a header's worth per read. Decoding each read from the start of the
// request, as DecodeCommand does, examines the headers of all the request
// so far on every read: 344 MB here instead of 1.8 MB.
func TestDecodeInPiecesLinear(t *testing.T) {
	const keys = 200_000
	in := mgetRequest(keys)
	var cmd Command
	reqs, calls, err := feed(&cmd, in, 4<<10, 64)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d requests, %v", len(reqs), err)
	}
	args := cmd.Args()
	if len(args) != 1+keys || string(cmd.Name()) != "MGET" {
		t.Fatalf("%d arguments named %q", len(args), cmd.Name())
	}
	for i, key := range args[1:] {
		if string(key) != "key:"+strconv.Itoa(i) {
			t.Fatalf("argument %d is %q", 1+i, key)
		}
	}
	if limit := 2*len(in) + 32*calls; cmd.scanned > limit {
		t.Fatalf("decoding %d bytes in %d calls examined %d bytes, over %d", len(in), calls, cmd.scanned, limit)
	}
	t.Logf("%d bytes in %d calls: %d bytes examined", len(in), calls, cmd.scanned)
}

// TestDecodeInPiecesLinearInline feeds an inline request of almost
// MaxInline bytes one byte a read, as a telnet user or a slow client may,
// and counts the bytes the decoder examines: searching the whole line for
// its end on every read would examine about size^2 bytes (4 GB here).
func TestDecodeInPiecesLinearInline(t *testing.T) {
	in := []byte("ECHO " + strings.Repeat("x", DefaultMaxInline-5) + "\r\n")
	var cmd Command
	reqs, calls, err := feed(&cmd, in, 1, 4096)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d requests, %v", len(reqs), err)
	}
	if args := cmd.Args(); len(args) != 2 || len(args[1]) != DefaultMaxInline-5 {
		t.Fatalf("%d arguments", len(args))
	}
	if limit := 2*len(in) + 4*calls; cmd.scanned > limit {
		t.Fatalf("decoding %d bytes in %d calls examined %d bytes, over %d", len(in), calls, cmd.scanned, limit)
	}
	t.Logf("%d bytes in %d calls: %d bytes examined", len(in), calls, cmd.scanned)
}

// TestDecodeSplits feeds a pipeline of array and inline requests to Decode
// split into three reads at every pair of offsets, the unconsumed bytes
// moving to a new buffer on every read, and checks that it yields the
// requests DecodeCommand finds in the whole pipeline.
func TestDecodeSplits(t *testing.T) {
	pipeline := "*3\r\n$3\r\nSET\r\n$4\r\nkey1\r\n$7\r\nva\r\nlue\r\n" +
		"PING\r\n" +
		"*0\r\n" +
		string(AppendCommand(nil, slices.Repeat([][]byte{[]byte("k")}, 20)...)) +
		"SET k2 \"two words\" 'x'\n" +
		"\r\n" +
		"*-1\r\n" +
		"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n"
	var raw []string
	want := decodeAll(t, []byte(pipeline), &raw)
	for i := range len(pipeline) {
		for j := i; j < len(pipeline); j++ {
			var cmd Command
			var got []string
			var buf []byte
			for _, read := range []string{pipeline[:i], pipeline[i:j], pipeline[j:]} {
				old := buf
				buf = append(append([]byte(nil), buf...), read...)
				for k := range old {
					old[k] = 'X'
				}
				for len(buf) > 0 {
					n, err := cmd.Decode(buf)
					if err == codecs.ErrNeedMore {
						break
					}
					if err != nil {
						t.Fatalf("split at %d, %d: %v", i, j, err)
					}
					got = append(got, quoteArgs(cmd.Args()))
					buf = buf[n:]
				}
			}
			if !slices.Equal(got, want) || len(buf) != 0 {
				t.Fatalf("split at %d, %d: %q with %q left, want %q", i, j, got, buf, want)
			}
		}
	}
}

// TestDecodeInPiecesErrors feeds each malformed or oversized request of
// TestDecodeCommandErrors and TestDecodeCommandLimits to Decode one byte a
// read and checks that it fails as DecodeCommand does on the whole input.
func TestDecodeInPiecesErrors(t *testing.T) {
	tests := []struct {
		in  string
		lim Limits
	}{
		{"*1\r\n$-1\r\n", Limits{}},
		{"*1\r\n$3\r\nfooXY", Limits{}},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n", Limits{}},
		{"*2\r\n$3\r\nSET\r\n$101\r\n", Limits{MaxBulk: 100}},
		{"*31\r\n" + strings.Repeat("$1\r\na\r\n", 31), Limits{MaxArgs: 30}},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n" + strings.Repeat("v", 20) + "\r\n", Limits{MaxRequest: 40}},
		{"*2\r\n$3\r\nSET\r\n$1073741816\r\n", Limits{MaxBulk: 2 << 30}},
		{"ECHO " + strings.Repeat("x", 96) + "\r\n", Limits{MaxInline: 100}},
		{"ECHO " + strings.Repeat("x", 200), Limits{MaxInline: 100}},
		{"ECHO \"a\r\n", Limits{}},
		{"ECHO ab\x00", Limits{}},
	}
	for _, tt := range tests {
		wantN, want := DecodeCommand([]byte(tt.in), &Command{Limits: tt.lim})
		if want == nil || want == codecs.ErrNeedMore {
			t.Fatalf("DecodeCommand(%q) = %d, %v; want a protocol error", tt.in, wantN, want)
		}
		cmd := Command{Limits: tt.lim}
		reqs, _, err := feed(&cmd, []byte(tt.in), 1, 3)
		if err != want || len(reqs) != 0 {
			t.Errorf("Decode of %q in 1-byte reads: %q, %v; want %v", tt.in, reqs, err, want)
		}
		// The Command is ready for the next connection's requests.
		if n, err := cmd.Decode([]byte("*1\r\n$4\r\nPING\r\n")); n != 14 || err != nil || string(cmd.Name()) != "PING" {
			t.Errorf("Decode after the error: %d, %v, %q", n, err, cmd.Name())
		}
	}
}

// TestDecodeReset checks that Reset and DecodeCommand drop a request that
// Decode had partly decoded, and that Decode starts over by itself when it
// is given fewer bytes than it had parsed or a request of the other form.
func TestDecodeReset(t *testing.T) {
	set := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
	get := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	steps := []struct {
		name  string
		reset func(*Command)
		next  []byte
		want  string
	}{
		{"Reset", (*Command).Reset, get, `["GET" "key"]`},
		{"DecodeCommand", func(c *Command) { _, _ = DecodeCommand(get[:5], c) }, get, `["GET" "key"]`},
		{"shorter input", func(*Command) {}, []byte("*1\r\n$4\r\nPING\r\n"), `["PING"]`},
		{"inline", func(*Command) {}, []byte("GET key\r\n"), `["GET" "key"]`},
	}
	for _, st := range steps {
		var cmd Command
		if _, err := cmd.Decode(set[:30]); err != codecs.ErrNeedMore {
			t.Fatalf("%s: Decode of a prefix: %v", st.name, err)
		}
		if cmd.Args() != nil {
			t.Fatalf("%s: Args() = %q while a request is incomplete", st.name, cmd.Args())
		}
		st.reset(&cmd)
		n, err := cmd.Decode(st.next)
		if err != nil || n != len(st.next) || quoteArgs(cmd.Args()) != st.want {
			t.Errorf("%s: Decode(%q) = %d, %v, %q", st.name, st.next, n, err, cmd.Args())
		}
	}
}
