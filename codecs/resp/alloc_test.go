package resp

import (
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// TestNoAllocs checks that the hot paths allocate nothing: decoding into a
// warmed-up Command, scanning and reading replies, the error paths, and the
// encoders into a buffer with room.
func TestNoAllocs(t *testing.T) {
	set := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
	wide := []byte("*41\r\n$4\r\nMGET\r\n" + strings.Repeat("$3\r\nkey\r\n", 40))
	inline := []byte("SET key \"quoted \\x41 value\" 'x'\r\n")
	reply := []byte(hello3Reply + attribReply)
	deep := []byte(strings.Repeat("*1\r\n", DefaultMaxDepth) + ":1\r\n")
	mget := []byte("*3\r\n$2\r\nv1\r\n$-1\r\n_\r\n")
	intArg := []byte("*1\r\n:1\r\n")
	openQuote := []byte("GET \"a\r\n")
	shallow := &Limits{MaxDepth: 3}
	var cmd Command
	var s Scanner
	buf := make([]byte, 0, 4096)
	args := [][]byte{[]byte("MGET"), []byte("k1"), []byte("k2")}
	tests := []struct {
		name string
		f    func()
	}{
		{"DecodeCommand", func() { mustDecode(t, set, &cmd) }},
		{"DecodeCommand wide", func() { mustDecode(t, wide, &cmd) }},
		{"DecodeCommand inline quoted", func() { mustDecode(t, inline, &cmd) }},
		{"DecodeCommand need more", func() { _, _ = DecodeCommand(set[:20], &cmd) }},
		{"DecodeCommand expected bulk", func() { _, _ = DecodeCommand(intArg, &cmd) }},
		{"DecodeCommand unbalanced quotes", func() { _, _ = DecodeCommand(openQuote, &cmd) }},
		{"Decode", func() {
			if n, err := cmd.Decode(set); n != len(set) || err != nil {
				t.Fatalf("Decode = %d, %v", n, err)
			}
		}},
		{"Decode in two reads", func() {
			if _, err := cmd.Decode(wide[:100]); err != codecs.ErrNeedMore {
				t.Fatalf("Decode of a prefix: %v", err)
			}
			if n, err := cmd.Decode(wide); n != len(wide) || err != nil {
				t.Fatalf("Decode = %d, %v", n, err)
			}
		}},
		{"Decode inline in two reads", func() {
			if _, err := cmd.Decode(inline[:10]); err != codecs.ErrNeedMore {
				t.Fatalf("Decode of a prefix: %v", err)
			}
			if n, err := cmd.Decode(inline); n != len(inline) || err != nil {
				t.Fatalf("Decode = %d, %v", n, err)
			}
		}},
		{"Name", func() { _ = cmd.Name() }},
		{"ScanValue", func() { mustScan(t, reply, nil) }},
		{"ScanValue deep", func() { mustScan(t, deep, nil) }},
		{"ScanValue too deep", func() { _, _ = ScanValue(deep, shallow) }},
		{"Scanner", func() {
			if _, err := s.Scan(reply[:100]); err == nil {
				t.Fatal("Scan of a prefix succeeded")
			}
			if n, err := s.Scan(reply); n != len(hello3Reply) || err != nil {
				t.Fatalf("Scan = %d, %v", n, err)
			}
		}},
		{"read MGET reply", func() {
			count, _, n, _ := ReadArrayHeader(mget)
			for range count {
				_, _, m, _ := ReadBulk(mget[n:])
				n += m
			}
			_, _, _ = ReadInteger([]byte(":12\r\n"))
			_ = IsError(mget)
		}},
		{"encoders", func() {
			b := AppendCommand(buf[:0], args...)
			b = AppendArrayHeader(b, 2)
			b = AppendBulkString(b, "value")
			b = AppendNullBulk(b)
			b = AppendNull(b)
			b = AppendInt(b, -42)
			b = AppendSimple(b, "OK")
			b = AppendError(b, "ERR bad\r\nthing")
			_ = AppendProtocolError(b, expectedBulkError('x'))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // warm up the Command's storage
			if allocs := testing.AllocsPerRun(100, tt.f); allocs != 0 {
				t.Fatalf("%v allocations per run", allocs)
			}
		})
	}
}

func mustDecode(t *testing.T, in []byte, cmd *Command) {
	if n, err := DecodeCommand(in, cmd); err != nil || n != len(in) {
		t.Fatalf("DecodeCommand = %d, %v", n, err)
	}
}

func mustScan(t *testing.T, in []byte, lim *Limits) {
	if _, err := ScanValue(in, lim); err != nil {
		t.Fatalf("ScanValue: %v", err)
	}
}
