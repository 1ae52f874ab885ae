package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
)

// TestHAProxy relays connections through HAProxy, the reference
// implementation, over loopback sockets: HAProxy must accept the headers we
// encode (it verifies CRC32C), and we must decode the headers it sends with
// send-proxy (version 1) and send-proxy-v2 with a checksum and a unique ID.
// It skips when haproxy is not installed; CI installs it (apt-get install
// haproxy).
func TestHAProxy(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed; install it to run this interoperability test")
	}
	hp := startHAProxy(t, bin)

	v2 := func(src, dst string, tlvs ...TLV) []byte {
		h := &Header{Command: Proxy, Transport: TransportStream, Source: ap(src), Destination: ap(dst), Family: FamilyIPv4}
		if h.Source.Addr().Is6() {
			h.Family = FamilyIPv6
		}
		for _, t := range tlvs {
			h.AddTLV(t.Type, t.Value)
		}
		wire, err := AppendV2(nil, h)
		if err != nil {
			t.Fatal(err)
		}
		return wire
	}
	crc := TLV{TypeCRC32C, nil}
	tests := []struct {
		name     string
		frontend string // a unix socket with accept-proxy, "" for TCP without
		header   []byte
		want     view // the header the upstream receives, N and the CRC32C value left out
	}{
		{"v2 tcp4 with crc32c to v2", "v2.sock",
			v2("203.0.113.7:51234", "198.51.100.1:443", TLV{TypeAuthority, []byte("example.org")}, crc),
			view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("203.0.113.7:51234"), Destination: ap("198.51.100.1:443"),
				TLVs: []tlvView{{TypeCRC32C, ""}, {TypeUniqueID, "203.0.113.7:51234"}}}},
		{"v2 tcp6 to v2", "v2.sock", v2("[2001:db8::7]:1", "[2001:db8::1]:65535"),
			view{Version: 2, Command: Proxy, Family: FamilyIPv6, Transport: TransportStream,
				Source: ap("[2001:db8::7]:1"), Destination: ap("[2001:db8::1]:65535"),
				TLVs: []tlvView{{TypeCRC32C, ""}, {TypeUniqueID, "2001:db8::7:1"}}}},
		{"v1 tcp4 to v2", "v2.sock", AppendV1(nil, ap("192.0.2.1:80"), ap("192.0.2.2:8080")),
			view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:80"), Destination: ap("192.0.2.2:8080"),
				TLVs: []tlvView{{TypeCRC32C, ""}, {TypeUniqueID, "192.0.2.1:80"}}}},
		{"v2 tcp6 to v1", "v1.sock", v2("[2001:db8::7]:1234", "[2001:db8::1]:443", crc),
			view{Version: 1, Command: Proxy, Family: FamilyIPv6, Transport: TransportStream,
				Source: ap("[2001:db8::7]:1234"), Destination: ap("[2001:db8::1]:443")}},
		{"v1 tcp4 to v1", "v1.sock", AppendV1(nil, ap("192.0.2.1:0"), ap("192.0.2.2:65535")),
			view{Version: 1, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
				Source: ap("192.0.2.1:0"), Destination: ap("192.0.2.2:65535")}},
		{"local to v2", "v2.sock", AppendV2Local(nil),
			view{Version: 2, Command: Local, TLVs: []tlvView{{TypeCRC32C, ""}, {TypeUniqueID, "unix:"}}}},
		{"plain tcp to v2", "", nil, view{}}, // want filled in from the connection
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var client net.Conn
			var err error
			if tt.frontend == "" {
				client, err = net.Dial("tcp", hp.tcp.String())
			} else {
				client, err = net.Dial("unix", filepath.Join(hp.dir, tt.frontend))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if tt.frontend == "" {
				tt.want = view{Version: 2, Command: Proxy, Family: FamilyIPv4, Transport: TransportStream,
					Source:      client.LocalAddr().(*net.TCPAddr).AddrPort(),
					Destination: hp.tcp}
				tt.want.TLVs = []tlvView{{TypeCRC32C, ""}, {TypeUniqueID, tt.want.Source.String()}}
			}
			if _, err := client.Write(append(bytes.Clone(tt.header), payload...)); err != nil {
				t.Fatal(err)
			}
			got, rest := hp.receive(t)
			for i, tv := range got.TLVs {
				if tv.Type == TypeCRC32C {
					got.TLVs[i].Value = "" // verified by Decode
				}
			}
			got.N = 0
			if got.Command == Local && len(got.TLVs) == 2 && strings.HasPrefix(got.TLVs[1].Value, "unix:") {
				got.TLVs[1].Value = "unix:" // %cp of a unix socket is the listener's connection count
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("upstream receives\n%+v\nwant\n%+v", got, tt.want)
			}
			if string(rest) != payload {
				t.Errorf("upstream receives payload %q, want %q", rest, payload)
			}
		})
	}

	t.Run("bad crc32c refused", func(t *testing.T) {
		bad := v2("203.0.113.66:6666", "198.51.100.1:443", crc)
		bad[len(bad)-1] ^= 1
		good := v2("203.0.113.77:7777", "198.51.100.1:443", crc)
		for _, header := range [][]byte{bad, good} {
			client, err := net.Dial("unix", filepath.Join(hp.dir, "v2.sock"))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if _, err := client.Write(append(bytes.Clone(header), payload...)); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(header, bad) {
				// HAProxy closes or resets the connection without dialing
				// the upstream.
				client.SetReadDeadline(time.Now().Add(5 * time.Second))
				if k, err := client.Read(make([]byte, 1)); k > 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("HAProxy answers a bad checksum with %d bytes, %v; want a close", k, err)
				}
			}
		}
		got, _ := hp.receive(t)
		if got.Source != ap("203.0.113.77:7777") {
			t.Fatalf("upstream receives a connection from %v, want only the good header's", got.Source)
		}
	})
}

