package proxyproto

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAppendV1(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		want     string
	}{
		{"tcp4", ap("192.168.0.1:56324"), ap("192.168.0.11:443"), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"},
		{"tcp4 zero ports", ap("0.0.0.0:0"), ap("255.255.255.255:0"), "PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n"},
		{"tcp6", ap("[2001:db8::1]:65535"), ap("[2001:db8::2]:443"), "PROXY TCP6 2001:db8::1 2001:db8::2 65535 443\r\n"},
		{"tcp6 longest", netip.AddrPortFrom(netip.MustParseAddr(maxIPv6), 65535), netip.AddrPortFrom(netip.MustParseAddr(maxIPv6), 65535),
			"PROXY TCP6 " + maxIPv6 + " " + maxIPv6 + " 65535 65535\r\n"},
		{"tcp6 ipv4-mapped", ap("[::ffff:192.0.2.1]:1"), ap("[::ffff:198.51.100.2]:2"), "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 1 2\r\n"},
		{"zones dropped", ap("[fe80::1%eth0]:1"), ap("[fe80::2%eth0]:2"), "PROXY TCP6 fe80::1 fe80::2 1 2\r\n"},
		{"mixed families", ap("192.0.2.1:1"), ap("[2001:db8::2]:2"), "PROXY UNKNOWN\r\n"},
		{"ipv4 and ipv4-mapped", ap("192.0.2.1:1"), ap("[::ffff:192.0.2.2]:2"), "PROXY UNKNOWN\r\n"},
		{"invalid source", netip.AddrPort{}, ap("192.0.2.2:2"), "PROXY UNKNOWN\r\n"},
		{"both invalid", netip.AddrPort{}, netip.AddrPort{}, "PROXY UNKNOWN\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix:")
			got := AppendV1(bytes.Clone(prefix), tt.src, tt.dst)
			if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != tt.want {
				t.Fatalf("AppendV1 = %q, want %q after the prefix", got, tt.want)
			}
			if len(tt.want) > MaxV1Len {
				t.Fatalf("line of %d bytes", len(tt.want))
			}
		})
	}
}

