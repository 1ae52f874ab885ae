package clienthello

import (
	"bytes"
	"crypto/tls"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

var (
	tls13Suites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}
	classical   = []Group{X25519, Secp256r1, Secp384r1, Secp521r1}
	bothTLS     = []uint16{tls.VersionTLS13, tls.VersionTLS12}
)

// TestParseCryptoTLSClient parses real hellos from crypto/tls clients and
// checks every field against the client's configuration and against what a
// crypto/tls server decodes from the same bytes.
func TestParseCryptoTLSClient(t *testing.T) {
	tests := []struct {
		name   string
		config *tls.Config
		want   view // N and CipherSuites are checked separately
		tls13  bool // TLS 1.3 suites offered
	}{
		{
			name:   "sni and alpn with default groups",
			config: &tls.Config{ServerName: "www.example.org", NextProtos: []string{"h2", "http/1.1"}},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: bothTLS, HasSessionID: true,
				ServerName: []byte("www.example.org"), ALPN: []string{"h2", "http/1.1"},
				SupportedGroups: goDefault, KeyShareGroups: []Group{X25519MLKEM768, X25519},
				OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
		{
			name:   "x25519 only",
			config: &tls.Config{ServerName: "example.org", CurvePreferences: []tls.CurveID{tls.X25519}},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: bothTLS, HasSessionID: true,
				ServerName: []byte("example.org"), SupportedGroups: []Group{X25519}, KeyShareGroups: []Group{X25519},
			},
			tls13: true,
		},
		{
			name:   "ml-kem hybrid only",
			config: &tls.Config{ServerName: "pq.example.org", CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: bothTLS, HasSessionID: true,
				ServerName: []byte("pq.example.org"), SupportedGroups: []Group{X25519MLKEM768},
				KeyShareGroups: []Group{X25519MLKEM768}, OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
		{
			name: "secp256r1 hybrid with fallback share",
			config: &tls.Config{ServerName: "pq.example.org",
				CurvePreferences: []tls.CurveID{tlsSecP256r1MLKEM768, tls.CurveP256}},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: bothTLS, HasSessionID: true,
				ServerName: []byte("pq.example.org"), SupportedGroups: []Group{SecP256r1MLKEM768, Secp256r1},
				KeyShareGroups: []Group{SecP256r1MLKEM768, Secp256r1}, OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
		{
			name:   "tls 1.2 only",
			config: &tls.Config{ServerName: "legacy.example.org", MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: []uint16{tls.VersionTLS12}, HasSessionID: true,
				ServerName: []byte("legacy.example.org"), ALPN: []string{"http/1.1"}, SupportedGroups: classical,
			},
		},
		{
			name:   "tls 1.3 only",
			config: &tls.Config{ServerName: "modern.example.org", MinVersion: tls.VersionTLS13},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: []uint16{tls.VersionTLS13}, HasSessionID: true,
				ServerName: []byte("modern.example.org"), SupportedGroups: goDefault,
				KeyShareGroups: []Group{X25519MLKEM768, X25519}, OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
		{
			name:   "ip address sends no sni",
			config: &tls.Config{ServerName: "192.0.2.1"},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: bothTLS, HasSessionID: true,
				SupportedGroups: goDefault, KeyShareGroups: []Group{X25519MLKEM768, X25519},
				OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
		{
			name: "encrypted client hello",
			config: &tls.Config{ServerName: "secret.example.org", MinVersion: tls.VersionTLS13,
				EncryptedClientHelloConfigList: echConfigList(t, "public.example.org")},
			want: view{
				LegacyVersion: tls.VersionTLS12, SupportedVersions: []uint16{tls.VersionTLS13}, HasSessionID: true,
				ServerName: []byte("public.example.org"), SupportedGroups: goDefault,
				KeyShareGroups: []Group{X25519MLKEM768, X25519}, HasECH: true,
				OffersPostQuantum: true, KeySharePostQuantum: true,
			},
			tls13: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.config != nil && slices.Contains(tt.config.CurvePreferences, 0) {
				t.Skip("this Go's crypto/tls does not offer the group (see tls125_test.go)")
			}
			wire := captureHello(t, tt.config)
			var h Hello
			n, err := Parse(wire, &h)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(wire) {
				t.Errorf("n = %d, want %d", n, len(wire))
			}
			got := viewOf(n, &h)
			checkSuites(t, got.CipherSuites, tt.tls13, tt.config.MaxVersion != tls.VersionTLS12 && tt.config.MinVersion == tls.VersionTLS13)
			if len(got.SignatureAlgorithms) == 0 || !slices.Contains(got.SignatureAlgorithms, uint16(tls.ECDSAWithP256AndSHA256)) ||
				!slices.Contains(got.SignatureAlgorithms, uint16(tls.PSSWithSHA256)) {
				t.Errorf("SignatureAlgorithms = %x, want the crypto/tls defaults", got.SignatureAlgorithms)
			}
			for _, typ := range []uint16{extServerName, extALPN, extSupportedVersions, extKeyShare} {
				present := slices.Contains(got.Extensions, typ)
				var want bool
				switch typ {
				case extServerName:
					want = tt.want.ServerName != nil
				case extALPN:
					want = tt.want.ALPN != nil
				case extSupportedVersions:
					want = tt.want.SupportedVersions != nil
				case extKeyShare:
					want = tt.want.KeyShareGroups != nil
				}
				if present != want {
					t.Errorf("extension %#04x present = %v, want %v (extensions %x)", typ, present, want, got.Extensions)
				}
			}
			tt.want.N = n
			tt.want.CipherSuites = got.CipherSuites
			tt.want.SignatureAlgorithms = got.SignatureAlgorithms
			tt.want.Extensions = got.Extensions
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
			checkAgainstCryptoTLS(t, &h, cryptoTLSView(wire)) // without ECH keys it sees the outer hello
		})
	}
}

// checkSuites checks that suites holds only suites crypto/tls implements,
// TLS 1.3 ones exactly when tls13 is set, and only those when tls13Only is.
func checkSuites(t *testing.T, suites []uint16, tls13, tls13Only bool) {
	t.Helper()
	if len(suites) == 0 {
		t.Fatal("no cipher suites")
	}
	known := map[uint16]bool{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[s.ID] = true
	}
	var n13 int
	for _, s := range suites {
		if !known[s] {
			t.Errorf("unknown cipher suite %#04x", s)
		}
		if slices.Contains(tls13Suites, s) {
			n13++
		}
	}
	switch {
	case tls13 && n13 != len(tls13Suites):
		t.Errorf("suites %x: want all TLS 1.3 suites", suites)
	case !tls13 && n13 != 0:
		t.Errorf("suites %x: want no TLS 1.3 suites", suites)
	case tls13Only && n13 != len(suites):
		t.Errorf("suites %x: want only TLS 1.3 suites", suites)
	}
}

// defaultHello is the first flight of a default crypto/tls client with SNI
// and ALPN: X25519MLKEM768 key share included, about 1.5 KB.
func defaultHello(t testing.TB) []byte {
	return captureHello(t, &tls.Config{ServerName: "www.example.org", NextProtos: []string{"h2", "http/1.1"}})
}

// TestParseRecordSplits checks that a hello re-framed into several records
// parses to the same fields, with n covering every record.
func TestParseRecordSplits(t *testing.T) {
	wire := defaultHello(t)
	var h Hello
	n, err := Parse(wire, &h)
	if err != nil {
		t.Fatal(err)
	}
	want := viewOf(n, &h)
	msg := wire[recordHeaderLen:]
	sni := bytes.Index(msg, []byte("www.example.org"))
	tests := []struct {
		name string
		wire []byte
	}{
		{"two records", reframe(wire, len(msg)/2)},
		{"split inside the handshake header", reframe(wire, 2)},
		{"split inside the server name", reframe(wire, sni+3)},
		{"three records", reframe(wire, 100, 700)},
		{"one byte per record", reframeEvery(wire, 1)},
		{"ten bytes per record", reframeEvery(wire, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			n, err := Parse(tt.wire, &h)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := viewOf(n, &h)
			want.N = len(tt.wire)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
			checkAgainstCryptoTLS(t, &h, cryptoTLSView(tt.wire))
		})
	}
}

// TestParseIncremental delivers hellos one byte at a time: every proper
// prefix needs more, the full input parses, and bytes after it are not
// consumed.
func TestParseIncremental(t *testing.T) {
	wire := defaultHello(t)
	tests := []struct {
		name string
		wire []byte
	}{
		{"one record", wire},
		{"two records", reframe(wire, 300)},
		{"one byte per record", reframeEvery(wire, 1)},
	}
	changeCipherSpec := []byte{0x14, 3, 3, 0, 1, 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			for k := range len(tt.wire) {
				if _, err := Parse(tt.wire[:k], &h); err != codecs.ErrNeedMore {
					t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrNeedMore", k, len(tt.wire), err)
				}
			}
			if n, err := Parse(append(tt.wire, changeCipherSpec...), &h); err != nil || n != len(tt.wire) {
				t.Fatalf("Parse = %d, %v; want %d, nil", n, err, len(tt.wire))
			}
		})
	}
}

// TestParseErrors checks that each kind of bad input fails with its own
// error, as early as the bytes allow.
func TestParseErrors(t *testing.T) {
	valid := builtHello(ext(extServerName, vec16([]byte{hostNameType}, vec16([]byte("a.example")))))
	validMsg := valid[recordHeaderLen:]
	huge := handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), []byte{0},
		[][]byte{ext(0xffaa, make([]byte, 6000))}))
	// 5460 records of 6 bytes and one of 8 end exactly at MaxWireSize.
	wireLimitSplits := append(slices.Repeat([]int{1}, (MaxWireSize-8)/6), 3)
	body := func(exts ...[]byte) []byte { // a hello with exts and a valid rest
		return record(handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), []byte{0}, exts)))
	}
	sni := func(names ...[]byte) []byte { return ext(extServerName, vec16(names...)) }
	hostName := func(name string) []byte { return cat([]byte{hostNameType}, vec16([]byte(name))) }
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"plain http after one byte", []byte("G"), ErrNotTLS},
		{"plain http", []byte("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"), ErrNotTLS},
		{"sslv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, ErrNotTLS},
		{"record version 2", []byte{recordTypeHandshake, 2}, ErrNotTLS},
		{"alert record", []byte{0x15, 3, 3, 0, 2, 2, 40}, ErrNotTLS},
		{"server hello", []byte{recordTypeHandshake, 3, 3, 0, 50, 2}, ErrNotClientHello},
		{"message over the size limit", []byte{recordTypeHandshake, 3, 1, 0x40, 0, typeClientHello, 0, 0x40, 0x01}, ErrTooLarge},
		{"records past the wire limit", reframeEvery(record(huge), 1), ErrTooLarge},
		{"records end at the wire limit", reframe(record(huge), wireLimitSplits...)[:MaxWireSize], ErrTooLarge},
		{"record crosses the wire limit", reframe(record(huge), slices.Repeat([]int{1}, 5400)...), ErrTooLarge},
		{"record overflow", []byte{recordTypeHandshake, 3, 1, 0x40, 0x01}, errRecordOverflow},
		{"empty record", []byte{recordTypeHandshake, 3, 1, 0, 0}, errEmptyRecord},
		{"alert between fragments", cat(record(validMsg[:10]), []byte{0x15, 3, 3, 0, 2}), errInterleaved},
		{"bad version between fragments", cat(record(validMsg[:10]), []byte{recordTypeHandshake, 1}), errInterleaved},
		{"trailing byte in record", record(cat(validMsg, []byte{0})), errTrailingData},
		{"second message in record", record(cat(validMsg, handshakeMsg(typeClientHello, nil))), errTrailingData},
		{"garbage body", record(handshakeMsg(typeClientHello, []byte{0xde, 0xad, 0xbe, 0xef})), errTruncatedBody},
		{"empty body", record(handshakeMsg(typeClientHello, nil)), errTruncatedBody},
		{"session id overruns", record(handshakeMsg(typeClientHello, cat(u16s(0x0303), make([]byte, 32), []byte{5, 1}))), errTruncatedBody},
		{"session id of 33 bytes", record(handshakeMsg(typeClientHello, helloBody(make([]byte, 33), u16s(0x1301), []byte{0}, nil))), errSessionID},
		{"no cipher suites", record(handshakeMsg(typeClientHello, helloBody(nil, nil, []byte{0}, nil))), errCipherSuites},
		{"odd cipher suites", record(handshakeMsg(typeClientHello, helloBody(nil, []byte{0x13, 0x01, 0x13}, []byte{0}, nil))), errCipherSuites},
		{"compression methods overrun", record(handshakeMsg(typeClientHello, cat(u16s(0x0303), make([]byte, 32), vec8(), vec16(u16s(0x1301)), []byte{2, 0}))), errTruncatedBody},
		{"cipher suites overrun", record(handshakeMsg(typeClientHello, cat(u16s(0x0303), make([]byte, 32), vec8(), u16s(4), u16s(0x1301)))), errTruncatedBody},
		{"no compression methods", record(handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), nil, nil))), errCompression},
		{"extension block short", record(handshakeMsg(typeClientHello, cat(helloBody(nil, u16s(0x1301), []byte{0}, nil), u16s(10), ext(0xffaa)))), errExtensions},
		{"byte after extensions", record(handshakeMsg(typeClientHello, cat(helloBody(nil, u16s(0x1301), []byte{0}, [][]byte{}), []byte{0}))), errExtensions},
		{"extension overruns block", record(handshakeMsg(typeClientHello, cat(helloBody(nil, u16s(0x1301), []byte{0}, nil), vec16(u16s(0xffaa, 9))))), errExtensions},
		{"extension type truncated", record(handshakeMsg(typeClientHello, cat(helloBody(nil, u16s(0x1301), []byte{0}, nil), vec16([]byte{0xff})))), errExtensions},
		{"duplicate extension", body(ext(0xffaa), ext(extECH), ext(0xffaa)), errDuplicateExtension},
		{"pre_shared_key not last", body(ext(extPreSharedKey), ext(0xffaa)), errPSKNotLast},
		{"empty server name list", body(sni()), errServerName},
		{"empty host name", body(sni(hostName(""))), errServerName},
		{"two host names", body(sni(hostName("a.example"), hostName("b.example"))), errServerName},
		{"host name with trailing dot", body(sni(hostName("a.example."))), errServerName},
		{"bytes after server name list", body(ext(extServerName, vec16(hostName("a.example")), []byte{0})), errServerName},
		{"empty alpn list", body(ext(extALPN, vec16())), errALPN},
		{"empty alpn protocol", body(ext(extALPN, vec16(vec8([]byte("h2")), vec8()))), errALPN},
		{"odd supported groups", body(ext(extSupportedGroups, vec16([]byte{0, 0x1d, 0}))), errSupportedGroups},
		{"empty supported groups", body(ext(extSupportedGroups, vec16())), errSupportedGroups},
		{"empty signature algorithms", body(ext(extSignatureAlgs, vec16())), errSignatureAlgs},
		{"empty supported versions", body(ext(extSupportedVersions, vec8())), errSupportedVersions},
		{"supported versions overrun", body(ext(extSupportedVersions, []byte{4, 3, 4})), errSupportedVersions},
		{"empty key share key", body(ext(extKeyShare, vec16(u16s(uint16(X25519)), vec16()))), errKeyShare},
		{"key share of one byte", body(ext(extKeyShare, vec16([]byte{0}))), errKeyShare},
		{"server name type only", body(ext(extServerName, vec16([]byte{hostNameType}))), errServerName},
		{"bytes after key share list", body(ext(extKeyShare, vec16(), []byte{0})), errKeyShare},
		{"key share truncated", body(ext(extKeyShare, vec16(u16s(uint16(X25519))))), errKeyShare},
	}
	messages := map[string]error{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			n, err := Parse(tt.wire, &h)
			if err != tt.want {
				t.Fatalf("Parse = %d, %v; want %v", n, err, tt.want)
			}
			if n != 0 || !reflect.DeepEqual(viewOf(0, &h), view{}) {
				t.Errorf("failed Parse left n = %d, h = %+v", n, viewOf(0, &h))
			}
			topLevel := err == ErrNotTLS || err == ErrNotClientHello || err == ErrTooLarge
			if errors.Is(err, ErrMalformed) == topLevel {
				t.Errorf("errors.Is(%v, ErrMalformed) = %v", err, !topLevel)
			}
		})
		if other, ok := messages[tt.want.Error()]; ok && other != tt.want {
			t.Errorf("two errors share the message %q", tt.want.Error())
		}
		messages[tt.want.Error()] = tt.want
	}
	if !errors.Is(ErrTooLarge, codecs.ErrTooLarge) {
		t.Error("ErrTooLarge does not wrap codecs.ErrTooLarge")
	}
	if _, err := Parse(valid, new(Hello)); err != nil {
		t.Errorf("the valid base hello fails: %v", err)
	}
}

