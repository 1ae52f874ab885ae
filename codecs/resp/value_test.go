package resp

import (
	"errors"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/stretchr/testify/require"
)

// Replies as redis-server 7 sends them, RESP3 ones after HELLO 3.
const (
	hello3Reply = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n" +
		"$2\r\nid\r\n:3\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
	attribReply = "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" +
		"$39\r\nSome real reply following the attribute\r\n"
	pushReply     = ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
	verbatimReply = "=29\r\ntxt:This is a verbatim\nstring\r\n"
	mapReply      = "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"
)

func TestScanValue(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"simple string", "+OK\r\n"},
		{"empty simple string", "+\r\n"},
		{"error", "-ERR unknown command 'FOO', with args beginning with: \r\n"},
		{"wrongtype error", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"integer", ":1000\r\n"},
		{"negative integer", ":-1\r\n"},
		{"zero", ":0\r\n"},
		{"min int64", ":-9223372036854775808\r\n"},
		{"bulk string", "$5\r\nhello\r\n"},
		{"bulk string with CRLF inside", "$4\r\n\r\n\r\n\r\n"},
		{"empty bulk string", "$0\r\n\r\n"},
		{"RESP2 null bulk", "$-1\r\n"},
		{"RESP2 null array", "*-1\r\n"},
		{"empty array", "*0\r\n"},
		{"MGET reply with a missing key", "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n"},
		{"nested arrays", "*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Foo\r\n-Bar\r\n"},
		{"EXEC reply with an error inside", "*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n"},
		{"SCAN reply", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"array ending in empty arrays", "*2\r\n*1\r\n*0\r\n*0\r\n"},
		{"HELLO 3 map", hello3Reply},
		{"RESP3 null", "_\r\n"},
		{"true", "#t\r\n"},
		{"false", "#f\r\n"},
		{"double", ",3.141\r\n"},
		{"integral double", ",10\r\n"},
		{"double with exponent", ",1.5e-05\r\n"},
		{"double with signed exponent", ",-1E+300\r\n"},
		{"infinity", ",inf\r\n"},
		{"negative infinity", ",-inf\r\n"},
		{"nan", ",nan\r\n"},
		{"big number", "(1234567999999999999999999999999999999\r\n"},
		{"negative big number", "(-3492890328409238509324850943850943825024385\r\n"},
		{"blob error", "!21\r\nSYNTAX invalid syntax\r\n"},
		{"verbatim string", verbatimReply},
		{"empty verbatim string", "=4\r\ntxt:\r\n"},
		{"map", mapReply},
		{"HGETALL map", "%1\r\n$5\r\nfield\r\n$5\r\nvalue\r\n"},
		{"empty map", "%0\r\n"},
		{"set", "~3\r\n:0\r\n:1\r\n:2\r\n"},
		{"push", pushReply},
		{"pubsub message push", ">3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$5\r\nhello\r\n"},
		{"attribute and its reply", attribReply},
		{"empty attribute", "|0\r\n:1\r\n"},
		{"attribute on an array element", "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\na\r\n:2\r\n"},
		{"attribute inside an attribute", "|1\r\n+a\r\n|1\r\n+b\r\n:1\r\n:2\r\n:3\r\n"},
		{"map of nested aggregates", "%2\r\n+first\r\n*2\r\n:1\r\n~1\r\n_\r\n$6\r\nsecond\r\n%1\r\n#t\r\n,0.5\r\n"},
		{"CLIENT TRACKING invalidate push", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n"},
		{"request in array form", "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The next reply must not be taken as part of this one.
			in := []byte(tt.value + "+NEXT\r\n")
			n, err := ScanValue(in, nil)
			if err != nil || n != len(tt.value) {
				t.Fatalf("ScanValue = %d, %v; want %d, nil", n, err, len(tt.value))
			}
			for k := range n {
				if _, err := ScanValue(in[:k], nil); err != codecs.ErrNeedMore {
					t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", k, err)
				}
			}
		})
	}
}

func TestScanValueErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
		err  error // the exact value
		kind error // the sentinel it matches
	}{
		{"unknown type byte", "@1\r\n", Limits{}, ErrInvalidType, ErrInvalidType},
		{"inline text", "OK\r\n", Limits{}, ErrInvalidType, ErrInvalidType},
		{"unknown type inside an array", "*2\r\n:1\r\nx\r\n", Limits{}, ErrInvalidType, ErrInvalidType},
		{"streamed string", "$?\r\n;4\r\nHell\r\n;0\r\n", Limits{}, ErrInvalidLength, ErrInvalidLength},
		{"bulk length not a number", "$x\r\n", Limits{}, ErrInvalidLength, ErrInvalidLength},
		{"bulk length with plus", "$+1\r\na\r\n", Limits{}, ErrInvalidLength, ErrInvalidLength},
		{"bulk length leading zero", "$01\r\na\r\n", Limits{}, ErrInvalidLength, ErrInvalidLength},
		{"array count not a number", "*1a\r\n", Limits{}, ErrInvalidLength, ErrInvalidLength},
		{"bulk length -2", "$-2\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"array count -2", "*-2\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"blob error -1", "!-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"verbatim -1", "=-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"map -1", "%-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"set -1", "~-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"push -1", ">-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"attribute -1", "|-1\r\n", Limits{}, ErrNegativeLength, ErrNegativeLength},
		{"integer with letters", ":12a\r\n", Limits{}, ErrInvalidInteger, ErrInvalidInteger},
		{"integer empty", ":\r\n", Limits{}, ErrInvalidInteger, ErrInvalidInteger},
		{"integer with plus", ":+1\r\n", Limits{}, ErrInvalidInteger, ErrInvalidInteger},
		{"integer overflow", ":9223372036854775808\r\n", Limits{}, ErrInvalidInteger, ErrInvalidInteger},
		{"integer of 20 digits", ":10000000000000000000", Limits{}, ErrInvalidInteger, ErrInvalidInteger},
		{"integer bare LF", ":1\n", Limits{}, errIntegerCRLF, ErrMissingCRLF},
		{"length bare LF", "$1\na\r\n", Limits{}, errLengthCRLF, ErrMissingCRLF},
		{"count CR without LF", "*1\r:1\r\n", Limits{}, errLengthCRLF, ErrMissingCRLF},
		{"simple string bare LF", "+OK\n", Limits{}, errLineCRLF, ErrMissingCRLF},
		{"simple string with LF inside", "+O\nK\r\n", Limits{}, errLineCRLF, ErrMissingCRLF},
		{"error with CR inside", "-ERR\rx\r\n", Limits{}, errLineCRLF, ErrMissingCRLF},
		{"bulk data too long", "$1\r\nab\r\n", Limits{}, errBulkDataCRLF, ErrMissingCRLF},
		{"bulk data CR without LF", "$1\r\na\rb", Limits{}, errBulkDataCRLF, ErrMissingCRLF},
		{"null with payload", "_x\r\n", Limits{}, errNull, ErrInvalidValue},
		{"null with CR only", "_\rx", Limits{}, errNull, ErrInvalidValue},
		{"boolean yes", "#y\r\n", Limits{}, errBoolean, ErrInvalidValue},
		{"boolean too long", "#tt\r\n", Limits{}, errBoolean, ErrInvalidValue},
		{"double empty", ",\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"double letters", ",abc\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"double trailing dot", ",1.\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"double leading dot", ",.5\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"double empty exponent", ",1e\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"double infinity spelled out", ",infinity\r\n", Limits{}, errDouble, ErrInvalidValue},
		{"big number with dot", "(1.5\r\n", Limits{}, errBigNumber, ErrInvalidValue},
		{"big number sign only", "(-\r\n", Limits{}, errBigNumber, ErrInvalidValue},
		{"verbatim too short", "=3\r\ntxt\r\n", Limits{}, errVerbatim, ErrInvalidValue},
		{"verbatim without colon", "=5\r\ntxt-x\r\n", Limits{}, errVerbatim, ErrInvalidValue},
		{"bulk over MaxBulk", "$11\r\n", Limits{MaxBulk: 10}, errBulkTooLarge, ErrTooLarge},
		{"blob error over MaxBulk", "!11\r\n", Limits{MaxBulk: 10}, errBulkTooLarge, ErrTooLarge},
		{"line over MaxInline", "+12345678901", Limits{MaxInline: 10}, errLineTooLarge, ErrTooLarge},
		{"big number over MaxInline", "(12345678901", Limits{MaxInline: 10}, errLineTooLarge, ErrTooLarge},
		{"nesting over MaxDepth", "*1\r\n*1\r\n*1\r\n", Limits{MaxDepth: 2}, ErrTooDeep, ErrTooDeep},
		{"empty array over MaxDepth", "*1\r\n*1\r\n*0\r\n", Limits{MaxDepth: 2}, ErrTooDeep, ErrTooDeep},
		{"attribute over MaxDepth", "*1\r\n|0\r\n", Limits{MaxDepth: 1}, ErrTooDeep, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ScanValue([]byte(tt.in), &tt.lim)
			if err != tt.err || n != 0 {
				t.Fatalf("ScanValue = %d, %v; want 0, %v", n, err, tt.err)
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrProtocol) {
				t.Errorf("%v does not match %v and ErrProtocol", err, tt.kind)
			}
		})
	}
}

