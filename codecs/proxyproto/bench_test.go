package proxyproto

import (
	"net/netip"
	"testing"
)

// benchInputs are the headers the benchmarks and TestNoAllocs decode: what
// HAProxy and common load balancers send.
func benchInputs() []struct {
	name string
	in   []byte
} {
	ssl := AppendSSL(nil, ClientSSL|ClientCertConn, 0, TLV{SubtypeSSLVersion, []byte("TLSv1.3")},
		TLV{SubtypeSSLCN, []byte("client.example.org")}, TLV{SubtypeSSLCipher, []byte("TLS_AES_128_GCM_SHA256")})
	var many [][]byte
	for i := range 2 * inlineTLVs {
		many = append(many, tlv(0xE0, []byte{byte(i)}))
	}
	return []struct {
		name string
		in   []byte
	}{
		{"v1/tcp4", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + payload)},
		{"v1/tcp6", []byte("PROXY TCP6 2001:db8:85a3::8a2e:370:7334 2001:db8::2 56324 443\r\n" + payload)},
		{"v2/tcp4", append(v2Header(0x21, 0x11, block4("192.0.2.1", "198.51.100.2", 56324, 443)), payload...)},
		{"v2/tcp6+tlvs+crc32c", append(withCRC32C(v2Header(0x21, 0x21, block6("2001:db8::1", "2001:db8::2", 56324, 443),
			tlv(TypeALPN, []byte("h2")), tlv(TypeAuthority, []byte("www.example.org")),
			tlv(TypeUniqueID, []byte("3a7bd3e2-360a-4c2a-9d1f-6f5e2b7c1a90")), tlv(TypeSSL, ssl))), payload...)},
		{"v2/unix+32tlvs", v2Header(0x21, 0x31, blockUnix("/run/client.sock", "/run/server.sock"), cat(many...))},
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			var h Header
			n, err := Decode(in.in, &h)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(in.in, &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendV1(b *testing.B) {
	for _, tt := range []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"tcp4", ap("192.168.0.1:56324"), ap("192.168.0.11:443")},
		{"tcp6", ap("[2001:db8:85a3::8a2e:370:7334]:56324"), ap("[2001:db8::2]:443")},
	} {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxV1Len)
			b.SetBytes(int64(len(AppendV1(buf, tt.src, tt.dst))))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendV1(buf[:0], tt.src, tt.dst)
			}
		})
	}
}

func BenchmarkAppendV2(b *testing.B) {
	for _, in := range benchInputs() {
		var h Header
		if _, err := Decode(in.in, &h); err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			buf, err := AppendV2(nil, &h)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendV2(buf[:0], &h)
			}
		})
	}
}

// TestNoAllocs checks that decoding into a reused Header, the accessors,
// Detect and the encoders into a buffer with room allocate nothing.
func TestNoAllocs(t *testing.T) {
	for _, in := range benchInputs() {
		t.Run(in.name, func(t *testing.T) {
			var h Header
			buf := make([]byte, 0, 4096)
			allocs := testing.AllocsPerRun(100, func() { // the first run, a warm-up, may grow h
				if _, err := Decode(in.in, &h); err != nil {
					t.Fatal(err)
				}
				if _, err := Detect(in.in); err != nil {
					t.Fatal(err)
				}
				if s, ok := h.SSL(); ok {
					s.SubTLV(SubtypeSSLCN)
				}
				h.Authority()
				var err error
				if buf, err = AppendV2(buf[:0], &h); err != nil {
					t.Fatal(err)
				}
				buf = AppendV1(buf[:0], h.Source, h.Destination)
				buf = AppendV2Local(buf[:0])
			})
			if allocs != 0 {
				t.Errorf("%v allocations per run, want 0", allocs)
			}
		})
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"need more", []byte("PROXY TCP4 192.0.2.1")},
		{"not proxy", []byte("GET / HTTP/1.1\r\n")},
		{"malformed v1", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n")},
		{"malformed v2", withCRC32C(v2Header(0x21, 0x00, tlv(TypeCRC32C, make([]byte, 4))))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			if allocs := testing.AllocsPerRun(100, func() { Decode(tt.in, &h) }); allocs != 0 {
				t.Errorf("%v allocations per run, want 0", allocs)
			}
		})
	}
}
