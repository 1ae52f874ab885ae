package proxyproto

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// fuzzSeeds returns headers of every kind, some followed by a payload, and a
// few inputs that are not headers.
func fuzzSeeds() [][]byte {
	tcp4 := block4("192.0.2.1", "198.51.100.2", 56324, 443)
	ssl := AppendSSL(nil, ClientSSL, 0, TLV{SubtypeSSLVersion, []byte("TLSv1.3")}, TLV{SubtypeSSLCN, []byte("cn")})
	return [][]byte{
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + payload),
		[]byte("PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 0\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY UNKNOWN " + maxIPv6 + " " + maxIPv6 + " 65535 65535\r\n"),
		v2Header(0x21, 0x11, tcp4),
		append(v2Header(0x21, 0x12, tcp4), payload...),
		v2Header(0x21, 0x21, block6("2001:db8::1", "::ffff:192.0.2.1", 1, 2), tlv(TypeALPN, []byte("h2"))),
		v2Header(0x21, 0x32, blockUnix("\x00abstract", "/run/x.sock")),
		v2Header(0x20, 0x00),
		v2Header(0x20, 0x11, tcp4, tlv(TypeUniqueID, []byte("id"))),
		v2Header(0x21, 0x00, tlv(TypeNoop, []byte{0, 0})),
		withCRC32C(v2Header(0x21, 0x11, tcp4, tlv(TypeAuthority, []byte("example.org")), tlv(TypeSSL, ssl))),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{0x16, 0x03, 0x01, 0x00, 0x05},
	}
}

// FuzzDecode checks that Decode never panics, that n stays within the input,
// that a result does not depend on how much input arrived (every prefix
// either needs more or gives exactly the result of the whole input, and a
// header is decided by its last byte), that a reader never waits past the
// protocol's limits, and that every header decoded encodes with AppendV2
// (and AppendV1 for version 1) and decodes back to the same header.
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		var whole, part Header
		n, err := Decode(data, &whole)
		if !bytes.Equal(data, orig) {
			t.Fatal("Decode modified its input")
		}
		switch {
		case err == nil && (n <= 0 || n > len(data)):
			t.Fatalf("n = %d for %d bytes", n, len(data))
		case err == codecs.ErrNeedMore && len(data) >= MaxV2Len,
			err == codecs.ErrNeedMore && len(data) >= MaxV1Len && data[0] == 'P':
			t.Fatalf("ErrNeedMore with %d bytes buffered", len(data))
		}
		decided := -1
		for k := 0; k <= len(data); k++ {
			m, perr := Decode(data[:k], &part)
			switch {
			case perr == codecs.ErrNeedMore:
				if decided >= 0 {
					t.Fatalf("prefix of %d bytes needs more after %d bytes gave an answer", k, decided)
				}
				continue
			case perr != err || m != n:
				t.Fatalf("prefix of %d/%d bytes: %d, %v; whole input: %d, %v", k, len(data), m, perr, n, err)
			}
			if decided < 0 {
				decided = k
			}
			if err == nil && k == n {
				if got, want := viewOf(m, &part), viewOf(n, &whole); !reflect.DeepEqual(got, want) {
					t.Fatalf("prefix of %d/%d bytes decodes to\n%+v\nwhole input to\n%+v", k, len(data), got, want)
				}
			}
		}
		if err == nil && decided != n {
			t.Fatalf("a header of %d bytes was decided after %d", n, decided)
		}
		if err == nil {
			checkReencode(t, &whole)
		}
	})
}

// checkReencode encodes a decoded header again and checks that it decodes
// to the same header, up to what encoding normalizes: LOCAL is sent with
// the UNSPEC family, padding is dropped and the checksum recomputed.
func checkReencode(t *testing.T, h *Header) {
	t.Helper()
	want := viewOf(0, h)
	want.Version = 2
	if want.Command == Local {
		want.Family, want.Transport = FamilyUnspec, TransportUnspec
	}
	wire, err := AppendV2(nil, h)
	if err != nil {
		t.Fatalf("AppendV2 of a decoded header %+v: %v", want, err)
	}
	var again Header
	n, err := Decode(wire, &again)
	if err != nil || n != len(wire) {
		t.Fatalf("Decode(AppendV2) = %d, %v for %x", n, err, wire)
	}
	got := viewOf(0, &again)
	for _, v := range []*view{&got, &want} {
		for i := range v.TLVs {
			if v.TLVs[i].Type == TypeCRC32C {
				v.TLVs[i].Value = ""
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("re-encoded as version 2:\n%+v\nwant\n%+v", got, want)
	}
	if h.Version != 1 {
		return
	}
	line := AppendV1(nil, h.Source, h.Destination)
	if n, err = Decode(line, &again); err != nil || n != len(line) {
		t.Fatalf("Decode(AppendV1) = %d, %v for %q", n, err, line)
	}
	if got, want := viewOf(0, &again), viewOf(0, h); !reflect.DeepEqual(got, want) {
		t.Fatalf("re-encoded as version 1:\n%+v\nwant\n%+v", got, want)
	}
}

// FuzzParseAddr checks the address parsers of version 1 against
// netip.ParseAddr, which accepts the same forms and zones besides.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "256.0.0.1",
		"::", "::1", "1::", "2001:db8::1", "2001:0DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
		"::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::2::3", "12345::", "fe80::1%eth0", ":1", "1:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParseAddr(s)
		if got, ok := parseIPv4([]byte(s)); ok != (err == nil && want.Is4()) || ok && got != want {
			t.Fatalf("parseIPv4(%q) = %v, %v; netip: %v, %v", s, got, ok, want, err)
		}
		if got, ok := parseIPv6([]byte(s)); ok != (err == nil && want.Is6() && want.Zone() == "") || ok && got != want {
			t.Fatalf("parseIPv6(%q) = %v, %v; netip: %v, %v", s, got, ok, want, err)
		}
	})
}
