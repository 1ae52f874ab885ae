package resp

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/stretchr/testify/require"
)

// strs returns args as strings, for comparing and printing.
func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		args []string
		n    int // 0 means len(in)
	}{
		{"redis-cli SET", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", []string{"SET", "key", "value"}, 0},
		{"lower-case name", "*2\r\n$3\r\nget\r\n$3\r\nkey\r\n", []string{"get", "key"}, 0},
		{"binary argument with CRLF inside", "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", []string{"ECHO", "a\r\nb"}, 0},
		{"empty argument", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []string{"ECHO", ""}, 0},
		{"first of a pipeline", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", []string{"PING"}, 14},
		{"empty multibulk", "*0\r\n", nil, 0},
		{"null multibulk", "*-1\r\nPING\r\n", nil, 5},
		{"MGET of 20 keys spills", "*21\r\n$4\r\nMGET\r\n" + strings.Repeat("$1\r\nk\r\n", 20), append([]string{"MGET"}, slices.Repeat([]string{"k"}, 20)...), 0},
		{"inline telnet PING", "PING\r\n", []string{"PING"}, 0},
		{"inline LF only", "PING\n", []string{"PING"}, 0},
		{"inline first of a pipeline", "GET a\r\nGET b\r\n", []string{"GET", "a"}, 7},
		{"inline blanks around words", " \t get   foo \t\r\n", []string{"get", "foo"}, 0},
		{"inline double quotes", "SET k \"hello world\"\r\n", []string{"SET", "k", "hello world"}, 0},
		{"inline escapes", `ECHO "\x41\x7a\n\r\t\b\a\q\"\\"` + "\r\n", []string{"ECHO", "Az\n\r\t\b\aq\"\\"}, 0},
		{"inline incomplete hex escape", `ECHO "\x4g"` + "\n", []string{"ECHO", "x4g"}, 0},
		{"inline single quotes", `ECHO 'it\'s "x" \n'` + "\n", []string{"ECHO", `it's "x" \n`}, 0},
		{"inline quotes inside a word", `ECHO a"b c"` + "\n", []string{"ECHO", "ab c"}, 0},
		{"inline empty quotes", `ECHO "" ''` + "\n", []string{"ECHO", "", ""}, 0},
		{"inline quote closed before tab", "ECHO \"a\"\tb\n", []string{"ECHO", "a", "b"}, 0},
		{"inline vertical tab inside a word", "ECHO a\vb\n", []string{"ECHO", "a\vb"}, 0},
		{"inline vertical tab between words", "ECHO \va\n", []string{"ECHO", "a"}, 0},
		{"inline CR inside the line separates", "ECHO a\rb\r\n", []string{"ECHO", "a", "b"}, 0},
		{"inline two CRs", "PING\r\r\n", []string{"PING"}, 0},
		{"inline starting with $", "$3\r\nfoo\r\n", []string{"$3"}, 4},
		{"empty line CRLF", "\r\n", nil, 0},
		{"empty line LF", "\nPING\n", nil, 1},
		{"blank line", "  \t \r\n", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cmd Command
			n, err := DecodeCommand([]byte(tt.in), &cmd)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			want := tt.n
			if want == 0 {
				want = len(tt.in)
			}
			if n != want {
				t.Errorf("n = %d, want %d", n, want)
			}
			var inPieces Command
			if reqs, _, err := feed(&inPieces, []byte(tt.in[:n]), 1, 2); err != nil || len(reqs) != 1 || reqs[0] != quoteArgs(cmd.Args()) {
				t.Errorf("Decode in 1-byte reads: %q, %v; DecodeCommand: %q", reqs, err, cmd.Args())
			}
			if got := strs(cmd.Args()); !slices.Equal(got, tt.args) && len(got)+len(tt.args) > 0 {
				t.Errorf("args = %q, want %q", got, tt.args)
			}
			if len(tt.args) == 0 {
				if cmd.Args() != nil || cmd.Name() != nil {
					t.Errorf("Args() = %q, Name() = %q for a request without arguments", cmd.Args(), cmd.Name())
				}
				return
			}
			if got, want := string(cmd.Name()), strings.ToUpper(tt.args[0]); got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
			for k := range n {
				if _, err := DecodeCommand([]byte(tt.in[:k]), &cmd); err != codecs.ErrNeedMore {
					t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", k, err)
				}
			}
		})
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lim   Limits
		err   error  // the exact value
		kind  error  // the sentinel it matches
		reply string // what AppendProtocolError gives
	}{
		{"multibulk count not a number", "*x\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count leading zero", "*01\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count with plus", "*+1\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count empty", "*\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count 20 digits", "*12345678901234567890", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count overflows", "*9223372036854775808\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count minus zero", "*-0\r\n", Limits{}, errMultibulkLength, ErrInvalidLength, "invalid multibulk length"},
		{"multibulk count bare LF", "*1\n$4\r\nPING\r\n", Limits{}, errMultibulkCRLF, ErrMissingCRLF, "invalid multibulk length"},
		{"multibulk count CR without LF", "*1\r$", Limits{}, errMultibulkCRLF, ErrMissingCRLF, "invalid multibulk length"},
		{"multibulk count -2", "*-2\r\n", Limits{}, errMultibulkNegative, ErrNegativeLength, "invalid multibulk length"},
		{"integer as argument", "*1\r\n:1\r\n", Limits{}, expectedBulkError(':'), ErrInvalidType, "expected '$', got ':'"},
		{"inline after a count", "*1\r\nPING\r\n", Limits{}, expectedBulkError('P'), ErrInvalidType, "expected '$', got 'P'"},
		{"CR as argument", "*1\r\n\r\n", Limits{}, expectedBulkError('\r'), ErrInvalidType, "expected '$', got ' '"},
		{"null argument", "*1\r\n$-1\r\n", Limits{}, errBulkNegative, ErrNegativeLength, "invalid bulk length"},
		{"bulk length not a number", "*1\r\n$abc\r\n", Limits{}, errBulkLength, ErrInvalidLength, "invalid bulk length"},
		{"bulk length leading zero", "*1\r\n$01\r\na\r\n", Limits{}, errBulkLength, ErrInvalidLength, "invalid bulk length"},
		{"bulk length bare LF", "*1\r\n$3\nfoo\r\n", Limits{}, errBulkLengthCRLF, ErrMissingCRLF, "invalid bulk length"},
		{"bulk data too long", "*1\r\n$3\r\nfooXY", Limits{}, errBulkDataCRLF, ErrMissingCRLF, "bulk data not followed by CRLF"},
		{"bulk data CR without LF", "*1\r\n$3\r\nfoo\rX", Limits{}, errBulkDataCRLF, ErrMissingCRLF, "bulk data not followed by CRLF"},
		{"bulk data LF only", "*1\r\n$3\r\nfoo\n", Limits{}, errBulkDataCRLF, ErrMissingCRLF, "bulk data not followed by CRLF"},
		{"redis proto-max-bulk-len", "*1\r\n$536870913\r\n", Limits{}, errBulkTooLarge, ErrTooLarge, "invalid bulk length"},
		{"more arguments than redis accepts", "*1048577\r\n", Limits{}, errTooManyArgs, ErrTooLarge, "invalid multibulk length"},
		{"redis client-query-buffer-limit", "*2\r\n$3\r\nSET\r\n$1073741816\r\n", Limits{MaxBulk: 2 << 30}, errRequestTooLarge, ErrTooLarge, "too big request"},
		{"request over MaxRequest", "*2\r\n$3\r\nSET\r\n$11\r\n", Limits{MaxRequest: 30}, errRequestTooLarge, ErrTooLarge, "too big request"},
		{"too big inline request", strings.Repeat("a", 64<<10+1), Limits{}, errInlineTooLarge, ErrTooLarge, "too big inline request"},
		{"inline request over MaxInline", "GET key\r\n", Limits{MaxInline: 6}, errInlineTooLarge, ErrTooLarge, "too big inline request"},
		{"inline words over MaxArgs", "MGET a b\r\n", Limits{MaxArgs: 2}, errTooManyArgs, ErrTooLarge, "invalid multibulk length"},
		{"open double quote", "SET \"a\r\n", Limits{}, errQuoteNotClosed, ErrUnbalancedQuotes, "unbalanced quotes in request"},
		{"open single quote", "SET 'a\\'\r\n", Limits{}, errQuoteNotClosed, ErrUnbalancedQuotes, "unbalanced quotes in request"},
		{"escape at end of quote", "SET \"a\\\n", Limits{}, errQuoteNotClosed, ErrUnbalancedQuotes, "unbalanced quotes in request"},
		{"word after double quote", "SET \"a\"b\r\n", Limits{}, errQuoteFollowed, ErrUnbalancedQuotes, "unbalanced quotes in request"},
		{"word after single quote", "SET 'a'b\r\n", Limits{}, errQuoteFollowed, ErrUnbalancedQuotes, "unbalanced quotes in request"},
		{"NUL in inline request", "ECHO a\x00 b\r\n", Limits{}, ErrInlineNUL, ErrInlineNUL, "NUL byte in inline request"},
		{"NUL before the line ends", "ECHO \x00", Limits{}, ErrInlineNUL, ErrInlineNUL, "NUL byte in inline request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := Command{Limits: tt.lim}
			n, err := DecodeCommand([]byte(tt.in), &cmd)
			if err != tt.err || n != 0 {
				t.Fatalf("DecodeCommand = %d, %v; want 0, %v", n, err, tt.err)
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrProtocol) {
				t.Errorf("%v does not match %v and ErrProtocol", err, tt.kind)
			}
			if cmd.Args() != nil {
				t.Errorf("Args() = %q after an error", cmd.Args())
			}
			if got, want := string(AppendProtocolError(nil, err)), "-ERR Protocol error: "+tt.reply+"\r\n"; got != want {
				t.Errorf("AppendProtocolError = %q, want %q", got, want)
			}
		})
	}
}

