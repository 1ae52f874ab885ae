package proxyproto

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	pires "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// The tests in this file cross-check the codec with
// github.com/pires/go-proxyproto, an independent implementation used by
// Traefik, Caddy and others: what one writes the other must read the same.

// piresHeaders returns headers built with go-proxyproto, with the view our
// decoder must produce from what it writes.
func piresHeaders(t *testing.T) []struct {
	name string
	h    *pires.Header
	want view
} {
	tcp := func(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap(s)) }
	udp := func(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap(s)) }
	unix := func(network, name string) *net.UnixAddr { return &net.UnixAddr{Name: name, Net: network} }
	ssl, err := tlvparse.PP2SSL{
		Client: tlvparse.PP2_BITFIELD_CLIENT_SSL | tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN,
		Verify: 0,
		TLV: []pires.TLV{
			{Type: pires.PP2_SUBTYPE_SSL_VERSION, Value: []byte("TLSv1.3")},
			{Type: pires.PP2_SUBTYPE_SSL_CN, Value: []byte("client.example.org")},
			{Type: pires.PP2_SUBTYPE_SSL_CIPHER, Value: []byte("TLS_AES_256_GCM_SHA384")},
		},
	}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	withTLVs := func(h *pires.Header) *pires.Header {
		err := h.SetTLVs([]pires.TLV{
			{Type: pires.PP2_TYPE_ALPN, Value: []byte("h2")},
			{Type: pires.PP2_TYPE_AUTHORITY, Value: []byte("example.org")},
			{Type: pires.PP2_TYPE_UNIQUE_ID, Value: []byte("req-42")},
			ssl,
			{Type: pires.PP2_TYPE_NETNS, Value: []byte("blue")},
			{Type: 0xEA, Value: []byte("\x01vpce-0123456789abcdef")},
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tlvViews := []tlvView{{TypeALPN, "h2"}, {TypeAuthority, "example.org"}, {TypeUniqueID, "req-42"},
		{TypeSSL, string(ssl.Value)}, {TypeNetNS, "blue"}, {0xEA, "\x01vpce-0123456789abcdef"}}
	ipView := func(version int, fam Family, tr Transport, src, dst string) view {
		return view{Version: version, Command: Proxy, Family: fam, Transport: tr, Source: ap(src), Destination: ap(dst)}
	}
	return []struct {
		name string
		h    *pires.Header
		want view
	}{
		{"v1 tcp4", pires.HeaderProxyFromAddrs(1, tcp("192.0.2.1:56324"), tcp("198.51.100.2:443")),
			ipView(1, FamilyIPv4, TransportStream, "192.0.2.1:56324", "198.51.100.2:443")},
		{"v1 tcp6", pires.HeaderProxyFromAddrs(1, tcp("[2001:db8::1]:1"), tcp("[2001:db8::2]:65535")),
			ipView(1, FamilyIPv6, TransportStream, "[2001:db8::1]:1", "[2001:db8::2]:65535")},
		{"v1 unknown", &pires.Header{Version: 1, Command: pires.LOCAL, TransportProtocol: pires.UNSPEC},
			view{Version: 1, Command: Local}},
		{"v2 tcp4", pires.HeaderProxyFromAddrs(2, tcp("192.0.2.1:56324"), tcp("198.51.100.2:443")),
			ipView(2, FamilyIPv4, TransportStream, "192.0.2.1:56324", "198.51.100.2:443")},
		{"v2 udp4", pires.HeaderProxyFromAddrs(2, udp("192.0.2.1:5353"), udp("198.51.100.2:53")),
			ipView(2, FamilyIPv4, TransportDatagram, "192.0.2.1:5353", "198.51.100.2:53")},
		{"v2 tcp6", pires.HeaderProxyFromAddrs(2, tcp("[2001:db8::1]:1"), tcp("[2001:db8::2]:2")),
			ipView(2, FamilyIPv6, TransportStream, "[2001:db8::1]:1", "[2001:db8::2]:2")},
		{"v2 udp6", pires.HeaderProxyFromAddrs(2, udp("[2001:db8::1]:1"), udp("[2001:db8::2]:2")),
			ipView(2, FamilyIPv6, TransportDatagram, "[2001:db8::1]:1", "[2001:db8::2]:2")},
		{"v2 unix stream", pires.HeaderProxyFromAddrs(2, unix("unix", "/run/client.sock"), unix("unix", "/run/server.sock")),
			view{Version: 2, Command: Proxy, Family: FamilyUnix, Transport: TransportStream,
				SourcePath: "/run/client.sock", DestinationPath: "/run/server.sock"}},
		{"v2 unix datagram", pires.HeaderProxyFromAddrs(2, unix("unixgram", "/a"), unix("unixgram", "/b")),
			view{Version: 2, Command: Proxy, Family: FamilyUnix, Transport: TransportDatagram,
				SourcePath: "/a", DestinationPath: "/b"}},
		{"v2 local", &pires.Header{Version: 2, Command: pires.LOCAL, TransportProtocol: pires.UNSPEC},
			view{Version: 2, Command: Local}},
		{"v2 tcp4 with tlvs", withTLVs(pires.HeaderProxyFromAddrs(2, tcp("192.0.2.1:1"), tcp("192.0.2.2:2"))),
			view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2"), TLVs: tlvViews}},
		{"v2 local with tlvs", withTLVs(&pires.Header{Version: 2, Command: pires.LOCAL, TransportProtocol: pires.UNSPEC}),
			view{Version: 2, Command: Local, TLVs: tlvViews}},
	}
}

// TestInteropPiresWrites decodes headers go-proxyproto writes.
func TestInteropPiresWrites(t *testing.T) {
	for _, tt := range piresHeaders(t) {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := tt.h.Format()
			if err != nil {
				t.Fatal(err)
			}
			tt.want.N = len(wire)
			checkDecode(t, Decoder{}, wire, tt.want, nil)
			var h Header
			if _, err := Decode(wire, &h); err != nil {
				t.Fatal(err)
			}
			if s, ok := h.SSL(); ok {
				if v, _ := s.SubTLV(SubtypeSSLCN); string(v) != "client.example.org" || s.Client != ClientSSL|ClientCertConn {
					t.Errorf("SSL = %+v, CN %q", s, v)
				}
			}
		})
	}
}

// TestInteropPiresReads has go-proxyproto read headers we write and checks
// that it sees what we encoded, then re-encodes them and checks that it
// writes back the same bytes.
func TestInteropPiresReads(t *testing.T) {
	for _, tt := range piresHeaders(t) {
		t.Run(tt.name, func(t *testing.T) {
			ours := headerOf(tt.want)
			var wire []byte
			if tt.want.Version == 1 {
				wire = AppendV1(nil, ours.Source, ours.Destination)
			} else {
				var err error
				if wire, err = AppendV2(nil, ours); err != nil {
					t.Fatal(err)
				}
			}
			got, err := pires.Read(bufio.NewReader(bytes.NewReader(append(wire, payload...))))
			if err != nil {
				t.Fatalf("go-proxyproto cannot read %x: %v", wire, err)
			}
			if !got.EqualsTo(tt.h) { // TLVs included
				t.Errorf("go-proxyproto reads\n%+v\nwant\n%+v", got, tt.h)
			}
			if back, err := got.Format(); err != nil || !bytes.Equal(back, wire) {
				t.Errorf("go-proxyproto writes back %x, %v; we wrote %x", back, err, wire)
			}
		})
	}
}

// TestInteropPiresSSLAndCRC32C checks that go-proxyproto reads an SSL TLV
// built with AppendSSL and a header with a checksum we computed, which it
// keeps as a TLV.
func TestInteropPiresSSLAndCRC32C(t *testing.T) {
	h := &Header{Command: Proxy, Family: FamilyIPv6, Transport: TransportStream,
		Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:2")}
	h.AddTLV(TypeSSL, AppendSSL(nil, ClientSSL|ClientCertSess, 0,
		TLV{SubtypeSSLVersion, []byte("TLSv1.3")}, TLV{SubtypeSSLCN, []byte("client.example.org")},
		TLV{SubtypeSSLCipher, []byte("TLS_CHACHA20_POLY1305_SHA256")}, TLV{SubtypeSSLSigAlg, []byte("ECDSA-SHA256")}))
	h.AddTLV(TypeCRC32C, nil)
	wire, err := AppendV2(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pires.Read(bufio.NewReader(bytes.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	tlvs, err := got.TLVs()
	if err != nil || len(tlvs) != 2 || tlvs[1].Type != pires.PP2_TYPE_CRC32C || !bytes.Equal(tlvs[1].Value, wire[len(wire)-4:]) {
		t.Fatalf("go-proxyproto reads TLVs %v, %v", tlvs, err)
	}
	ssl, ok := tlvparse.FindSSL(tlvs)
	if !ok || !ssl.ClientSSL() || ssl.ClientCertConn() || !ssl.ClientCertSess() || !ssl.Verified() {
		t.Fatalf("go-proxyproto reads SSL %+v, %v", ssl, ok)
	}
	for _, check := range []struct {
		get  func() (string, bool)
		want string
	}{
		{ssl.SSLVersion, "TLSv1.3"}, {ssl.ClientCN, "client.example.org"},
		{ssl.SSLCipher, "TLS_CHACHA20_POLY1305_SHA256"}, {ssl.SSLSigAlg, "ECDSA-SHA256"},
	} {
		if got, ok := check.get(); !ok || got != check.want {
			t.Errorf("go-proxyproto reads %q, %v; want %q", got, ok, check.want)
		}
	}
}

// headerOf builds the Header a view describes.
func headerOf(v view) *Header {
	h := &Header{Version: v.Version, Command: v.Command, Family: v.Family, Transport: v.Transport,
		Source: v.Source, Destination: v.Destination}
	if v.Family == FamilyUnix {
		h.SourcePath, h.DestinationPath = []byte(v.SourcePath), []byte(v.DestinationPath)
	}
	for _, t := range v.TLVs {
		h.AddTLV(t.Type, []byte(t.Value))
	}
	return h
}

// FuzzPiresAgreement decodes the same bytes with both implementations: when
// both accept a header they must agree on everything go-proxyproto exposes.
// go-proxyproto is more lenient in places (it checks neither CRC32C nor the
// SSL framing) and stricter in others (it refuses PROXY with the UNSPEC
// family), so only headers both accept are compared.
func FuzzPiresAgreement(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4000 { // under go-proxyproto's default size limit
			return
		}
		var h Header
		n, err := Decode(data, &h)
		if err != nil {
			return
		}
		theirs, err := pires.Read(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		got, err := piresView(theirs)
		if err != nil {
			t.Fatalf("go-proxyproto accepts a header but not its TLVs: %v", err)
		}
		if want := ourPiresView(viewOf(n, &h)); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\ngo-proxyproto %+v\nours          %+v", data, got, want)
		}
	})
}

// ourPiresView reduces a view to what go-proxyproto exposes the same way:
// no length, no family for LOCAL (it keeps the family of a LOCAL header only
// when the length fits it), and no name for an abstract UNIX socket.
func ourPiresView(v view) view {
	v.N = 0
	if v.Command == Local {
		v.Family, v.Transport = FamilyUnspec, TransportUnspec
	}
	if strings.HasPrefix(v.SourcePath, "\x00") {
		v.SourcePath = ""
	}
	if strings.HasPrefix(v.DestinationPath, "\x00") {
		v.DestinationPath = ""
	}
	return v
}

// piresView converts what go-proxyproto decoded to a view, leaving out the
// NOOP TLVs it keeps and we drop.
func piresView(h *pires.Header) (view, error) {
	v := view{Version: int(h.Version), Command: Local}
	tlvs, err := h.TLVs()
	if err != nil {
		return view{}, err
	}
	for _, t := range tlvs {
		if t.Type != pires.PP2_TYPE_NOOP {
			v.TLVs = append(v.TLVs, tlvView{byte(t.Type), string(t.Value)})
		}
	}
	if h.Command.IsLocal() {
		return v, nil
	}
	v.Command = Proxy
	tp := byte(h.TransportProtocol)
	v.Family, v.Transport = Family(tp>>4), Transport(tp&0x0f)
	switch a := h.SourceAddr.(type) {
	case *net.TCPAddr:
		v.Source = addrPort(a.IP, a.Port, v.Family)
	case *net.UDPAddr:
		v.Source = addrPort(a.IP, a.Port, v.Family)
	case *net.UnixAddr:
		v.SourcePath = a.Name
	}
	switch a := h.DestinationAddr.(type) {
	case *net.TCPAddr:
		v.Destination = addrPort(a.IP, a.Port, v.Family)
	case *net.UDPAddr:
		v.Destination = addrPort(a.IP, a.Port, v.Family)
	case *net.UnixAddr:
		v.DestinationPath = a.Name
	}
	return v, nil
}

// addrPort converts a net.IP, which does not tell IPv4 from IPv4-mapped
// IPv6, to the netip form of the family.
func addrPort(ip net.IP, port int, fam Family) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	if fam == FamilyIPv4 {
		a = a.Unmap()
	} else {
		a = netip.AddrFrom16(a.As16())
	}
	return netip.AddrPortFrom(a, uint16(port))
}
