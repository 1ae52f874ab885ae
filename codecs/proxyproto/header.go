package proxyproto

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Command says whether a header relays a connection or not.
type Command uint8

const (
	// Local marks a connection the sender opened itself, such as a health
	// check, or a version 1 UNKNOWN line: the receiver uses the real
	// connection endpoints and ignores any address information.
	Local Command = 0x0
	// Proxy marks a connection relayed on behalf of a client whose endpoints
	// the header carries.
	Proxy Command = 0x1
)

// String returns the command's name in the specification, LOCAL or PROXY.
func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// Family is the address family of the relayed connection, the high four bits
// of a version 2 header's 14th byte.
type Family uint8

const (
	// FamilyUnspec is an unknown or unsupported family: no addresses.
	FamilyUnspec Family = 0x0
	// FamilyIPv4 is AF_INET: 4-byte addresses and 2-byte ports.
	FamilyIPv4 Family = 0x1
	// FamilyIPv6 is AF_INET6: 16-byte addresses and 2-byte ports.
	FamilyIPv6 Family = 0x2
	// FamilyUnix is AF_UNIX: two 108-byte socket paths.
	FamilyUnix Family = 0x3
)

// String returns the family's name in the specification: UNSPEC, INET,
// INET6 or UNIX.
func (f Family) String() string {
	switch f {
	case FamilyUnspec:
		return "UNSPEC"
	case FamilyIPv4:
		return "INET"
	case FamilyIPv6:
		return "INET6"
	case FamilyUnix:
		return "UNIX"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Transport is the socket type of the relayed connection, the low four bits
// of a version 2 header's 14th byte.
type Transport uint8

const (
	// TransportUnspec is an unknown or unsupported transport.
	TransportUnspec Transport = 0x0
	// TransportStream is SOCK_STREAM: TCP, or a UNIX stream socket.
	TransportStream Transport = 0x1
	// TransportDatagram is SOCK_DGRAM: UDP, or a UNIX datagram socket.
	TransportDatagram Transport = 0x2
)

// String returns the transport's name in the specification: UNSPEC, STREAM
// or DGRAM.
func (t Transport) String() string {
	switch t {
	case TransportUnspec:
		return "UNSPEC"
	case TransportStream:
		return "STREAM"
	case TransportDatagram:
		return "DGRAM"
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// The TLV types the specification registers (section 2.2). Types 0xE0 to
// 0xEF are reserved for applications (cloud load balancers use them), 0xF0 to
// 0xF7 for experiments and 0xF8 to 0xFF for future use; Decode keeps them
// like any other type.
const (
	// TypeALPN carries the application protocol in use, typically the one
	// TLS negotiated.
	TypeALPN byte = 0x01
	// TypeAuthority carries the host name the client asked for, typically
	// the TLS server_name, as UTF-8.
	TypeAuthority byte = 0x02
	// TypeCRC32C carries the CRC32C checksum of the header. Decode verifies
	// it; to have AppendV2 compute one, add a TLV of this type with any
	// value.
	TypeCRC32C byte = 0x03
	// TypeNoop is padding. Decode checks its framing and drops it.
	TypeNoop byte = 0x04
	// TypeUniqueID carries an opaque identifier of the connection, at most
	// [MaxUniqueIDLen] bytes.
	TypeUniqueID byte = 0x05
	// TypeSSL carries what the sender knows of the client's TLS session; see
	// [SSL].
	TypeSSL byte = 0x20
	// TypeNetNS carries the name of the network namespace the connection
	// was accepted in, as US-ASCII.
	TypeNetNS byte = 0x30
)

// The sub-TLV types found inside a TypeSSL value.
const (
	// SubtypeSSLVersion is the TLS version, such as "TLSv1.3".
	SubtypeSSLVersion byte = 0x21
	// SubtypeSSLCN is the Common Name of the client certificate's subject.
	SubtypeSSLCN byte = 0x22
	// SubtypeSSLCipher is the cipher name, such as
	// "ECDHE-RSA-AES128-GCM-SHA256".
	SubtypeSSLCipher byte = 0x23
	// SubtypeSSLSigAlg is the algorithm that signed the certificate the
	// sender presented, such as "RSA-SHA256".
	SubtypeSSLSigAlg byte = 0x24
	// SubtypeSSLKeyAlg is the key algorithm of the certificate the sender
	// presented, such as "RSA2048".
	SubtypeSSLKeyAlg byte = 0x25
	// SubtypeSSLGroup is the key exchange group, such as "X25519MLKEM768".
	SubtypeSSLGroup byte = 0x26
	// SubtypeSSLSigScheme is the signature scheme the sender used in the
	// handshake, such as "rsa_pss_rsae_sha256".
	SubtypeSSLSigScheme byte = 0x27
	// SubtypeSSLClientCert is the client certificate in DER.
	SubtypeSSLClientCert byte = 0x28
)

// The bits of [SSL.Client].
const (
	// ClientSSL says the client connected over TLS.
	ClientSSL byte = 0x01
	// ClientCertConn says the client presented a certificate on this
	// connection.
	ClientCertConn byte = 0x02
	// ClientCertSess says the client presented a certificate at least once
	// in the TLS session this connection belongs to.
	ClientCertSess byte = 0x04
)

// MaxUniqueIDLen is the longest TypeUniqueID value the specification allows.
const MaxUniqueIDLen = 128

// unixPathLen is the size of each path in a version 2 AF_UNIX address block,
// sizeof(sockaddr_un.sun_path) on Linux.
const unixPathLen = 108

// TLV is one type-length-value entry of a version 2 header.
type TLV struct {
	Type  byte
	Value []byte
}

// Header is a decoded PROXY protocol header, or one to encode; its zero value
// is ready to use. Decode resets and refills it and allocates only to grow
// storage the Header keeps, the first time it sees more than 16 TLVs, so
// reusing one Header (one per event loop, or from a sync.Pool) makes decoding
// allocation-free in steady state.
//
// The byte slices it holds (paths and TLV values) are borrowed: after Decode
// they point into its input, after AddTLV into the caller's value. They are
// valid only until that memory changes or the Header is decoded into or reset
// again, and must not be modified. Copy what must outlive that.
//
// A Header is not safe for concurrent use. Copying one copies its first 16
// TLVs and shares the storage of further ones, so a copy is valid only until
// either Header is decoded into or reset again.
type Header struct {
	// Version is the version of the decoded header, 1 or 2. AppendV2
	// ignores it.
	Version int

	// Command is Proxy when the header carries the endpoints of a relayed
	// connection, and Local otherwise: a version 2 LOCAL command, or a
	// version 1 UNKNOWN line, both of which tell the receiver to use the
	// real connection's endpoints.
	Command Command

	// Family and Transport are the address family and socket type as sent.
	// A version 1 TCP4 or TCP6 line decodes as FamilyIPv4 or FamilyIPv6
	// with TransportStream, an UNKNOWN line as FamilyUnspec with
	// TransportUnspec. For Local they are informational only.
	Family    Family
	Transport Transport

	// Source and Destination are the client's address and the address it
	// connected to. They are set only for Proxy with FamilyIPv4 or
	// FamilyIPv6, and the zero AddrPort (not IsValid) otherwise. A
	// FamilyIPv6 address may be an IPv4-mapped IPv6 address, as sent.
	Source      netip.AddrPort
	Destination netip.AddrPort

	// SourcePath and DestinationPath are the socket paths of a Proxy header
	// with FamilyUnix, nil otherwise, without the NUL padding. A name in the
	// Linux abstract namespace keeps its leading NUL byte, as in sun_path.
	SourcePath      []byte
	DestinationPath []byte

	tlvs tlvList
}

// Reset empties h, dropping its references to borrowed memory, and keeps the
// storage it has grown for TLVs.
func (h *Header) Reset() {
	h.Version = 0
	h.Command = Local
	h.Family = FamilyUnspec
	h.Transport = TransportUnspec
	h.Source = netip.AddrPort{}
	h.Destination = netip.AddrPort{}
	h.SourcePath = nil
	h.DestinationPath = nil
	h.tlvs.reset()
}

// TLVs returns the TLVs of a version 2 header in the order sent, except
// TypeNoop padding, followed by those added with [Header.AddTLV]; nil when
// there are none. The slice and the values are borrowed.
func (h *Header) TLVs() []TLV { return h.tlvs.items() }

// AddTLV appends a TLV for AppendV2 to encode. The value is borrowed until
// the header is encoded.
func (h *Header) AddTLV(typ byte, value []byte) { h.tlvs.add(TLV{Type: typ, Value: value}) }

// TLV returns the value of the first TLV of type typ and whether there is
// one. The value is borrowed.
func (h *Header) TLV(typ byte) ([]byte, bool) {
	for _, t := range h.tlvs.items() {
		if t.Type == typ {
			return t.Value, true
		}
	}
	return nil, false
}

// Authority returns the value of the TypeAuthority TLV, the host name the
// client asked for (the TLS SNI when TLS was used), or nil when absent. The
// slice is borrowed.
func (h *Header) Authority() []byte { return h.value(TypeAuthority) }

// ALPN returns the value of the TypeALPN TLV, the application protocol in
// use such as "h2", or nil when absent. The slice is borrowed.
func (h *Header) ALPN() []byte { return h.value(TypeALPN) }

// UniqueID returns the value of the TypeUniqueID TLV, or nil when absent.
// The slice is borrowed.
func (h *Header) UniqueID() []byte { return h.value(TypeUniqueID) }

func (h *Header) value(typ byte) []byte {
	v, _ := h.TLV(typ)
	return v
}

// SSL returns the first TypeSSL TLV, decoded, and whether there is one.
// Decode has validated its framing; for a TLV added with AddTLV, ok is also
// false when the value is malformed.
func (h *Header) SSL() (s SSL, ok bool) {
	v, ok := h.TLV(TypeSSL)
	if !ok || !validSSL(v) {
		return SSL{}, false
	}
	return SSL{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5]), sub: v[sslFixedLen:]}, true
}

// SSL is the value of a TypeSSL TLV: what the sender knows of the client's
// TLS session.
type SSL struct {
	// Client is a bit field of ClientSSL, ClientCertConn and
	// ClientCertSess.
	Client byte
	// Verify is zero when the client presented a certificate and it was
	// verified, and non-zero otherwise.
	Verify uint32

	sub []byte // the sub-TLVs, validated and borrowed
}

// sslFixedLen is the length of the client and verify fields that start an
// SSL value.
const sslFixedLen = 5

// SubTLV returns the value of the first sub-TLV of type typ (one of the
// Subtype constants) and whether there is one. The value is borrowed.
func (s SSL) SubTLV(typ byte) ([]byte, bool) {
	for b := s.sub; len(b) > 0; {
		t, v, rest := nextTLV(b)
		if t == typ {
			return v, true
		}
		b = rest
	}
	return nil, false
}

// AppendSSL appends to buf the value of a TypeSSL TLV with the given client
// bits, verify result and sub-TLVs, and returns the extended buffer. A
// sub-TLV longer than 65535 bytes makes a value AppendV2 refuses.
func AppendSSL(buf []byte, client byte, verify uint32, sub ...TLV) []byte {
	buf = append(buf, client)
	buf = binary.BigEndian.AppendUint32(buf, verify)
	for _, t := range sub {
		buf = append(buf, t.Type, byte(len(t.Value)>>8), byte(len(t.Value)))
		buf = append(buf, t.Value...)
	}
	return buf
}

// validSSL reports whether v is a well-formed SSL value: the fixed fields,
// then sub-TLVs that exactly fill the rest.
func validSSL(v []byte) bool {
	if len(v) < sslFixedLen {
		return false
	}
	return validTLVs(v[sslFixedLen:])
}

// validTLVs reports whether b is a sequence of complete TLVs.
func validTLVs(b []byte) bool {
	for len(b) > 0 {
		if len(b) < tlvHeaderLen || len(b)-tlvHeaderLen < int(b[1])<<8|int(b[2]) {
			return false
		}
		_, _, b = nextTLV(b)
	}
	return true
}

// tlvHeaderLen is the length of a TLV's type and length fields.
const tlvHeaderLen = 3

// nextTLV splits the TLV at the start of b, whose framing is valid, from the
// rest. The value's capacity is capped at its length.
func nextTLV(b []byte) (typ byte, value, rest []byte) {
	end := tlvHeaderLen + (int(b[1])<<8 | int(b[2]))
	return b[0], b[tlvHeaderLen:end:end], b[end:]
}

// inlineTLVs is how many TLVs a Header keeps inside itself before it moves
// them to a heap array. Senders such as HAProxy and cloud load balancers send
// fewer than ten.
const inlineTLVs = 16

// tlvList is reusable storage for a header's TLVs: entries live in inline
// until it is full, then in spill, which keeps its capacity so that a Header
// stops allocating once it has seen its largest input. It holds no pointer
// into its own Header, so copying a Header copies its inline entries.
type tlvList struct {
	inline [inlineTLVs]TLV
	spill  []TLV
	n      int
}

// reset empties l and zeroes the used entries, so that borrowed values do not
// keep an old input buffer reachable.
func (l *tlvList) reset() {
	clear(l.inline[:min(l.n, inlineTLVs)])
	clear(l.spill)
	l.spill = l.spill[:0]
	l.n = 0
}

func (l *tlvList) add(t TLV) {
	switch {
	case l.n < inlineTLVs:
		l.inline[l.n] = t
	case l.n == inlineTLVs:
		l.spill = append(append(l.spill[:0], l.inline[:]...), t)
	default:
		l.spill = append(l.spill, t)
	}
	l.n++
}

// items returns the entries, nil when there are none. The capacity is capped
// so that a caller's append cannot write into l.
func (l *tlvList) items() []TLV {
	switch {
	case l.n == 0:
		return nil
	case l.n <= inlineTLVs:
		return l.inline[:l.n:l.n]
	default:
		return l.spill[:l.n:l.n]
	}
}