// TestParseBuilt covers what crypto/tls clients do not send: GREASE,
// draft and pure ML-KEM groups, an offer without a post-quantum key share,
// hellos without extensions and lists longer than the inline storage.
func TestParseBuilt(t *testing.T) {
	const grease = 0x0a0a
	manySuites := make([]uint16, 40)
	var manyExts [][]byte
	var manyTypes []uint16
	for i := range manySuites {
		manySuites[i] = uint16(0xc000 + i)
		manyExts = append(manyExts, ext(uint16(0xff00+i), []byte{byte(i)}))
		manyTypes = append(manyTypes, uint16(0xff00+i))
	}
	tests := []struct {
		name string
		wire []byte
		want view
	}{
		{
			name: "no extensions",
			wire: record(handshakeMsg(typeClientHello, helloBody([]byte{1, 2, 3}, u16s(0xc02f, 0x009c), []byte{0}, nil))),
			want: view{LegacyVersion: tls.VersionTLS12, CipherSuites: []uint16{0xc02f, 0x009c}, HasSessionID: true},
		},
		{
			name: "empty extension block",
			wire: builtHello(),
			want: view{LegacyVersion: tls.VersionTLS12, CipherSuites: []uint16{0x1301}},
		},
		{
			name: "grease and a classical key share",
			wire: builtHello(
				ext(grease),
				ext(extSupportedGroups, vec16(u16s(grease, uint16(X25519MLKEM768), uint16(X25519)))),
				ext(extKeyShare, vec16(u16s(grease), vec8(nil)[:0], vec16([]byte{0}), u16s(uint16(X25519)), vec16(make([]byte, 32)))),
				ext(extSupportedVersions, vec8(u16s(grease, tls.VersionTLS13))),
			),
			want: view{
				LegacyVersion: tls.VersionTLS12, CipherSuites: []uint16{0x1301},
				SupportedVersions: []uint16{grease, tls.VersionTLS13},
				SupportedGroups:   []Group{grease, X25519MLKEM768, X25519}, KeyShareGroups: []Group{grease, X25519},
				Extensions:        []uint16{grease, extSupportedGroups, extKeyShare, extSupportedVersions},
				OffersPostQuantum: true,
			},
		},
		{
			name: "kyber draft and pure ml-kem",
			wire: builtHello(
				ext(extSupportedGroups, vec16(u16s(uint16(X25519Kyber768Draft00), uint16(MLKEM1024)))),
				ext(extKeyShare, vec16(u16s(uint16(MLKEM1024)), vec16(make([]byte, 1568)))),
			),
			want: view{
				LegacyVersion: tls.VersionTLS12, CipherSuites: []uint16{0x1301},
				SupportedGroups: []Group{X25519Kyber768Draft00, MLKEM1024}, KeyShareGroups: []Group{MLKEM1024},
				Extensions:        []uint16{extSupportedGroups, extKeyShare},
				OffersPostQuantum: true, KeySharePostQuantum: true,
			},
		},
		{
			name: "empty key share list and a non host_name server name",
			wire: builtHello(
				ext(extServerName, vec16([]byte{7}, vec16([]byte("x")), []byte{hostNameType}, vec16([]byte("a.example")))),
				ext(extKeyShare, vec16()),
				ext(extPreSharedKey, []byte{1}),
			),
			want: view{
				LegacyVersion: tls.VersionTLS12, CipherSuites: []uint16{0x1301}, ServerName: []byte("a.example"),
				Extensions: []uint16{extServerName, extKeyShare, extPreSharedKey},
			},
		},
		{
			name: "lists longer than inline storage",
			wire: record(handshakeMsg(typeClientHello, helloBody(nil, u16s(manySuites...), []byte{0}, manyExts))),
			want: view{LegacyVersion: tls.VersionTLS12, CipherSuites: manySuites, Extensions: manyTypes},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			n, err := Parse(tt.wire, &h)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.N = len(tt.wire)
			if got := viewOf(n, &h); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	t.Run("duplicate in a long extension list", func(t *testing.T) {
		exts := append(slices.Clone(manyExts), manyExts[3])
		wire := record(handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), []byte{0}, exts)))
		if _, err := Parse(wire, new(Hello)); err != errDuplicateExtension {
			t.Errorf("Parse: %v, want %v", err, errDuplicateExtension)
		}
	})
}

