package resp

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/penstock-proxy/penstock/codecs"
)

// fuzzLimits are small enough for a fuzzer to reach every limit, and let
// values nest past the Scanner's fixed levels.
var fuzzLimits = Limits{MaxBulk: 100, MaxArgs: 8, MaxInline: 100, MaxDepth: DefaultMaxDepth + 8}

// FuzzDecodeCommand checks that DecodeCommand never panics, that n stays
// within the input, that the result does not depend on how much input
// arrived, and that the arguments are what the request encodes.
func FuzzDecodeCommand(f *testing.F) {
	for _, seed := range []string{
		"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n",
		"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", "*0\r\n", "*-1\r\n", "*1\r\n:1\r\n", "*1\r\n$-1\r\n",
		"PING\r\n", "SET k \"a \\x41\\n\" 'it\\'s'\n", "a\"b c\"d\r\n", "SET \"a\"b\r\n", "\r\n", "ECHO a\x00\r\n",
		"*99999999999999999999\r\n", "*1\r\n$101\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := Command{Limits: fuzzLimits}
		part := Command{Limits: fuzzLimits}
		n, err := DecodeCommand(data, &whole)
		switch {
		case err == nil && (n <= 0 || n > len(data)):
			t.Fatalf("n = %d for %d bytes", n, len(data))
		case err != nil && err != codecs.ErrNeedMore && !errors.Is(err, ErrProtocol):
			t.Fatalf("error %v is not a protocol error", err)
		case err == codecs.ErrNeedMore && len(data) > 0 && data[0] != '*' && len(data) > fuzzLimits.MaxInline+1:
			t.Fatalf("inline request needs more after %d bytes", len(data))
		}
		if err == nil {
			checkArgs(t, data[:n], &whole)
		}
		resumed := Command{Limits: fuzzLimits}
		for k := range len(data) {
			// Decode resumes from one prefix to the next; when it needs
			// more, Need (which sizes a proxy's buffer) stays within the
			// request.
			if _, rerr := resumed.Decode(data[:k]); rerr == codecs.ErrNeedMore && err == nil && resumed.Need() > n {
				t.Fatalf("after %d bytes Need = %d, past the request's %d", k, resumed.Need(), n)
			}
			m, perr := DecodeCommand(data[:k], &part)
			switch {
			case perr == codecs.ErrNeedMore:
			case perr != err || m != n:
				t.Fatalf("prefix of %d/%d bytes: %d, %v; whole input: %d, %v", k, len(data), m, perr, n, err)
			case err == nil && quoteArgs(part.Args()) != quoteArgs(whole.Args()):
				t.Fatalf("prefix of %d/%d bytes: %q; whole input: %q", k, len(data), part.Args(), whole.Args())
			}
		}
	})
}

// FuzzDecodeInPieces checks that Command.Decode, fed a pipeline in reads
// of sizes the fuzzer chooses, the unconsumed bytes moving to a new buffer
// before the reads it chooses, yields the same requests and then the same
// error as DecodeCommand on the whole input, and that the bytes it
// examines grow linearly with the input and the reads.
func FuzzDecodeInPieces(f *testing.F) {
	for _, seed := range []struct{ data, cuts string }{
		{"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n", "\x00"},
		{"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n", "\x45\x02\x0a"},
		{"PING\r\nSET k \"a \\x41\\n\" 'it\\'s'\n*0\r\n\r\n*-1\r\n", "\x43\x01"},
		{"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n*1\r\n:1\r\n", "\x03"},
		{"*9\r\n" + strings.Repeat("$1\r\nk\r\n", 9), "\x41"},
		{"*2\r\n$3\r\nGET\r\n$90\r\n" + strings.Repeat("v", 90) + "\r\n", "\x07\x40"},
		{"ECHO " + strings.Repeat("x", 120) + "\r\n", "\x05"},
		{"ECHO a\x00\r\n", "\x01"},
	} {
		f.Add([]byte(seed.data), []byte(seed.cuts))
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var want []string
		var wantErr error
		whole := Command{Limits: fuzzLimits}
		for rest := data; len(rest) > 0; {
			n, err := DecodeCommand(rest, &whole)
			if err != nil {
				wantErr = err
				break
			}
			want = append(want, quoteArgs(whole.Args()))
			rest = rest[n:]
		}
		part := Command{Limits: fuzzLimits}
		got, calls, err := feedReads(&part, data, func(read int) (int, bool) {
			if len(cuts) == 0 {
				return 1, false
			}
			c := cuts[read%len(cuts)]
			return int(c&0x3f) + 1, c&0x40 != 0
		})
		if err != wantErr || !slices.Equal(got, want) {
			t.Fatalf("in pieces: %q, %v; whole: %q, %v", got, err, want, wantErr)
		}
		if limit := 4*len(data) + 48*calls; part.scanned > limit {
			t.Fatalf("%d bytes in %d calls: %d bytes examined, over %d", len(data), calls, part.scanned, limit)
		}
	})
}