// TestDecodeCommandLimits checks each limit at exactly its value and one
// past it.
func TestDecodeCommandLimits(t *testing.T) {
	bulk := func(size int) string {
		return "*2\r\n$4\r\nECHO\r\n$" + strconv.Itoa(size) + "\r\n" + strings.Repeat("x", size) + "\r\n"
	}
	args := func(count int) string {
		return "*" + strconv.Itoa(count) + "\r\n" + strings.Repeat("$1\r\na\r\n", count)
	}
	words := func(count int) string { return strings.Repeat("a ", count) + "\r\n" }
	inline := func(size int, end string) string { return "ECHO " + strings.Repeat("x", size-5) + end }
	tests := []struct {
		name string
		lim  Limits
		in   string
		err  error
	}{
		{"bulk at MaxBulk", Limits{MaxBulk: 100}, bulk(100), nil},
		{"bulk over MaxBulk", Limits{MaxBulk: 100}, bulk(101), errBulkTooLarge},
		{"bulk at default MaxBulk", Limits{}, "*1\r\n$536870912\r\n", codecs.ErrNeedMore},
		{"arguments at MaxArgs", Limits{MaxArgs: 30}, args(30), nil},
		{"arguments over MaxArgs", Limits{MaxArgs: 30}, args(31), errTooManyArgs},
		{"arguments at default MaxArgs", Limits{}, "*1048576\r\n", codecs.ErrNeedMore},
		{"request at MaxRequest", Limits{MaxRequest: int64(len(bulk(100)))}, bulk(100), nil},
		{"request over MaxRequest", Limits{MaxRequest: int64(len(bulk(100))) - 1}, bulk(100), errRequestTooLarge},
		{"request over MaxRequest before its data", Limits{MaxRequest: int64(len(bulk(100))) - 1}, bulk(100)[:20], errRequestTooLarge},
		{"request at default MaxRequest", Limits{MaxBulk: 2 << 30}, "*2\r\n$4\r\nECHO\r\n$1073741795\r\n", codecs.ErrNeedMore},
		{"request over default MaxRequest", Limits{MaxBulk: 2 << 30}, "*2\r\n$4\r\nECHO\r\n$1073741796\r\n", errRequestTooLarge},
		{"inline words at MaxArgs", Limits{MaxArgs: 30}, words(30), nil},
		{"inline words over MaxArgs", Limits{MaxArgs: 30}, words(31), errTooManyArgs},
		{"inline at MaxInline with CRLF", Limits{MaxInline: 100}, inline(100, "\r\n"), nil},
		{"inline at MaxInline with LF", Limits{MaxInline: 100}, inline(100, "\n"), nil},
		{"inline at MaxInline waiting for LF", Limits{MaxInline: 100}, inline(100, "\r"), codecs.ErrNeedMore},
		{"inline at MaxInline waiting for line end", Limits{MaxInline: 100}, inline(100, ""), codecs.ErrNeedMore},
		{"inline over MaxInline with CRLF", Limits{MaxInline: 100}, inline(101, "\r\n"), errInlineTooLarge},
		{"inline over MaxInline with LF", Limits{MaxInline: 100}, inline(101, "\n"), errInlineTooLarge},
		{"inline over MaxInline waiting", Limits{MaxInline: 100}, inline(101, ""), errInlineTooLarge},
		{"inline at default MaxInline", Limits{}, inline(64<<10, "\r\n"), nil},
		{"inline over default MaxInline", Limits{}, inline(64<<10+1, "\r\n"), errInlineTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := Command{Limits: tt.lim}
			n, err := DecodeCommand([]byte(tt.in), &cmd)
			if err != tt.err {
				t.Fatalf("DecodeCommand: %v, want %v", err, tt.err)
			}
			if err == nil && n != len(tt.in) {
				t.Fatalf("n = %d, want %d", n, len(tt.in))
			}
		})
	}
}