// TestParseReuse checks that parsing into a used Hello leaves nothing of the
// previous input behind, including entries that had spilled to the heap.
func TestParseReuse(t *testing.T) {
	big := make([][]byte, 40)
	for i := range big {
		big[i] = ext(uint16(0xff00+i), nil)
	}
	inputs := [][]byte{
		defaultHello(t),
		record(handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), []byte{0}, big))),
		builtHello(ext(extALPN, vec16(vec8([]byte("h2"))))),
		reframe(defaultHello(t), 40),
	}
	var reused Hello
	for i, in := range append(inputs, inputs...) {
		var fresh Hello
		n1, err1 := Parse(in, &fresh)
		n2, err2 := Parse(in, &reused)
		if err1 != nil || err2 != nil {
			t.Fatalf("input %d: %v, %v", i, err1, err2)
		}
		if a, b := viewOf(n1, &fresh), viewOf(n2, &reused); !reflect.DeepEqual(a, b) {
			t.Errorf("input %d: reused Hello =\n%+v\nfresh\n%+v", i, b, a)
		}
	}
	if _, err := Parse([]byte("GET"), &reused); err != ErrNotTLS || !reflect.DeepEqual(viewOf(0, &reused), view{}) {
		t.Errorf("failed Parse kept %+v", viewOf(0, &reused))
	}
}