// TestScanValueLimits checks each limit at exactly its value and one past
// it, and that deep nesting stops at MaxDepth without deep recursion.
func TestScanValueLimits(t *testing.T) {
	nested := func(depth int) string { return strings.Repeat("*1\r\n", depth) + ":1\r\n" }
	tests := []struct {
		name string
		lim  Limits
		in   string
		err  error
	}{
		{"bulk at MaxBulk", Limits{MaxBulk: 10}, "$10\r\n0123456789\r\n", nil},
		{"bulk over MaxBulk", Limits{MaxBulk: 10}, "$11\r\n01234567890\r\n", errBulkTooLarge},
		{"verbatim at MaxBulk", Limits{MaxBulk: 10}, "=10\r\ntxt:456789\r\n", nil},
		{"bulk at default MaxBulk", Limits{}, "$536870912\r\n", codecs.ErrNeedMore},
		{"bulk over default MaxBulk", Limits{}, "$536870913\r\n", errBulkTooLarge},
		{"line at MaxInline", Limits{MaxInline: 10}, "+0123456789\r\n", nil},
		{"line at MaxInline waiting for LF", Limits{MaxInline: 10}, "+0123456789\r", codecs.ErrNeedMore},
		{"line at MaxInline waiting for CR", Limits{MaxInline: 10}, "+0123456789", codecs.ErrNeedMore},
		{"line over MaxInline", Limits{MaxInline: 10}, "+01234567890\r\n", errLineTooLarge},
		{"double at MaxInline", Limits{MaxInline: 5}, ",3.141\r\n", nil},
		{"double over MaxInline", Limits{MaxInline: 4}, ",3.141\r\n", errLineTooLarge},
		{"error at default MaxInline", Limits{}, "-" + strings.Repeat("E", 64<<10) + "\r\n", nil},
		{"error over default MaxInline", Limits{}, "-" + strings.Repeat("E", 64<<10+1) + "\r\n", errLineTooLarge},
		{"nesting at MaxDepth", Limits{MaxDepth: 3}, nested(3), nil},
		{"nesting over MaxDepth", Limits{MaxDepth: 3}, nested(4), ErrTooDeep},
		{"nesting at default MaxDepth", Limits{}, nested(64), nil},
		{"nesting over default MaxDepth", Limits{}, nested(65), ErrTooDeep},
		{"a million levels", Limits{}, nested(1_000_000), ErrTooDeep},
		{"nesting above the fixed levels", Limits{MaxDepth: 1000}, nested(1000), nil},
		{"nesting over a raised MaxDepth", Limits{MaxDepth: 1000}, nested(1001), ErrTooDeep},
		{"map counts pairs", Limits{MaxDepth: 2}, "%1\r\n%1\r\n:1\r\n:2\r\n:3\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ScanValue([]byte(tt.in), &tt.lim)
			if err != tt.err {
				t.Fatalf("ScanValue: %v, want %v", err, tt.err)
			}
			if err == nil && n != len(tt.in) {
				t.Fatalf("n = %d, want %d", n, len(tt.in))
			}
		})
	}
}

// TestScanValueSplits scans a stream of replies, the ones a proxy reads
// from a server connection, split into two reads at every offset.
func TestScanValueSplits(t *testing.T) {
	replies := []string{"+OK\r\n", hello3Reply, attribReply, pushReply, "$40\r\nSome real reply following the push reply\r\n",
		verbatimReply, ",3.141\r\n", mapReply, "_\r\n", "*2\r\n_\r\n$2\r\nv2\r\n", "-ERR no\r\n", ":7\r\n", "$-1\r\n"}
	stream := strings.Join(replies, "")
	for k := range len(stream) {
		var got []string
		var buf []byte
		for _, read := range []string{stream[:k], stream[k:]} {
			buf = append(buf, read...)
			for {
				n, err := ScanValue(buf, nil)
				if err == codecs.ErrNeedMore {
					break
				}
				if err != nil {
					t.Fatalf("split at %d: %v", k, err)
				}
				got = append(got, string(buf[:n]))
				buf = buf[n:]
			}
		}
		if strings.Join(got, "|") != strings.Join(replies, "|") {
			t.Fatalf("split at %d: %q", k, got)
		}
	}
}