// TestDecodeCommandSplits feeds a pipeline of requests as redis-cli, client
// libraries and telnet users send them, split at every offset into two
// reads, and checks that the decoder needs more at the split and then
// yields the same requests as from one read.
func TestDecodeCommandSplits(t *testing.T) {
	pipeline := "*3\r\n$3\r\nSET\r\n$4\r\nkey1\r\n$7\r\nva\r\nlue\r\n" +
		"*2\r\n$3\r\nGET\r\n$4\r\nkey1\r\n" +
		"PING\r\n" +
		"\r\n" +
		"*0\r\n" +
		"SET k2 \"two words\"\n" +
		"*3\r\n$4\r\nMGET\r\n$4\r\nkey1\r\n$2\r\nk2\r\n" +
		"*1\r\n$4\r\nQUIT\r\n"
	want := []string{`["SET" "key1" "va\r\nlue"]`, `["GET" "key1"]`, `["PING"]`, `[]`, `[]`,
		`["SET" "k2" "two words"]`, `["MGET" "key1" "k2"]`, `["QUIT"]`}
	var raw []string
	whole := decodeAll(t, []byte(pipeline), &raw)
	if !slices.Equal(whole, want) {
		t.Fatalf("whole pipeline: %q, want %q", whole, want)
	}
	if strings.Join(raw, "") != pipeline {
		t.Fatalf("raw requests %q do not make up the pipeline", raw)
	}
	for k := range len(pipeline) {
		var buf []byte
		var got []string
		var cmd Command
		for _, read := range []string{pipeline[:k], pipeline[k:]} {
			buf = append(buf, read...)
			for {
				n, err := DecodeCommand(buf, &cmd)
				if err == codecs.ErrNeedMore {
					break
				}
				if err != nil {
					t.Fatalf("split at %d: %v", k, err)
				}
				got = append(got, quoteArgs(cmd.Args()))
				buf = buf[n:]
			}
		}
		if !slices.Equal(got, want) || len(buf) != 0 {
			t.Fatalf("split at %d: %q with %q left, want %q", k, got, buf, want)
		}
	}
}