// TestParseNoAllocs checks that Parse allocates nothing once the Hello has
// seen a similar input, on every path: single record, reassembly, spilled
// lists and errors.
func TestParseNoAllocs(t *testing.T) {
	wire := defaultHello(t)
	long := make([][]byte, 40)
	for i := range long {
		long[i] = ext(uint16(0xff00+i), nil)
	}
	tests := []struct {
		name string
		wire []byte
	}{
		{"one record", wire},
		{"two records", reframe(wire, 200)},
		{"long lists", record(handshakeMsg(typeClientHello, helloBody(nil, u16s(make([]uint16, 40)...), []byte{0}, long)))},
		{"need more", wire[:100]},
		{"not tls", []byte("GET / HTTP/1.1\r\n")},
		{"malformed", record(cat(wire[recordHeaderLen:], []byte{0}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			Parse(tt.wire, &h)
			if allocs := testing.AllocsPerRun(100, func() { Parse(tt.wire, &h) }); allocs != 0 {
				t.Errorf("Parse allocates %v times per run", allocs)
			}
		})
	}
	t.Run("fresh hello, one record", func(t *testing.T) {
		h := new(Hello)
		if allocs := testing.AllocsPerRun(100, func() { Parse(wire, h); h = new(Hello) }); allocs > 1 {
			t.Errorf("Parse into a fresh Hello allocates %v times beyond the Hello", allocs-1)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	wire := defaultHello(b)
	benchmarks := []struct {
		name string
		wire []byte
	}{
		{"default-pq", wire},
		{"tls12", captureHello(b, &tls.Config{ServerName: "legacy.example.org", MaxVersion: tls.VersionTLS12})},
		{"two-records", reframe(wire, len(wire)/2)},
		{"not-tls", []byte("GET / HTTP/1.1\r\n")},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			var h Hello
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.wire)))
			for b.Loop() {
				Parse(bm.wire, &h)
			}
		})
	}
}
