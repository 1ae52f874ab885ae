package transport

import (
	"crypto/tls"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"
)

func TestFiltersAdmitNoAllocs(t *testing.T) {
	f := &Filters{
		Allow:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Deny:          []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		MaxConns:      1000,
		MaxConnsPerIP: 10,
		RatePerIP:     1e9,
	}
	ci := ConnInfo{Network: "tcp", Remote: netip.MustParseAddrPort("10.1.2.3:4567")}
	f.Admit(ci)
	f.Release(ci)
	if n := testing.AllocsPerRun(1000, func() {
		if r, _ := f.Admit(ci); r != ReasonNone {
			t.Fatal(r)
		}
		f.Release(ci)
	}); n != 0 {
		t.Errorf("%v allocs per admission", n)
	}
}

// clientHello captures the first flight of a Go TLS client.
func clientHello(t testing.TB, name string) []byte {
	c, s := net.Pipe()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: name, InsecureSkipVerify: true}).Handshake()
	}()
	buf := make([]byte, 4096)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	for {
		// The hello may come in more than one write.
		m, err := readMore(s, buf[n:])
		if m == 0 || err != nil {
			break
		}
		n += m
	}
	s.Close()
	c.Close()
	return buf[:n]
}

func readMore(c net.Conn, b []byte) (int, error) {
	if err := c.SetReadDeadline(timeNowPlus50ms()); err != nil {
		return 0, err
	}
	return c.Read(b)
}

func TestMatchersNoAllocs(t *testing.T) {
	hello := clientHello(t, "www.example.org")
	sni := SNI{Names: []string{"api.example.net", "*.example.org"}}
	prefix := Prefix{[]byte("SSH-"), []byte("GET ")}
	if v := sni.Match(hello); v != Match {
		t.Fatalf("SNI verdict %v", v)
	}
	if v := sni.Match(hello[:100]); v != NeedMore {
		t.Fatalf("partial hello verdict %v", v)
	}
	if n := testing.AllocsPerRun(1000, func() { sni.Match(hello) }); n != 0 {
		t.Errorf("SNI: %v allocs per match", n)
	}
	if n := testing.AllocsPerRun(1000, func() { prefix.Match(hello) }); n != 0 {
		t.Errorf("Prefix: %v allocs per match", n)
	}
}

func BenchmarkSNIMatch(b *testing.B) {
	hello := clientHello(b, "www.example.org")
	sni := SNI{Names: []string{"api.example.net", "*.example.org"}}
	b.ReportAllocs()
	for b.Loop() {
		sni.Match(hello)
	}
}

func BenchmarkFiltersAdmit(b *testing.B) {
	f := &Filters{Deny: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}, MaxConnsPerIP: 10, RatePerIP: 1e12}
	ci := ConnInfo{Network: "tcp", Remote: netip.MustParseAddrPort("10.1.2.3:4567")}
	b.ReportAllocs()
	for b.Loop() {
		f.Admit(ci)
		f.Release(ci)
	}
}

func FuzzPrefixAndSNIMatch(f *testing.F) {
	f.Add(clientHello(f, "a.example.org"), 10)
	f.Add([]byte("SSH-2.0-x"), 3)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		sni := SNI{Names: []string{"*.example.org"}}
		full := sni.Match(data)
		if cut >= 0 && cut < len(data) {
			// A verdict on a prefix is NeedMore or the same as on the whole.
			if v := sni.Match(data[:cut]); v != NeedMore && v != full {
				t.Fatalf("prefix verdict %v, whole %v", v, full)
			}
		}
		Prefix{[]byte("SSH-")}.Match(data)
	})
}

func timeNowPlus50ms() time.Time { return time.Now().Add(50 * time.Millisecond) }

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.1.2.3/8", "192.0.2.7", "::1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "2001:db8::/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad prefix must be refused")
	}
}

// TestIdleStreamSize guards what every open connection pays for its stream:
// the fields only congested, parked or PROXY-addressed streams need live in
// streamExtra, so the stream fits the 112-byte size class.
func TestIdleStreamSize(t *testing.T) {
	if n := unsafe.Sizeof(loopStream{}); n > 112 {
		t.Errorf("loopStream is %d bytes, want <= 112 (move rarely used fields to streamExtra)", n)
	}
}