// decodeAll decodes every request in in, appending each raw request to raw.
func decodeAll(t *testing.T, in []byte, raw *[]string) []string {
	t.Helper()
	var got []string
	var cmd Command
	for len(in) > 0 {
		n, err := DecodeCommand(in, &cmd)
		if err != nil {
			t.Fatalf("DecodeCommand(%q): %v", in, err)
		}
		*raw = append(*raw, string(in[:n]))
		got = append(got, quoteArgs(cmd.Args()))
		in = in[n:]
	}
	return got
}

func quoteArgs(args [][]byte) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(string(a)))
	}
	b.WriteByte(']')
	return b.String()
}

// TestCommandReuse decodes requests of different sizes into one Command and
// checks that nothing of an earlier request shows through.
func TestCommandReuse(t *testing.T) {
	var cmd Command
	wide := AppendCommand(nil, slices.Repeat([][]byte{[]byte("k")}, 40)...)
	huge := AppendCommand(nil, slices.Repeat([][]byte{[]byte("h")}, maxKeptArgs+1)...)
	steps := []struct {
		in   []byte
		args int
		name string
	}{
		{wide, 40, "K"},
		{[]byte("*2\r\n$3\r\nget\r\n$1\r\na\r\n"), 2, "GET"},
		{[]byte(`echo "quoted word" 'x'` + "\n"), 3, "ECHO"},
		{huge, maxKeptArgs + 1, "H"}, // the next step must drop its slots
		{[]byte("*1\r\n$4\r\nping\r\n"), 1, "PING"},
		{[]byte("\r\n"), 0, ""},
		{[]byte("*1\r\n$" + strconv.Itoa(maxNameLen+1) + "\r\n" + strings.Repeat("a", maxNameLen+1) + "\r\n"), 1, strings.Repeat("a", maxNameLen+1)},
	}
	for i, st := range steps {
		n, err := DecodeCommand(st.in, &cmd)
		if err != nil || n != len(st.in) {
			t.Fatalf("step %d: %d, %v", i, n, err)
		}
		if len(cmd.Args()) != st.args || string(cmd.Name()) != st.name {
			t.Fatalf("step %d: %d args named %q, want %d named %q", i, len(cmd.Args()), cmd.Name(), st.args, st.name)
		}
		if i == 4 && cmd.spill != nil {
			t.Errorf("step %d: the Command keeps %d argument slots after a huge request", i, cap(cmd.spill))
		}
	}
	// The Args of a request must not let a caller's append write into the
	// input or the Command.
	_, _ = DecodeCommand([]byte("*2\r\n$3\r\nGET\r\n$1\r\na\r\n"), &cmd)
	args := cmd.Args()
	if cap(args) != len(args) || cap(args[1]) != len(args[1]) {
		t.Errorf("Args() has spare capacity: %d/%d, %d/%d", len(args), cap(args), len(args[1]), cap(args[1]))
	}
}

// Need tells how long an unfinished request is known to be, so that a
// proxy can size its buffer for a large argument as it arrives.
func TestCommandNeed(t *testing.T) {
	var c Command
	req := []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n")
	_, err := c.Decode(req)
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	require.Equal(t, len(req)+100000+2, c.Need(), "up to the end of the value being read")
	req = append(req, make([]byte, 5000)...)
	_, err = c.Decode(req)
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	require.Equal(t, len(req)-5000+100000+2, c.Need(), "the same after more of it")
	req = append(req, make([]byte, 95000)...)
	req = append(req, "\r\n"...)
	n, err := c.Decode(req)
	require.NoError(t, err)
	require.Equal(t, len(req), n)
	require.Zero(t, c.Need(), "nothing unfinished")
	_, err = c.Decode([]byte("*2\r\n$3\r\nGET\r\n"))
	require.ErrorIs(t, err, codecs.ErrNeedMore)
	require.LessOrEqual(t, c.Need(), len("*2\r\n$3\r\nGET\r\n"), "between arguments: no more known than what is there")
}