// TestScanner feeds values to a Scanner in pieces, moving the buffer
// between reads as a growing read buffer does, and checks it agrees with
// ScanValue.
func TestScanner(t *testing.T) {
	big := "*1000\r\n" + strings.Repeat("$5\r\nvalue\r\n", 1000)
	deep := strings.Repeat("*1\r\n", 100) + "+x\r\n"
	values := []string{hello3Reply, attribReply, big, deep, mapReply, "$-1\r\n", "+OK\r\n",
		"*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\na\r\n:2\r\n"}
	for _, chunk := range []int{1, 2, 7, 64, 1 << 20} {
		var s Scanner
		s.Limits.MaxDepth = 128
		for _, v := range values {
			var buf []byte
			n, err := 0, codecs.ErrNeedMore
			for off := 0; err == codecs.ErrNeedMore; off += chunk {
				// A fresh copy each time: the Scanner keeps offsets only.
				buf = append(append([]byte(nil), buf...), v[off:min(off+chunk, len(v))]...)
				n, err = s.Scan(buf)
				if off >= len(v) {
					t.Fatalf("chunk %d: Scan needs more after the whole value %.40q", chunk, v)
				}
			}
			if err != nil || n != len(v) {
				t.Fatalf("chunk %d: Scan = %d, %v; want %d for %.40q", chunk, n, err, len(v), v)
			}
		}
	}

	var s Scanner
	if _, err := s.Scan([]byte("*2\r\n:1\r\n")); err != codecs.ErrNeedMore {
		t.Fatalf("Scan: %v", err)
	}
	s.Reset()
	if n, err := s.Scan([]byte(":5\r\n")); n != 4 || err != nil {
		t.Fatalf("Scan after Reset = %d, %v", n, err)
	}
	// A shorter input than the one scanned so far starts a new value.
	if _, err := s.Scan([]byte("*2\r\n:1\r\n")); err != codecs.ErrNeedMore {
		t.Fatalf("Scan: %v", err)
	}
	if n, err := s.Scan([]byte("+a\r\n")); n != 4 || err != nil {
		t.Fatalf("Scan of a shorter input = %d, %v", n, err)
	}
	// An error ends the value.
	if _, err := s.Scan([]byte("*2\r\n?")); err != ErrInvalidType {
		t.Fatalf("Scan: %v", err)
	}
	if n, err := s.Scan([]byte(":1\r\n")); n != 4 || err != nil {
		t.Fatalf("Scan after an error = %d, %v", n, err)
	}
}

func TestReadInteger(t *testing.T) {
	tests := []struct {
		name string
		in   string
		v    int64
		n    int
		err  error
	}{
		{"DEL count", ":2\r\n+NEXT\r\n", 2, 4, nil},
		{"negative TTL", ":-2\r\n", -2, 5, nil},
		{"max int64", ":9223372036854775807\r\n", 1<<63 - 1, 22, nil},
		{"incomplete", ":12\r", 0, 0, codecs.ErrNeedMore},
		{"empty", "", 0, 0, codecs.ErrNeedMore},
		{"error reply", "-ERR wrong number of arguments\r\n", 0, 0, ErrUnexpectedType},
		{"bulk string", "$1\r\n1\r\n", 0, 0, ErrUnexpectedType},
		{"not RESP", "12\r\n", 0, 0, ErrInvalidType},
		{"not a number", ":x\r\n", 0, 0, ErrInvalidInteger},
		{"bare LF", ":1\n", 0, 0, errIntegerCRLF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := ReadInteger([]byte(tt.in))
			if v != tt.v || n != tt.n || err != tt.err {
				t.Fatalf("ReadInteger = %d, %d, %v; want %d, %d, %v", v, n, err, tt.v, tt.n, tt.err)
			}
		})
	}
}

