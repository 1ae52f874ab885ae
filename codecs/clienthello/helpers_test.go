package clienthello

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// captureHello returns the first flight a crypto/tls client sends with cfg:
// the records carrying its ClientHello, read from the server end of a pipe.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(client, cfg).Handshake() // fails once server closes
	}()
	if err := server.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// crypto/tls writes a ClientHello in a single record.
	header := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(server, header); err != nil {
		t.Fatalf("reading record header: %v", err)
	}
	fragment := make([]byte, binary.BigEndian.Uint16(header[3:]))
	if _, err := io.ReadFull(server, fragment); err != nil {
		t.Fatalf("reading record: %v", err)
	}
	server.Close()
	<-done
	return append(header, fragment...)
}

// errStopHandshake ends a crypto/tls server handshake once the server has
// decoded the ClientHello.
var errStopHandshake = errors.New("stop after ClientHello")

// cryptoTLSView feeds wire to a crypto/tls server and returns the
// ClientHelloInfo it decoded, or nil when the server rejected the hello
// before it reached GetConfigForClient.
func cryptoTLSView(wire []byte) *tls.ClientHelloInfo {
	var info *tls.ClientHelloInfo
	cfg := &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		info = chi
		return nil, errStopHandshake
	}}
	_ = tls.Server(&replayConn{in: bytes.NewReader(wire)}, cfg).Handshake()
	return info
}

// replayConn is a net.Conn that reads a fixed input, then io.EOF, and
// discards what is written, so a crypto/tls server sees exactly the bytes
// under test and stops when they run out instead of waiting for more.
type replayConn struct {
	in *bytes.Reader
}