// checkArgs checks the arguments decoded from the request raw: an array
// request re-encodes to itself and scans as one value; an inline request's
// words come from raw or, when quoted, from the Command, and re-encode to a
// request that decodes to the same words.
func checkArgs(t *testing.T, raw []byte, cmd *Command) {
	args := cmd.Args()
	if len(args) > fuzzLimits.MaxArgs {
		t.Fatalf("%d arguments", len(args))
	}
	if raw[0] == '*' {
		if len(args) > 0 && !bytes.Equal(AppendCommand(nil, args...), raw) {
			t.Fatalf("%q re-encodes as %q", raw, AppendCommand(nil, args...))
		}
		if n, err := ScanValue(raw, &fuzzLimits); len(args) > 0 && (err != nil || n != len(raw)) {
			t.Fatalf("ScanValue(%q) = %d, %v", raw, n, err)
		}
		return
	}
	for _, arg := range args {
		if len(arg) > 0 && !within(arg, raw) && !within(arg, cmd.scratch) {
			t.Fatalf("argument %q points outside the request and the Command", arg)
		}
	}
	var again Command
	wire := AppendCommand(nil, args...)
	if _, err := DecodeCommand(wire, &again); err != nil || quoteArgs(again.Args()) != quoteArgs(args) {
		t.Fatalf("%q re-encoded as %q decodes to %q, %v", raw, wire, again.Args(), err)
	}
}

// within reports whether b lies inside the array of buf.
func within(b, buf []byte) bool {
	if cap(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf[:cap(buf)])))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(cap(buf))
}

// FuzzScanValue checks that ScanValue never panics, that n stays within the
// input, that the result does not depend on how much input arrived, that a
// Scanner fed in pieces agrees, and that the Read functions agree on the
// length of what they read.
func FuzzScanValue(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR x\r\n", ":-12\r\n", "$5\r\nhello\r\n", "$-1\r\n", "*-1\r\n", "*2\r\n*1\r\n:1\r\n$-1\r\n",
		hello3Reply, attribReply, pushReply, verbatimReply, mapReply, "_\r\n", "#t\r\n", ",-1.5e+3\r\n", ",nan\r\n",
		"(12345678901234567890123\r\n", "!3\r\nERR\r\n", "~2\r\n+a\r\n+b\r\n", "|0\r\n:1\r\n", "*1\r\n*1\r\n*1\r\n:1\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ScanValue(data, &fuzzLimits)
		switch {
		case err == nil && (n <= 0 || n > len(data)):
			t.Fatalf("n = %d for %d bytes", n, len(data))
		case err != nil && err != codecs.ErrNeedMore && !errors.Is(err, ErrProtocol):
			t.Fatalf("error %v is not a protocol error", err)
		}
		for k := range len(data) {
			if m, perr := ScanValue(data[:k], &fuzzLimits); perr != codecs.ErrNeedMore && (perr != err || m != n) {
				t.Fatalf("prefix of %d/%d bytes: %d, %v; whole input: %d, %v", k, len(data), m, perr, n, err)
			}
		}
		for _, chunk := range []int{1, 3} {
			s := Scanner{Limits: fuzzLimits}
			var buf []byte
			m, serr := 0, codecs.ErrNeedMore
			for off := 0; off < len(data) && serr == codecs.ErrNeedMore; off += chunk {
				buf = append(append([]byte(nil), buf...), data[off:min(off+chunk, len(data))]...)
				m, serr = s.Scan(buf)
				if need := s.Need(); serr == codecs.ErrNeedMore && err == nil && need > n {
					// Need sizes a proxy's buffer: never past the value.
					t.Fatalf("after %d bytes Need = %d, past the value's %d", len(buf), need, n)
				}
			}
			if m != n || serr != err {
				t.Fatalf("Scanner in %d-byte pieces: %d, %v; ScanValue: %d, %v", chunk, m, serr, n, err)
			}
		}
		checkReaders(t, data)
	})
}

// checkReaders checks that a Read function that succeeds reads a whole
// value as ScanValue delimits it, or an array header.
func checkReaders(t *testing.T, data []byte) {
	n, err := ScanValue(data, nil)
	if _, m, rerr := ReadInteger(data); rerr == nil && (err != nil || m != n) {
		t.Fatalf("ReadInteger reads %d bytes; ScanValue: %d, %v", m, n, err)
	}
	if _, _, m, rerr := ReadBulk(data); rerr == nil && (err != nil || m != n) {
		t.Fatalf("ReadBulk reads %d bytes; ScanValue: %d, %v", m, n, err)
	}
	count, null, m, rerr := ReadArrayHeader(data)
	if rerr != nil {
		return
	}
	for range count {
		k, err := ScanValue(data[m:], nil)
		if err != nil {
			return // the elements are incomplete or malformed
		}
		m += k
	}
	if err == nil && m != n || err != nil && (null || count == 0) {
		t.Fatalf("ReadArrayHeader and its %d elements take %d bytes; ScanValue: %d, %v", count, m, n, err)
	}
}