func TestReadBulk(t *testing.T) {
	tests := []struct {
		name string
		in   string
		b    string
		null bool
		n    int
		err  error
	}{
		{"value", "$5\r\nhello\r\n$1\r\n", "hello", false, 11, nil},
		{"empty", "$0\r\n\r\n", "", false, 6, nil},
		{"RESP2 null", "$-1\r\n", "", true, 5, nil},
		{"RESP3 null", "_\r\n", "", true, 3, nil},
		{"incomplete", "$5\r\nhel", "", false, 0, codecs.ErrNeedMore},
		{"incomplete null", "_\r", "", false, 0, codecs.ErrNeedMore},
		{"integer", ":1\r\n", "", false, 0, ErrUnexpectedType},
		{"blob error", "!3\r\nERR\r\n", "", false, 0, ErrUnexpectedType},
		{"not RESP", "hello\r\n", "", false, 0, ErrInvalidType},
		{"over the default MaxBulk", "$536870913\r\n", "", false, 0, errBulkTooLarge},
		{"negative length", "$-3\r\n", "", false, 0, ErrNegativeLength},
		{"null with payload", "_x\r\n", "", false, 0, errNull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, null, n, err := ReadBulk([]byte(tt.in))
			if string(b) != tt.b || null != tt.null || n != tt.n || err != tt.err {
				t.Fatalf("ReadBulk = %q, %v, %d, %v; want %q, %v, %d, %v", b, null, n, err, tt.b, tt.null, tt.n, tt.err)
			}
			if err == nil && !null && (b == nil || cap(b) != len(b)) {
				t.Fatalf("ReadBulk returns a nil or extensible slice for a non-null bulk")
			}
		})
	}
}

func TestReadArrayHeader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		count int
		null  bool
		n     int
		err   error
	}{
		{"MGET reply", "*2\r\n$1\r\na\r\n$-1\r\n", 2, false, 4, nil},
		{"empty", "*0\r\n", 0, false, 4, nil},
		{"RESP2 null", "*-1\r\n", 0, true, 5, nil},
		{"RESP3 null", "_\r\n", 0, true, 3, nil},
		{"RESP3 set", "~1\r\n:1\r\n", 1, false, 4, nil},
		{"incomplete", "*12", 0, false, 0, codecs.ErrNeedMore},
		{"push", ">2\r\n", 0, false, 0, ErrUnexpectedType},
		{"map", "%1\r\n", 0, false, 0, ErrUnexpectedType},
		{"error", "-ERR\r\n", 0, false, 0, ErrUnexpectedType},
		{"not RESP", "?\r\n", 0, false, 0, ErrInvalidType},
		{"negative count", "*-2\r\n", 0, false, 0, ErrNegativeLength},
		{"bad count", "*z\r\n", 0, false, 0, ErrInvalidLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count, null, n, err := ReadArrayHeader([]byte(tt.in))
			if count != tt.count || null != tt.null || n != tt.n || err != tt.err {
				t.Fatalf("ReadArrayHeader = %d, %v, %d, %v; want %d, %v, %d, %v", count, null, n, err, tt.count, tt.null, tt.n, tt.err)
			}
		})
	}
}

func TestIsError(t *testing.T) {
	for in, want := range map[string]bool{
		"-ERR x\r\n": true, "!3\r\nERR\r\n": true, "+OK\r\n": false, ":1\r\n": false, "": false, "$-1\r\n": false,
	} {
		if got := IsError([]byte(in)); got != want {
			t.Errorf("IsError(%q) = %v, want %v", in, got, want)
		}
	}
}

// Need tells how long a partly scanned reply is known to be once a bulk
// string's header is in, so that a proxy can size its buffer for it.
func TestScannerNeed(t *testing.T) {
	var s Scanner
	_, err := s.Scan([]byte("$100000\r\nabc"))
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	require.Equal(t, len("$100000\r\n")+100000+2, s.Need())
	reply := []byte("*2\r\n$1\r\na\r\n$70000\r\n")
	_, err = s.Scan(reply[:2])
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	s.Reset()
	_, err = s.Scan(reply)
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	require.Equal(t, len(reply)+70000+2, s.Need(), "the second element's end, from the array's start")
	full := append(reply, make([]byte, 70000)...)
	full = append(full, "\r\n"...)
	n, err := s.Scan(full)
	require.NoError(t, err)
	require.Equal(t, len(full), n)
	require.Zero(t, s.Need())
}