func (c *replayConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// echConfigList builds an ECHConfigList (draft-ietf-tls-esni, version
// 0xfe0d) with a fresh X25519 key, enough for a client to send an outer
// hello.
func echConfigList(t testing.TB, publicName string) []byte {
	t.Helper()
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kemX25519, kdfHKDFSHA256, aeadAES128GCM = 0x0020, 0x0001, 0x0001
	contents := cat(
		[]byte{7}, // config_id
		u16s(kemX25519),
		vec16(key.PublicKey().Bytes()),
		vec16(u16s(kdfHKDFSHA256, aeadAES128GCM)),
		[]byte{0}, // maximum_name_length
		vec8([]byte(publicName)),
		vec16(nil), // extensions
	)
	return vec16(cat(u16s(extECH), vec16(contents)))
}

// reframe re-splits the handshake message carried by the single record wire
// into records whose fragments have the given sizes; the last record takes
// what remains.
func reframe(wire []byte, sizes ...int) []byte {
	msg := wire[recordHeaderLen:]
	var out []byte
	for _, size := range sizes {
		out = append(out, record(msg[:size])...)
		msg = msg[size:]
	}
	return append(out, record(msg)...)
}

// reframeEvery re-splits the message in wire into records of size bytes.
func reframeEvery(wire []byte, size int) []byte {
	msg := wire[recordHeaderLen:]
	var out []byte
	for len(msg) > 0 {
		k := min(size, len(msg))
		out = append(out, record(msg[:k])...)
		msg = msg[k:]
	}
	return out
}

// record frames fragment as a TLS 1.0 handshake record, the version clients
// put on their first record.
func record(fragment []byte) []byte {
	return cat([]byte{recordTypeHandshake, 3, 1}, u16s(uint16(len(fragment))), fragment)
}

// handshakeMsg frames body as a handshake message of type typ.
func handshakeMsg(typ byte, body []byte) []byte {
	n := len(body)
	return cat([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body)
}

// helloBody builds a ClientHello body; exts == nil omits the extension
// block, as TLS 1.2 allows.
func helloBody(sessionID, suites, compression []byte, exts [][]byte) []byte {
	body := cat(u16s(tls.VersionTLS12), make([]byte, randomLen), vec8(sessionID), vec16(suites), vec8(compression))
	if exts == nil {
		return body
	}
	return cat(body, vec16(cat(exts...)))
}

// ext encodes one extension.
func ext(typ uint16, data ...[]byte) []byte {
	return cat(u16s(typ), vec16(cat(data...)))
}

// builtHello frames a ClientHello with one TLS 1.3 suite, null compression
// and exts as a single record.
func builtHello(exts ...[]byte) []byte {
	if exts == nil {
		exts = [][]byte{}
	}
	return record(handshakeMsg(typeClientHello, helloBody(nil, u16s(0x1301), []byte{0}, exts)))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u16s(vs ...uint16) []byte {
	out := make([]byte, 0, 2*len(vs))
	for _, v := range vs {
		out = binary.BigEndian.AppendUint16(out, v)
	}
	return out
}

func vec8(parts ...[]byte) []byte {
	b := cat(parts...)
	return append([]byte{byte(len(b))}, b...)
}

func vec16(parts ...[]byte) []byte {
	b := cat(parts...)
	return append(u16s(uint16(len(b))), b...)
}

// view is a deep copy of everything a Hello exposes, for comparisons.
type view struct {
	N                   int
	LegacyVersion       uint16
	SupportedVersions   []uint16
	CipherSuites        []uint16
	HasSessionID        bool
	ServerName          []byte
	ALPN                []string
	SupportedGroups     []Group
	KeyShareGroups      []Group
	SignatureAlgorithms []uint16
	HasECH              bool
	Extensions          []uint16
	OffersPostQuantum   bool
	KeySharePostQuantum bool
}

func viewOf(n int, h *Hello) view {
	var alpn []string
	for _, p := range h.ALPN() {
		alpn = append(alpn, string(p))
	}
	return view{
		N:                   n,
		LegacyVersion:       h.LegacyVersion(),
		SupportedVersions:   slices.Clone(h.SupportedVersions()),
		CipherSuites:        slices.Clone(h.CipherSuites()),
		HasSessionID:        h.HasSessionID(),
		ServerName:          slices.Clone(h.ServerName()),
		ALPN:                alpn,
		SupportedGroups:     slices.Clone(h.SupportedGroups()),
		KeyShareGroups:      slices.Clone(h.KeyShareGroups()),
		SignatureAlgorithms: slices.Clone(h.SignatureAlgorithms()),
		HasECH:              h.HasECH(),
		Extensions:          slices.Clone(h.Extensions()),
		OffersPostQuantum:   h.OffersPostQuantum(),
		KeySharePostQuantum: h.KeySharePostQuantum(),
	}
}

// checkAgainstCryptoTLS compares a successful parse with the ClientHelloInfo
// crypto/tls decoded from the same bytes.
func checkAgainstCryptoTLS(t testing.TB, h *Hello, info *tls.ClientHelloInfo) {
	t.Helper()
	if info == nil {
		t.Fatal("crypto/tls rejected a hello that Parse accepted")
	}
	if got := h.SNI(); got != info.ServerName {
		t.Errorf("ServerName = %q, crypto/tls %q", got, info.ServerName)
	}
	if !slices.Equal(h.CipherSuites(), info.CipherSuites) {
		t.Errorf("CipherSuites = %x, crypto/tls %x", h.CipherSuites(), info.CipherSuites)
	}
	groups := make([]Group, len(info.SupportedCurves))
	for i, c := range info.SupportedCurves {
		groups[i] = Group(c)
	}
	if !slices.Equal(h.SupportedGroups(), groups) {
		t.Errorf("SupportedGroups = %v, crypto/tls %v", h.SupportedGroups(), groups)
	}
	sigs := make([]uint16, len(info.SignatureSchemes))
	for i, s := range info.SignatureSchemes {
		sigs[i] = uint16(s)
	}
	if !slices.Equal(h.SignatureAlgorithms(), sigs) {
		t.Errorf("SignatureAlgorithms = %x, crypto/tls %x", h.SignatureAlgorithms(), sigs)
	}
	var protos []string
	for _, p := range h.ALPN() {
		protos = append(protos, string(p))
	}
	if !slices.Equal(protos, info.SupportedProtos) {
		t.Errorf("ALPN = %q, crypto/tls %q", protos, info.SupportedProtos)
	}
	if v := h.SupportedVersions(); v != nil && !slices.Equal(v, info.SupportedVersions) {
		t.Errorf("SupportedVersions = %x, crypto/tls %x", v, info.SupportedVersions)
	}
	if !slices.Equal(h.Extensions(), info.Extensions) {
		t.Errorf("Extensions = %x, crypto/tls %x", h.Extensions(), info.Extensions)
	}
}