// haproxy is a running HAProxy with frontends that accept PROXY headers on
// unix sockets in dir (v2.sock relays with send-proxy-v2 and v1.sock with
// send-proxy) and plain TCP on tcp, and an upstream listener they all relay
// to.
type haproxy struct {
	dir      string
	tcp      netip.AddrPort
	upstream net.Listener
}

func startHAProxy(t *testing.T, bin string) *haproxy {
	t.Helper()
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	// HAProxy binds the TCP frontend itself: take a free port and release it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	hp := &haproxy{dir: t.TempDir(), tcp: tcp, upstream: upstream}
	cfg := fmt.Sprintf(`global
    log stderr format raw local0 warning
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend v2
    bind unix@%[1]s/v2.sock accept-proxy
    bind %[2]s
    unique-id-format %%ci:%%cp
    default_backend v2
frontend v1
    bind unix@%[1]s/v1.sock accept-proxy
    default_backend v1
backend v2
    server upstream %[3]s send-proxy-v2 proxy-v2-options crc32c,unique-id
backend v1
    server upstream %[3]s send-proxy
`, hp.dir, tcp, upstream.Addr())
	cfgPath := filepath.Join(hp.dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		probe, err := net.Dial("tcp", tcp.String())
		if err == nil {
			// Relay one connection to know that HAProxy is up.
			defer probe.Close()
			if _, err := probe.Write([]byte(payload)); err != nil {
				t.Fatal(err)
			}
			hp.receive(t)
			return hp
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not start: %v\n%s", err, stderr.String())
		}
	}
}

// receive accepts the next connection HAProxy opens to the upstream and
// decodes the header it sends, reading as the bytes arrive, and returns it
// with the bytes that follow it until HAProxy closes.
func (hp *haproxy) receive(t *testing.T) (view, []byte) {
	t.Helper()
	hp.upstream.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := hp.upstream.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	var h Header
	for chunk := make([]byte, 512); ; {
		k, err := conn.Read(chunk)
		buf = append(buf, chunk[:k]...)
		n, derr := Decode(buf, &h)
		switch {
		case derr == nil:
			got := viewOf(n, &h)
			rest := bytes.Clone(buf[n:])
			want := len(payload)
			for len(rest) < want {
				k, err := conn.Read(chunk)
				if err != nil {
					break
				}
				rest = append(rest, chunk[:k]...)
			}
			return got, rest
		case !errors.Is(derr, codecs.ErrNeedMore):
			t.Fatalf("Decode(%q): %v", buf, derr)
		case err != nil:
			t.Fatalf("after %q: %v", buf, err)
		}
	}
}
