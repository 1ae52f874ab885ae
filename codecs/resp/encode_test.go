package resp

import (
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestEncoders(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"array header", AppendArrayHeader(nil, 3), "*3\r\n"},
		{"RESP2 null array", AppendArrayHeader(nil, -1), "*-1\r\n"},
		{"bulk", AppendBulk(nil, []byte("hello")), "$5\r\nhello\r\n"},
		{"binary bulk", AppendBulk(nil, []byte("a\r\nb\x00")), "$5\r\na\r\nb\x00\r\n"},
		{"empty bulk", AppendBulk(nil, nil), "$0\r\n\r\n"},
		{"bulk string", AppendBulkString(nil, "value"), "$5\r\nvalue\r\n"},
		{"RESP2 null", AppendNullBulk(nil), "$-1\r\n"},
		{"RESP3 null", AppendNull(nil), "_\r\n"},
		{"integer", AppendInt(nil, 42), ":42\r\n"},
		{"negative integer", AppendInt(nil, -9223372036854775808), ":-9223372036854775808\r\n"},
		{"simple string", AppendSimple(nil, "OK"), "+OK\r\n"},
		{"simple string with line breaks", AppendSimple(nil, "a\r\n+b\n"), "+a  +b \r\n"},
		{"error", AppendError(nil, "ERR unknown command"), "-ERR unknown command\r\n"},
		{"error cannot inject a reply", AppendError(nil, "ERR x\r\n+OK"), "-ERR x  +OK\r\n"},
		{"command", AppendCommand(nil, []byte("SET"), []byte("key"), []byte("va\r\nlue")),
			"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n"},
		{"command without arguments", AppendCommand(nil), "*0\r\n"},
		{"appends after existing bytes", AppendInt([]byte("+OK\r\n"), 1), "+OK\r\n:1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
			// What is encoded is well-formed: whole values, or the header
			// of an array whose elements are still to come.
			for in := tt.got; len(in) > 0; {
				n, err := ScanValue(in, nil)
				if err == codecs.ErrNeedMore && in[0] == '*' {
					break
				}
				if err != nil {
					t.Fatalf("ScanValue(%q): %v", in, err)
				}
				in = in[n:]
			}
		})
	}
}

// TestAppendCommandRoundTrip re-encodes decoded requests, inline ones
// included, and decodes them again, as a proxy that splits an MGET does.
func TestAppendCommandRoundTrip(t *testing.T) {
	for _, in := range []string{
		"*3\r\n$4\r\nMGET\r\n$2\r\nk1\r\n$2\r\nk2\r\n",
		"SET k \"two\\r\\nlines\" 'x y'\r\n",
		"PING\n",
	} {
		var cmd, again Command
		if _, err := DecodeCommand([]byte(in), &cmd); err != nil {
			t.Fatalf("DecodeCommand(%q): %v", in, err)
		}
		wire := AppendCommand(nil, cmd.Args()...)
		n, err := DecodeCommand(wire, &again)
		if err != nil || n != len(wire) || quoteArgs(again.Args()) != quoteArgs(cmd.Args()) {
			t.Fatalf("%q re-encoded as %q decodes to %q, %v", in, wire, again.Args(), err)
		}
		if in[0] == '*' && string(wire) != in {
			t.Fatalf("%q re-encoded as %q", in, wire)
		}
	}
}
