package resp

import (
	"strconv"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func BenchmarkDecodeCommand(b *testing.B) {
	set := "*3\r\n$3\r\nSET\r\n$8\r\nuser:123\r\n$16\r\n0123456789abcdef\r\n"
	benchmarks := []struct {
		name string
		in   string
	}{
		{"SET", set},
		{"inline SET", "SET user:123 0123456789abcdef\r\n"},
		{"MGET 32 keys", "*33\r\n$4\r\nMGET\r\n" + strings.Repeat("$8\r\nuser:123\r\n", 32)},
		{"pipeline of 16 SET", strings.Repeat(set, 16)},
		{"MGET 200000 keys", string(mgetRequest(200_000))},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			in := []byte(bm.in)
			var cmd Command
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				for rest := in; len(rest) > 0; {
					n, err := DecodeCommand(rest, &cmd)
					if err != nil {
						b.Fatal(err)
					}
					rest = rest[n:]
				}
			}
		})
	}
}

func BenchmarkScanValue(b *testing.B) {
	benchmarks := []struct {
		name string
		in   string
	}{
		{"OK", "+OK\r\n"},
		{"bulk", "$16\r\n0123456789abcdef\r\n"},
		{"MGET reply of 32", "*32\r\n" + strings.Repeat("$16\r\n0123456789abcdef\r\n", 32)},
		{"HELLO 3 map", hello3Reply},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			in := []byte(bm.in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ScanValue(in, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScannerLargeReply scans a reply of 100,000 elements that arrives
// in 16 KiB reads, as a proxy reads an LRANGE 0 -1 reply.
func BenchmarkScannerLargeReply(b *testing.B) {
	in := []byte("*100000\r\n" + strings.Repeat("$16\r\n0123456789abcdef\r\n", 100_000))
	var s Scanner
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for end := 16 << 10; ; end += 16 << 10 {
			n, err := s.Scan(in[:min(end, len(in))])
			if err == nil && n == len(in) {
				break
			}
			if end >= len(in) {
				b.Fatal(n, err)
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	dst := make([]byte, 0, 256)
	args := [][]byte{[]byte("SET"), []byte("user:123"), []byte("0123456789abcdef")}
	b.Run("AppendCommand SET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = AppendCommand(dst[:0], args...)
		}
	})
	b.Run("AppendBulk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = AppendBulk(dst[:0], args[2])
		}
	})
	b.Run("AppendInt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = AppendInt(dst[:0], 1234567)
		}
	})
	b.Run("AppendError", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = AppendError(dst[:0], "ERR unknown command 'FOO'")
		}
	})
}

// BenchmarkDecodeCommandInPieces decodes an MGET of 200,000 keys that
// arrives in 4 KiB reads. Each call gets the whole request so far, as a
// proxy hands an incomplete request back with the next read appended, and
// Command.Decode resumes where the last call stopped.
func BenchmarkDecodeCommandInPieces(b *testing.B) {
	in := mgetRequest(200_000)
	var cmd Command
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for end := 4 << 10; ; end += 4 << 10 {
			n, err := cmd.Decode(in[:min(end, len(in))])
			if err == nil && n == len(in) {
				break
			}
			if err != codecs.ErrNeedMore || end >= len(in) {
				b.Fatal(n, err)
			}
		}
	}
}

// mgetRequest returns an MGET of keys distinct keys in array form.
func mgetRequest(keys int) []byte {
	in := AppendArrayHeader(nil, 1+keys)
	in = AppendBulkString(in, "MGET")
	for i := range keys {
		in = AppendBulkString(in, "key:"+strconv.Itoa(i))
	}
	return in
}
