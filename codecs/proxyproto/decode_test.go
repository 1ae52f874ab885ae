package proxyproto

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

func TestDecodeV1(t *testing.T) {
	tcp4 := func(src, dst string) view {
		return view{Version: 1, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
			Source: ap(src), Destination: ap(dst)}
	}
	tcp6 := func(src, dst string) view {
		v := tcp4(src, dst)
		v.Family = FamilyIPv6
		return v
	}
	unknown := view{Version: 1, Command: Local}
	mixedIPv6 := "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
	worstCase := "PROXY UNKNOWN " + maxIPv6 + " " + maxIPv6 + " 65535 65535\r\n"
	tests := []struct {
		name    string
		in      string
		want    view
		wantErr error
	}{
		{name: "tcp4 spec example", in: "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
			want: tcp4("192.168.0.1:56324", "192.168.0.11:443")},
		{name: "tcp4 longest", in: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
			want: tcp4("255.255.255.255:65535", "255.255.255.255:65535")},
		{name: "tcp4 zero port and address", in: "PROXY TCP4 0.0.0.0 10.0.0.1 0 1\r\n",
			want: tcp4("0.0.0.0:0", "10.0.0.1:1")},
		{name: "tcp6", in: "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n",
			want: tcp6("[2001:db8::1]:40000", "[2001:db8::2]:443")},
		{name: "tcp6 longest", in: "PROXY TCP6 " + maxIPv6 + " " + maxIPv6 + " 65535 65535\r\n",
			want: tcp6("["+maxIPv6+"]:65535", "["+maxIPv6+"]:65535")},
		{name: "tcp6 upper case and leading zeros in groups", in: "PROXY TCP6 2001:0DB8::0001 ::1 1 2\r\n",
			want: tcp6("[2001:db8::1]:1", "[::1]:2")},
		{name: "tcp6 ipv4-mapped", in: "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 1 2\r\n",
			want: tcp6("[::ffff:192.0.2.1]:1", "[::ffff:198.51.100.2]:2")},
		{name: "unknown short form", in: "PROXY UNKNOWN\r\n", want: unknown},
		{name: "unknown with addresses", in: "PROXY UNKNOWN 192.0.2.1 198.51.100.1 1 2\r\n", want: unknown},
		{name: "unknown ignores the rest", in: "PROXY UNKNOWN what\tever \x00\r\n", want: unknown},
		{name: "unknown worst case is 107 bytes", in: worstCase, want: unknown},

		{name: "http", in: "GET / HTTP/1.1\r\n", wantErr: ErrNotProxy},
		{name: "almost the signature", in: "PROXZ TCP4", wantErr: ErrNotProxy},
		{name: "lower case signature", in: "proxy TCP4", wantErr: ErrNotProxy},
		{name: "no space after signature", in: "PROXY\r\n", wantErr: ErrV1BadToken},
		{name: "longer signature", in: "PROXYX TCP4 1.2.3.4 5.6.7.8 1 2\r\n", wantErr: ErrV1BadToken},
		{name: "unknown protocol", in: "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", wantErr: ErrV1BadToken},
		{name: "lower case protocol", in: "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", wantErr: ErrV1BadToken},
		{name: "protocol too long", in: "PROXY UNKNOWNX\r\n", wantErr: ErrV1BadToken},
		{name: "two spaces", in: "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", wantErr: ErrV1BadToken},
		{name: "two spaces between addresses", in: "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "tab separator", in: "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", wantErr: ErrV1BadToken},
		{name: "tcp4 without fields", in: "PROXY TCP4\r\n", wantErr: ErrV1BadToken},
		{name: "one address", in: "PROXY TCP4 1.2.3.4\r\n", wantErr: ErrV1BadToken},
		{name: "one port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", wantErr: ErrV1BadToken},
		{name: "extra field", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", wantErr: ErrV1BadToken},
		{name: "trailing space", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", wantErr: ErrV1BadToken},
		{name: "bare lf", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", wantErr: ErrV1NoCRLF},
		{name: "bare cr", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", wantErr: ErrV1NoCRLF},
		{name: "crlf as separator", in: "PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n", wantErr: ErrV1NoCRLF},
		{name: "unknown bare lf", in: "PROXY UNKNOWN\n", wantErr: ErrV1NoCRLF},
		{name: "unknown rest with bare lf", in: "PROXY UNKNOWN 1.2.3.4\n\r\n", wantErr: ErrV1NoCRLF},
		{name: "unknown rest with bare cr", in: "PROXY UNKNOWN 1.2\r3.4\r\n", wantErr: ErrV1NoCRLF},
		{name: "ipv4 leading zero", in: "PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv4 octet too large", in: "PROXY TCP4 256.1.1.1 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv4 three octets", in: "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv4 trailing dot", in: "PROXY TCP4 1.2.3.4. 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv4 too long before space", in: "PROXY TCP4 1111111111111111", wantErr: ErrV1BadAddress},
		{name: "ipv6 in tcp4", in: "PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv4 in tcp6", in: "PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv6 zone", in: "PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv6 two ellipses", in: "PROXY TCP6 1::2::3 ::1 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv6 nine groups", in: "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "ipv6 five digit group", in: "PROXY TCP6 12345::1 ::1 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "hostname", in: "PROXY TCP4 localhost 1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "empty address", in: "PROXY TCP4  1.2.3.4 1 2\r\n", wantErr: ErrV1BadAddress},
		{name: "port too large", in: "PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\n", wantErr: ErrV1BadPort},
		{name: "port leading zero", in: "PROXY TCP4 1.2.3.4 5.6.7.8 080 1\r\n", wantErr: ErrV1BadPort},
		{name: "port sign", in: "PROXY TCP4 1.2.3.4 5.6.7.8 +80 1\r\n", wantErr: ErrV1BadPort},
		{name: "port negative", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 -1\r\n", wantErr: ErrV1BadPort},
		{name: "port six digits", in: "PROXY TCP4 1.2.3.4 5.6.7.8 100000", wantErr: ErrV1BadPort},
		{name: "port empty", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", wantErr: ErrV1BadPort},
		{name: "unknown 108 bytes", in: "PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n", wantErr: ErrV1TooLong},
		{name: "unknown without crlf", in: "PROXY UNKNOWN " + strings.Repeat("x", 200), wantErr: ErrV1TooLong},
		{name: "tcp6 over 107 bytes", in: "PROXY TCP6 " + mixedIPv6 + " " + mixedIPv6 + " 65535 65535\r\n",
			wantErr: ErrV1TooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == nil {
				tt.want.N = len(tt.in)
			}
			checkDecode(t, Decoder{}, []byte(tt.in), tt.want, tt.wantErr)
		})
	}
}

func TestDecodeV2(t *testing.T) {
	const (
		proxy = 0x21
		local = 0x20
	)
	ssl := AppendSSL(nil, ClientSSL|ClientCertConn, 0,
		TLV{SubtypeSSLVersion, []byte("TLSv1.3")},
		TLV{SubtypeSSLCN, []byte("client.example.org")},
		TLV{SubtypeSSLCipher, []byte("TLS_AES_128_GCM_SHA256")},
		TLV{SubtypeSSLGroup, []byte("X25519MLKEM768")})
	tcp4 := block4("192.0.2.1", "198.51.100.2", 56324, 443)
	longPath := strings.Repeat("p", unixPathLen)
	tests := []struct {
		name    string
		decoder Decoder
		in      []byte
		want    view
		wantErr error
	}{
		{name: "tcp4", in: v2Header(proxy, 0x11, tcp4),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443")}},
		{name: "udp4", in: v2Header(proxy, 0x12, block4("192.0.2.1", "198.51.100.2", 5353, 53)),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportDatagram,
				Source: ap("192.0.2.1:5353"), Destination: ap("198.51.100.2:53")}},
		{name: "tcp6", in: v2Header(proxy, 0x21, block6("2001:db8::1", "2001:db8::2", 65535, 0)),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv6, Transport: TransportStream,
				Source: ap("[2001:db8::1]:65535"), Destination: ap("[2001:db8::2]:0")}},
		{name: "udp6 ipv4-mapped", in: v2Header(proxy, 0x22, block6("::ffff:192.0.2.1", "::ffff:198.51.100.2", 1, 2)),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv6, Transport: TransportDatagram,
				Source: ap("[::ffff:192.0.2.1]:1"), Destination: ap("[::ffff:198.51.100.2]:2")}},
		{name: "unix stream", in: v2Header(proxy, 0x31, blockUnix("/run/client.sock", "/run/haproxy.sock")),
			want: view{Version: 2, Command: Proxy, Family: FamilyUnix, Transport: TransportStream,
				SourcePath: "/run/client.sock", DestinationPath: "/run/haproxy.sock"}},
		{name: "unix datagram abstract and unnamed", in: v2Header(proxy, 0x32, blockUnix("\x00abstract", "")),
			want: view{Version: 2, Command: Proxy, Family: FamilyUnix, Transport: TransportDatagram,
				SourcePath: "\x00abstract", DestinationPath: ""}},
		{name: "unix path of 108 bytes and garbage after nul",
			in: v2Header(proxy, 0x31, []byte(longPath), padPath("/a\x00junk")),
			want: view{Version: 2, Command: Proxy, Family: FamilyUnix, Transport: TransportStream,
				SourcePath: longPath, DestinationPath: "/a"}},
		{name: "local", in: v2Header(local, 0x00), want: view{Version: 2, Command: Local}},
		{name: "local ignores addresses", in: v2Header(local, 0x11, tcp4),
			want: view{Version: 2, Command: Local, Family: FamilyIPv4, Transport: TransportStream}},
		{name: "local skips a short block", in: v2Header(local, 0x21, tcp4),
			want: view{Version: 2, Command: Local, Family: FamilyIPv6, Transport: TransportStream}},
		{name: "local with tlvs", in: v2Header(local, 0x00, tlv(TypeUniqueID, []byte("check-1"))),
			want: view{Version: 2, Command: Local, TLVs: []tlvView{{TypeUniqueID, "check-1"}}}},
		{name: "proxy unspec with tlvs", in: v2Header(proxy, 0x00, tlv(TypeAuthority, []byte("example.org"))),
			want: view{Version: 2, Command: Proxy, TLVs: []tlvView{{TypeAuthority, "example.org"}}}},
		{name: "tlvs", in: v2Header(proxy, 0x11, tcp4,
			tlv(TypeALPN, []byte("h2")),
			tlv(TypeAuthority, []byte("example.org")),
			tlv(TypeNoop, make([]byte, 5)),
			tlv(TypeUniqueID, bytes.Repeat([]byte{0xAB}, MaxUniqueIDLen)),
			tlv(TypeSSL, ssl),
			tlv(TypeNetNS, []byte("blue")),
			tlv(0xEA, []byte{0x01}, []byte("vpce-0123")), // AWS VPC endpoint
			tlv(TypeNoop),
			tlv(0xE0)),
			want: view{Version: 2, Command: Proxy,
				Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443"),
				TLVs: []tlvView{{TypeALPN, "h2"}, {TypeAuthority, "example.org"},
					{TypeUniqueID, strings.Repeat("\xAB", MaxUniqueIDLen)}, {TypeSSL, string(ssl)},
					{TypeNetNS, "blue"}, {0xEA, "\x01vpce-0123"}, {0xE0, ""}}}},
		{name: "crc32c", in: withCRC32C(v2Header(proxy, 0x11, tcp4, tlv(TypeALPN, []byte("h2")))),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443"),
				TLVs: []tlvView{{TypeALPN, "h2"}, {TypeCRC32C, string(withCRC32C(v2Header(proxy, 0x11, tcp4, tlv(TypeALPN, []byte("h2"))))[36:])}}}},
		{name: "haproxy 2.6 capture with crc32c and unique id",
			in: unhex("0d0a0d0a000d0a515549540a21110027cb007107c6336401c82201bb030004348ab3580500113230332e302e3131332e373a3531323334"),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("203.0.113.7:51234"), Destination: ap("198.51.100.1:443"),
				TLVs: []tlvView{{TypeCRC32C, "\x34\x8a\xb3\x58"}, {TypeUniqueID, "203.0.113.7:51234"}}}},
		{name: "haproxy 2.6 capture of local with crc32c",
			in:   unhex("0d0a0d0a000d0a515549540a200000100300044b6d5430050006756e69783a31"),
			want: view{Version: 2, Command: Local, TLVs: []tlvView{{TypeCRC32C, "KmT0"}, {TypeUniqueID, "unix:1"}}}},
		{name: "within the size limit", decoder: Decoder{MaxV2: 28}, in: v2Header(proxy, 0x11, tcp4),
			want: view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443")}},

		{name: "tls record", in: []byte{0x16, 0x03, 0x01}, wantErr: ErrNotProxy},
		{name: "crlf then other bytes", in: []byte("\r\n\r\nGET"), wantErr: ErrNotProxy},
		{name: "signature without its last byte", in: []byte("\r\n\r\n\x00\r\nQUIT\r"), wantErr: ErrNotProxy},
		{name: "version 1 in binary", in: v2Header(0x11, 0x11, tcp4), wantErr: ErrV2BadVersion},
		{name: "version 3", in: v2Header(0x31, 0x11, tcp4), wantErr: ErrV2BadVersion},
		{name: "command 2", in: v2Header(0x22, 0x11, tcp4), wantErr: ErrV2BadCommand},
		{name: "command 15", in: v2Header(0x2f, 0x11, tcp4), wantErr: ErrV2BadCommand},
		{name: "family 4", in: v2Header(proxy, 0x41, tcp4), wantErr: ErrV2BadFamily},
		{name: "transport 3", in: v2Header(proxy, 0x13, tcp4), wantErr: ErrV2BadFamily},
		{name: "ipv4 with unspec transport", in: v2Header(proxy, 0x10, tcp4), wantErr: ErrV2BadFamily},
		{name: "unspec family with stream", in: v2Header(proxy, 0x01), wantErr: ErrV2BadFamily},
		{name: "local with undefined family", in: v2Header(local, 0x13), wantErr: ErrV2BadFamily},
		{name: "short ipv4 block", in: v2Header(proxy, 0x11, tcp4[:11]), wantErr: ErrV2ShortAddress},
		{name: "ipv6 family with ipv4 block", in: v2Header(proxy, 0x21, tcp4), wantErr: ErrV2ShortAddress},
		{name: "short unix block", in: v2Header(proxy, 0x31, make([]byte, 215)), wantErr: ErrV2ShortAddress},
		{name: "tlv header cut", in: v2Header(proxy, 0x11, tcp4, []byte{TypeALPN, 0}), wantErr: ErrV2TLVOverrun},
		{name: "tlv value overruns", in: v2Header(proxy, 0x11, tcp4, []byte{TypeALPN, 0, 3, 'h', '2'}), wantErr: ErrV2TLVOverrun},
		{name: "tlv after local block overruns", in: v2Header(local, 0x11, tcp4, []byte{TypeNoop}), wantErr: ErrV2TLVOverrun},
		{name: "crc32c mismatch", in: func() []byte {
			b := withCRC32C(v2Header(proxy, 0x11, tcp4))
			b[len(b)-1] ^= 1
			return b
		}(), wantErr: ErrV2Checksum},
		{name: "crc32c over other bytes", in: func() []byte {
			b := withCRC32C(v2Header(proxy, 0x11, tcp4))
			b[16] ^= 1 // the source address
			return b
		}(), wantErr: ErrV2Checksum},
		{name: "haproxy capture with a flipped bit",
			in:      unhex("0d0a0d0a000d0a515549540a21110027cb007107c6336401c82201bb030004348ab3580500113230332e302e3131332e373a3531323335"),
			wantErr: ErrV2Checksum},
		{name: "crc32c of 3 bytes", in: v2Header(proxy, 0x11, tcp4, tlv(TypeCRC32C, []byte{1, 2, 3})), wantErr: ErrV2BadTLV},
		{name: "two crc32c", in: withCRC32C(v2Header(proxy, 0x11, tcp4, tlv(TypeCRC32C, make([]byte, 4)))), wantErr: ErrV2BadTLV},
		{name: "unique id of 129 bytes", in: v2Header(proxy, 0x11, tcp4, tlv(TypeUniqueID, make([]byte, 129))), wantErr: ErrV2BadTLV},
		{name: "ssl of 4 bytes", in: v2Header(proxy, 0x11, tcp4, tlv(TypeSSL, []byte{1, 0, 0, 0})), wantErr: ErrV2BadTLV},
		{name: "ssl sub-tlv overruns", in: v2Header(proxy, 0x11, tcp4, tlv(TypeSSL, ssl[:len(ssl)-1])), wantErr: ErrV2BadTLV},
		{name: "over the size limit", decoder: Decoder{MaxV2: 27}, in: v2Header(proxy, 0x11, tcp4), wantErr: ErrTooLarge},
		{name: "over the recommended limit", decoder: Decoder{MaxV2: RecommendedMaxV2},
			in: v2Header(proxy, 0x11, tcp4, tlv(0xE0, make([]byte, RecommendedMaxV2))), wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == nil {
				tt.want.N = len(tt.in)
			}
			checkDecode(t, tt.decoder, tt.in, tt.want, tt.wantErr)
		})
	}
}

// TestDecodeV2Max decodes a header of the largest length the protocol allows
// with the zero Decoder.
func TestDecodeV2Max(t *testing.T) {
	in := v2Header(0x21, 0x11, block4("192.0.2.1", "192.0.2.2", 1, 2), tlv(0xF0, make([]byte, 0xffff-12-3)))
	var h Header
	n, err := Decode(in, &h)
	if err != nil || n != MaxV2Len {
		t.Fatalf("Decode = %d, %v; want %d", n, err, MaxV2Len)
	}
	if _, err := Decode(in[:MaxV2Len-1], &h); err != codecs.ErrNeedMore {
		t.Fatalf("Decode without the last byte: %v, want ErrNeedMore", err)
	}
}

// TestNotProxyFirstByte checks that every byte that starts neither signature
// is refused on its own, by Decode and by Detect.
func TestNotProxyFirstByte(t *testing.T) {
	var h Header
	for b := 0; b < 256; b++ {
		in := []byte{byte(b)}
		_, decodeErr := Decode(in, &h)
		version, detectErr := Detect(in)
		want := ErrNotProxy
		if b == 'P' || b == '\r' {
			want = codecs.ErrNeedMore
		}
		if decodeErr != want || detectErr != want || version != 0 {
			t.Errorf("byte %#02x: Decode %v, Detect %d, %v; want %v", b, decodeErr, version, detectErr, want)
		}
	}
}

func TestDecoderReject(t *testing.T) {
	v1 := []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
	v2 := v2Header(0x21, 0x11, block4("192.0.2.1", "192.0.2.2", 1, 2))
	tests := []struct {
		name    string
		decoder Decoder
		in      []byte
		wantErr error
	}{
		{"v2 only refuses v1", Decoder{RejectV1: true}, v1, ErrNotProxy},
		{"v2 only accepts v2", Decoder{RejectV1: true}, v2, nil},
		{"v1 only refuses v2", Decoder{RejectV2: true}, v2, ErrNotProxy},
		{"v1 only accepts v1", Decoder{RejectV2: true}, v1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			if _, err := tt.decoder.Decode(tt.in[:1], &h); tt.wantErr != nil && err != tt.wantErr {
				t.Errorf("first byte: %v, want %v", err, tt.wantErr)
			}
			if _, err := tt.decoder.Decode(tt.in, &h); err != tt.wantErr {
				t.Errorf("Decode: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		version int
		wantErr error
	}{
		{"empty", "", 0, codecs.ErrNeedMore},
		{"v1 prefix", "PROX", 0, codecs.ErrNeedMore},
		{"v1", "PROXY", 1, nil},
		{"v1 line", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, nil},
		{"v2 prefix", "\r\n\r\n\x00\r\nQUI", 0, codecs.ErrNeedMore},
		{"v2", "\r\n\r\n\x00\r\nQUIT\n", 2, nil},
		{"v2 with a bad version", "\r\n\r\n\x00\r\nQUIT\n\x31", 2, nil},
		{"http", "GET / HTTP/1.1\r\n", 0, ErrNotProxy},
		{"v1 typo", "PROXI", 0, ErrNotProxy},
		{"v2 typo", "\r\n\r\n\x01", 0, ErrNotProxy},
		{"blank line", "\r\n", 0, codecs.ErrNeedMore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version, err := Detect([]byte(tt.in))
			if version != tt.version || err != tt.wantErr {
				t.Errorf("Detect(%q) = %d, %v; want %d, %v", tt.in, version, err, tt.version, tt.wantErr)
			}
		})
	}
}

// TestErrors checks that the error values are distinct, carry the package
// prefix and match their class under errors.Is.
func TestErrors(t *testing.T) {
	classes := map[error][]error{
		ErrMalformed: {ErrV1BadToken, ErrV1BadAddress, ErrV1BadPort, ErrV1NoCRLF, ErrV1TooLong,
			ErrV2BadVersion, ErrV2BadCommand, ErrV2BadFamily, ErrV2ShortAddress, ErrV2TLVOverrun,
			ErrV2BadTLV, ErrV2Checksum},
		ErrInvalidHeader: {errEncodeCommand, errEncodeFamily, errEncodeAddress, errEncodePath,
			errEncodeTLV, errEncodeTLVLength, errEncodeLength},
		codecs.ErrTooLarge: {ErrTooLarge},
	}
	seen := map[string]bool{ErrNotProxy.Error(): true}
	for class, errs := range classes {
		for _, err := range errs {
			if !errors.Is(err, class) {
				t.Errorf("%v does not match %v", err, class)
			}
			if errors.Is(err, ErrNotProxy) || class != ErrMalformed && errors.Is(err, ErrMalformed) {
				t.Errorf("%v matches another class", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "penstock/") || seen[msg] {
				t.Errorf("message %q is not prefixed or not unique", msg)
			}
			seen[err.Error()] = true
		}
	}
}

// TestHeaderReuse decodes a header with many TLVs, then a short one, into
// the same Header, and checks that nothing of the first remains.
func TestHeaderReuse(t *testing.T) {
	var tlvs [][]byte
	for i := range 40 {
		tlvs = append(tlvs, tlv(0xE0, []byte{byte(i)}))
	}
	long := v2Header(0x21, 0x31, blockUnix("/a", "/b"), cat(tlvs...))
	var h Header
	if _, err := Decode(long, &h); err != nil {
		t.Fatal(err)
	}
	if got := len(h.TLVs()); got != 40 {
		t.Fatalf("%d TLVs, want 40", got)
	}
	if v, _ := h.TLV(0xE0); !bytes.Equal(v, []byte{0}) {
		t.Fatalf("first TLV value %x", v)
	}
	short := []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
	n, err := Decode(short, &h)
	if err != nil {
		t.Fatal(err)
	}
	want := view{N: len(short), Version: 1, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
		Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")}
	if got := viewOf(n, &h); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reuse: %+v", got)
	}
	for _, spilled := range h.tlvs.spill[:cap(h.tlvs.spill)] {
		if spilled.Value != nil {
			t.Fatal("spill storage still references the previous input")
		}
	}
}

func TestHeaderAccessors(t *testing.T) {
	ssl := AppendSSL(nil, ClientSSL|ClientCertSess, 7, TLV{SubtypeSSLVersion, []byte("TLSv1.2")}, TLV{SubtypeSSLCN, nil})
	in := v2Header(0x21, 0x11, block4("192.0.2.1", "192.0.2.2", 1, 2),
		tlv(TypeALPN, []byte("http/1.1")), tlv(TypeAuthority, []byte("a.example")),
		tlv(TypeAuthority, []byte("b.example")), tlv(TypeUniqueID, []byte{0, 1, 2}), tlv(TypeSSL, ssl))
	var h Header
	if _, err := Decode(in, &h); err != nil {
		t.Fatal(err)
	}
	if got := string(h.ALPN()); got != "http/1.1" {
		t.Errorf("ALPN = %q", got)
	}
	if got := string(h.Authority()); got != "a.example" {
		t.Errorf("Authority = %q, want the first", got)
	}
	if got := h.UniqueID(); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("UniqueID = %x", got)
	}
	if v, ok := h.TLV(TypeNetNS); ok || v != nil {
		t.Errorf("TLV(NetNS) = %q, %v for an absent TLV", v, ok)
	}
	s, ok := h.SSL()
	if !ok || s.Client != ClientSSL|ClientCertSess || s.Verify != 7 {
		t.Fatalf("SSL() = %+v, %v", s, ok)
	}
	if v, ok := s.SubTLV(SubtypeSSLVersion); !ok || string(v) != "TLSv1.2" {
		t.Errorf("SSL version = %q, %v", v, ok)
	}
	if v, ok := s.SubTLV(SubtypeSSLCN); !ok || len(v) != 0 {
		t.Errorf("SSL CN = %q, %v; want present and empty", v, ok)
	}
	if _, ok := s.SubTLV(SubtypeSSLCipher); ok {
		t.Error("SSL cipher present")
	}
	if got := h.TLVs()[0].Value; cap(got) != len(got) {
		t.Errorf("TLV value capacity %d exceeds its length %d", cap(got), len(got))
	}

	var added Header
	added.AddTLV(TypeSSL, []byte{1, 2})
	if _, ok := added.SSL(); ok {
		t.Error("SSL() accepts a malformed value added with AddTLV")
	}
	for _, tt := range []struct{ got, want string }{
		{Local.String(), "LOCAL"}, {Proxy.String(), "PROXY"}, {Command(9).String(), "Command(9)"},
		{FamilyUnspec.String(), "UNSPEC"}, {FamilyIPv4.String(), "INET"}, {FamilyIPv6.String(), "INET6"},
		{FamilyUnix.String(), "UNIX"}, {Family(4).String(), "Family(4)"},
		{TransportUnspec.String(), "UNSPEC"}, {TransportStream.String(), "STREAM"},
		{TransportDatagram.String(), "DGRAM"}, {Transport(3).String(), "Transport(3)"},
	} {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