func TestAppendV2(t *testing.T) {
	ssl := AppendSSL(nil, ClientSSL, 0, TLV{SubtypeSSLVersion, []byte("TLSv1.3")})
	tcp4 := Header{Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
		Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443")}
	withTLVs := func(h Header, tlvs ...TLV) *Header {
		for _, t := range tlvs {
			h.AddTLV(t.Type, t.Value)
		}
		return &h
	}
	tests := []struct {
		name string
		h    *Header
		want []byte
	}{
		{"tcp4", &tcp4, v2Header(0x21, 0x11, block4("192.0.2.1", "198.51.100.2", 56324, 443))},
		{"udp6", &Header{Command: Proxy, Family: FamilyIPv6, Transport: TransportDatagram,
			Source: ap("[2001:db8::1]:5353"), Destination: ap("[2001:db8::2]:53")},
			v2Header(0x21, 0x22, block6("2001:db8::1", "2001:db8::2", 5353, 53))},
		{"tcp6 ipv4-mapped with zone", &Header{Command: Proxy, Family: FamilyIPv6, Transport: TransportStream,
			Source: ap("[::ffff:192.0.2.1]:1"), Destination: ap("[fe80::1%eth0]:2")},
			v2Header(0x21, 0x21, block6("::ffff:192.0.2.1", "fe80::1", 1, 2))},
		{"unix", &Header{Command: Proxy, Family: FamilyUnix, Transport: TransportStream,
			SourcePath: []byte("/run/c.sock"), DestinationPath: []byte(strings.Repeat("d", unixPathLen))},
			v2Header(0x21, 0x31, blockUnix("/run/c.sock", strings.Repeat("d", unixPathLen)))},
		{"proxy unspec", &Header{Command: Proxy}, v2Header(0x21, 0x00)},
		{"local ignores addresses", &Header{Command: Local, Family: FamilyIPv4, Transport: TransportStream,
			Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")}, v2Header(0x20, 0x00)},
		{"local with tlv", withTLVs(Header{}, TLV{TypeUniqueID, []byte("id")}), v2Header(0x20, 0x00, tlv(TypeUniqueID, []byte("id")))},
		{"tlvs in order", withTLVs(tcp4, TLV{TypeAuthority, []byte("example.org")}, TLV{TypeNoop, nil},
			TLV{TypeSSL, ssl}, TLV{TypeALPN, []byte("h2")}),
			v2Header(0x21, 0x11, block4("192.0.2.1", "198.51.100.2", 56324, 443),
				tlv(TypeAuthority, []byte("example.org")), tlv(TypeNoop), tlv(TypeSSL, ssl), tlv(TypeALPN, []byte("h2")))},
		{"crc32c value replaced", withTLVs(tcp4, TLV{TypeALPN, []byte("h2")}, TLV{TypeCRC32C, []byte("ignored")}),
			withCRC32C(v2Header(0x21, 0x11, block4("192.0.2.1", "198.51.100.2", 56324, 443), tlv(TypeALPN, []byte("h2"))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := AppendV2(bytes.Clone(prefix), tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, cat(prefix, tt.want)) {
				t.Fatalf("AppendV2 =\n%x\nwant\n%x", got[len(prefix):], tt.want)
			}
		})
	}
	if got := AppendV2Local([]byte("x")); !bytes.Equal(got, cat([]byte("x"), v2Header(0x20, 0x00))) {
		t.Errorf("AppendV2Local = %x", got)
	}
}

func TestAppendV2Errors(t *testing.T) {
	tcp4 := func() *Header {
		return &Header{Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
			Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")}
	}
	with := func(h *Header, typ byte, value []byte) *Header {
		h.AddTLV(typ, value)
		return h
	}
	modify := func(f func(h *Header)) *Header {
		h := tcp4()
		f(h)
		return h
	}
	tests := []struct {
		name    string
		h       *Header
		wantErr error
	}{
		{"command 2", modify(func(h *Header) { h.Command = 2 }), errEncodeCommand},
		{"family 4", modify(func(h *Header) { h.Family = 4 }), errEncodeFamily},
		{"family 0x11 overflows the nibble", modify(func(h *Header) { h.Family = 0x11 }), errEncodeFamily},
		{"transport 3", modify(func(h *Header) { h.Transport = 3 }), errEncodeFamily},
		{"ipv4 without transport", modify(func(h *Header) { h.Transport = TransportUnspec }), errEncodeFamily},
		{"unspec with transport", modify(func(h *Header) { h.Family = FamilyUnspec }), errEncodeFamily},
		{"ipv6 addresses in ipv4", modify(func(h *Header) { h.Source = ap("[2001:db8::1]:1") }), errEncodeAddress},
		{"ipv4-mapped in ipv4", modify(func(h *Header) { h.Destination = ap("[::ffff:192.0.2.1]:1") }), errEncodeAddress},
		{"ipv4 in ipv6", modify(func(h *Header) { h.Family = FamilyIPv6 }), errEncodeAddress},
		{"missing address", modify(func(h *Header) { h.Source = netip.AddrPort{} }), errEncodeAddress},
		{"unix path of 109 bytes", modify(func(h *Header) {
			h.Family, h.SourcePath = FamilyUnix, make([]byte, unixPathLen+1)
		}), errEncodePath},
		{"two crc32c", with(with(tcp4(), TypeCRC32C, nil), TypeCRC32C, nil), errEncodeTLV},
		{"unique id of 129 bytes", with(tcp4(), TypeUniqueID, make([]byte, 129)), errEncodeTLV},
		{"malformed ssl", with(tcp4(), TypeSSL, []byte{1, 0, 0, 0, 0, SubtypeSSLVersion, 0, 9}), errEncodeTLV},
		{"tlv value over 65535 bytes", with(tcp4(), 0xE0, make([]byte, 0x10000)), errEncodeTLVLength},
		{"header over 65535 bytes", with(with(tcp4(), 0xE0, make([]byte, 0x8000)), 0xE1, make([]byte, 0x8000)), errEncodeLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 3, 8)
			copy(buf, "abc")
			got, err := AppendV2(buf, tt.h)
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != "abc" {
				t.Fatalf("buffer changed to %q on error", got)
			}
		})
	}
}

// TestRoundTrip encodes headers and checks that they decode to what was
// encoded.
func TestRoundTrip(t *testing.T) {
	ssl := AppendSSL(nil, ClientSSL|ClientCertConn|ClientCertSess, 1,
		TLV{SubtypeSSLVersion, []byte("TLSv1.3")}, TLV{SubtypeSSLCN, []byte("cn")},
		TLV{SubtypeSSLSigAlg, []byte("RSA-SHA256")}, TLV{SubtypeSSLKeyAlg, []byte("RSA2048")},
		TLV{SubtypeSSLSigScheme, []byte("rsa_pss_rsae_sha256")}, TLV{SubtypeSSLClientCert, []byte{0x30, 0x82}})
	t.Run("v1", func(t *testing.T) {
		for _, pair := range [][2]string{
			{"192.0.2.1:1", "198.51.100.2:65535"},
			{"[2001:db8::1]:443", "[::]:0"},
			{"[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:8080"},
			{"[" + maxIPv6 + "]:65535", "[" + maxIPv6 + "]:65535"},
		} {
			src, dst := ap(pair[0]), ap(pair[1])
			line := AppendV1(nil, src, dst)
			var h Header
			n, err := Decode(line, &h)
			if err != nil || n != len(line) || h.Source != src || h.Destination != dst || h.Command != Proxy {
				t.Errorf("%q decodes to %d, %v, %+v", line, n, err, viewOf(n, &h))
			}
		}
		var h Header
		if _, err := Decode(AppendV1(nil, netip.AddrPort{}, netip.AddrPort{}), &h); err != nil || h.Command != Local {
			t.Errorf("UNKNOWN decodes to %v, %v", h.Command, err)
		}
	})
	headers := []Header{
		{Command: Proxy, Family: FamilyIPv4, Transport: TransportStream, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")},
		{Command: Proxy, Family: FamilyIPv4, Transport: TransportDatagram, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")},
		{Command: Proxy, Family: FamilyIPv6, Transport: TransportStream, Source: ap("[2001:db8::1]:1"), Destination: ap("[::ffff:1.2.3.4]:2")},
		{Command: Proxy, Family: FamilyIPv6, Transport: TransportDatagram, Source: ap("[::]:0"), Destination: ap("[::1]:65535")},
		{Command: Proxy, Family: FamilyUnix, Transport: TransportStream, SourcePath: []byte("/a"), DestinationPath: []byte("\x00b")},
		{Command: Proxy, Family: FamilyUnix, Transport: TransportDatagram, SourcePath: []byte{}, DestinationPath: []byte("/run/d")},
		{Command: Proxy},
		{Command: Local},
	}
	for i, base := range headers {
		for _, tlvs := range [][]TLV{
			nil,
			{{TypeCRC32C, nil}},
			{{TypeALPN, []byte("h2")}, {TypeAuthority, []byte("example.org")}, {TypeUniqueID, make([]byte, MaxUniqueIDLen)},
				{TypeSSL, ssl}, {TypeNetNS, []byte("ns")}, {0xEE, []byte{1, 2, 3, 4, 5}}, {TypeCRC32C, nil}},
		} {
			h := &base
			h.tlvs.reset()
			for _, t := range tlvs {
				h.AddTLV(t.Type, t.Value)
			}
			wire, err := AppendV2(nil, h)
			if err != nil {
				t.Fatalf("header %d: %v", i, err)
			}
			var got Header
			n, err := Decode(wire, &got)
			if err != nil || n != len(wire) {
				t.Fatalf("header %d: Decode = %d, %v; want %d", i, n, err, len(wire))
			}
			want := viewOf(n, h)
			want.Version = 2
			if h.Family != FamilyUnix {
				want.SourcePath, want.DestinationPath = "", ""
			}
			for j, tv := range want.TLVs {
				if tv.Type == TypeCRC32C {
					want.TLVs[j].Value = string(wire[len(wire)-4:]) // the last TLV
				}
			}
			if g := viewOf(n, &got); !reflect.DeepEqual(g, want) {
				t.Errorf("header %d round trip:\n%+v\nwant\n%+v", i, g, want)
			}
		}
	}
}
