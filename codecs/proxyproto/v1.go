package proxyproto

import (
	"net/netip"
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
)

// MaxV1Len is the longest version 1 line, CRLF included: the worst case the
// specification lists, "PROXY UNKNOWN" followed by two full-length IPv6
// addresses and two five-digit ports.
const MaxV1Len = 107

// v1Signature starts every version 1 line; a single space follows it.
const v1Signature = "PROXY"

// The longest text of each field of a version 1 line, so that a field that
// cannot end well is rejected before its separator arrives.
const (
	maxProtoLen = len("UNKNOWN")
	maxIPv4Len  = len("255.255.255.255")
	maxIPv6Len  = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")
	maxPortLen  = len("65535")
)

// decodeV1 decodes the version 1 line at the start of in into h, which is
// empty. The line must end within MaxV1Len bytes.
func decodeV1(in []byte, h *Header) (int, error) {
	line := in[:min(len(in), MaxV1Len)]
	n, err := parseV1(line, h)
	if err == codecs.ErrNeedMore && len(line) == MaxV1Len {
		return 0, ErrV1TooLong
	}
	return n, err
}

// parseV1 decodes the line at the start of b (section 2.1 of the
// specification). It reads from left to right and checks each field when its
// separator arrives, so that every error is decided by the bytes that show
// it, whatever follows.
func parseV1(b []byte, h *Header) (int, error) {
	if err := matchSignature(b, v1Signature); err != nil {
		return 0, err
	}
	l := v1Line{b: b, off: len(v1Signature)}
	if len(b) == l.off {
		return 0, codecs.ErrNeedMore
	}
	if b[l.off] != ' ' {
		return 0, ErrV1BadToken
	}
	l.off++
	proto, last, err := l.field(maxProtoLen, ErrV1BadToken)
	if err != nil {
		return 0, err
	}
	var parseAddr func([]byte) (netip.Addr, bool)
	maxAddrLen := maxIPv4Len
	switch string(proto) {
	case "TCP4":
		h.Family, parseAddr = FamilyIPv4, parseIPv4
	case "TCP6":
		h.Family, parseAddr, maxAddrLen = FamilyIPv6, parseIPv6, maxIPv6Len
	case "UNKNOWN":
		// The receiver must ignore the rest of the line.
		if !last {
			if err := l.skipLine(); err != nil {
				return 0, err
			}
		}
		h.Version = 1
		return l.off, nil
	default:
		return 0, ErrV1BadToken
	}
	if last {
		return 0, ErrV1BadToken
	}
	src, err := l.addr(parseAddr, maxAddrLen)
	if err != nil {
		return 0, err
	}
	dst, err := l.addr(parseAddr, maxAddrLen)
	if err != nil {
		return 0, err
	}
	sport, err := l.port(false)
	if err != nil {
		return 0, err
	}
	dport, err := l.port(true)
	if err != nil {
		return 0, err
	}
	h.Version = 1
	h.Command = Proxy
	h.Transport = TransportStream
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return l.off, nil
}

// v1Line reads the space-separated fields of a version 1 line from off.
type v1Line struct {
	b   []byte
	off int
}

// field reads the field at l.off, which ends at a single space or at the CRLF
// that ends the line, moves past the separator and reports whether it was
// the CRLF. A field longer than max bytes is the error bad.
func (l *v1Line) field(max int, bad error) (f []byte, last bool, err error) {
	for i := l.off; i < len(l.b); i++ {
		switch l.b[i] {
		case ' ':
			f, l.off = l.b[l.off:i], i+1
			return f, false, nil
		case '\r', '\n':
			f = l.b[l.off:i]
			return f, true, l.endLine(i)
		}
		if i-l.off >= max {
			return nil, false, bad
		}
	}
	return nil, false, codecs.ErrNeedMore
}

// endLine checks that the CR or LF at i starts a CRLF and moves past it.
func (l *v1Line) endLine(i int) error {
	switch {
	case l.b[i] != '\r':
		return ErrV1NoCRLF
	case i+1 == len(l.b):
		return codecs.ErrNeedMore
	case l.b[i+1] != '\n':
		return ErrV1NoCRLF
	}
	l.off = i + 2
	return nil
}

// skipLine moves past the CRLF that ends the line and whatever precedes it.
func (l *v1Line) skipLine() error {
	for i := l.off; i < len(l.b); i++ {
		if c := l.b[i]; c == '\r' || c == '\n' {
			return l.endLine(i)
		}
	}
	return codecs.ErrNeedMore
}

// addr reads an address field, which a space ends.
func (l *v1Line) addr(parse func([]byte) (netip.Addr, bool), max int) (netip.Addr, error) {
	f, last, err := l.field(max, ErrV1BadAddress)
	switch {
	case err != nil:
		return netip.Addr{}, err
	case last:
		return netip.Addr{}, ErrV1BadToken // too few fields
	}
	a, ok := parse(f)
	if !ok {
		return netip.Addr{}, ErrV1BadAddress
	}
	return a, nil
}

// port reads a port field, which the CRLF ends if it is the last one and a
// space ends otherwise.
func (l *v1Line) port(last bool) (uint16, error) {
	f, end, err := l.field(maxPortLen, ErrV1BadPort)
	switch {
	case err != nil:
		return 0, err
	case end != last:
		return 0, ErrV1BadToken // too few or too many fields
	}
	p, ok := parsePort(f)
	if !ok {
		return 0, ErrV1BadPort
	}
	return p, nil
}

// parsePort parses a decimal port in [0, 65535] without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > maxPortLen || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if v > 0xffff {
		return 0, false
	}
	return uint16(v), true
}

// parseIPv4 parses an IPv4 address in dotted decimal: four decimal numbers
// in [0, 255] without leading zeros, separated by single dots.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	field, val, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 0xff {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3:
			ip[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

// parseIPv6 parses an IPv6 address in the text form of RFC 4291 section 2.2:
// eight groups of one to four hexadecimal digits separated by colons, at most
// one "::" standing for one or more groups of zeros, and optionally the last
// 32 bits in dotted decimal. It accepts no zone, unlike netip.ParseAddr,
// which it otherwise agrees with.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // where "::" stands in ip, if present
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		b = b[2:]
	}
	i := 0 // bytes of ip filled
	for len(b) > 0 && i < 16 {
		val, digits := 0, 0
		for digits < len(b) && digits < 4 {
			d, ok := hexDigit(b[digits])
			if !ok {
				break
			}
			val = val<<4 | d
			digits++
		}
		if digits < len(b) && b[digits] == '.' {
			// The dotted decimal tail fills the last 4 bytes.
			if ellipsis < 0 && i != 12 || i > 12 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(b)
			if !ok {
				return netip.Addr{}, false
			}
			a := v4.As4()
			copy(ip[i:], a[:])
			i += 4
			b = nil
			break
		}
		if digits == 0 {
			return netip.Addr{}, false
		}
		ip[i], ip[i+1] = byte(val>>8), byte(val)
		i += 2
		b = b[digits:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false // a second "::"
			}
			ellipsis = i
			b = b[1:]
		}
	}
	switch {
	case len(b) != 0:
		return netip.Addr{}, false // more than 128 bits
	case i < 16 && ellipsis < 0:
		return netip.Addr{}, false // fewer than 128 bits
	case i == 16 && ellipsis >= 0:
		return netip.Addr{}, false // "::" standing for nothing
	case i < 16:
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	}
	return netip.AddrFrom16(ip), true
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// AppendV1 appends to buf the version 1 line that announces a TCP connection
// from src to dst, and returns the extended buffer. It writes TCP4 when both
// addresses are IPv4, TCP6 when both are IPv6 (IPv4-mapped ones included,
// written as ::ffff:a.b.c.d), and the short "PROXY UNKNOWN\r\n" when either is
// invalid or the families differ; call Addr.Unmap first to send a dual-stack
// socket's IPv4-mapped addresses as TCP4. Zones are dropped: they mean
// nothing to the receiver.
func AppendV1(buf []byte, src, dst netip.AddrPort) []byte {
	s, d := src.Addr().WithZone(""), dst.Addr().WithZone("")
	switch {
	case s.Is4() && d.Is4():
		buf = append(buf, "PROXY TCP4 "...)
	case s.Is6() && d.Is6():
		buf = append(buf, "PROXY TCP6 "...)
	default:
		return append(buf, "PROXY UNKNOWN\r\n"...)
	}
	buf = s.AppendTo(buf)
	buf = append(buf, ' ')
	buf = d.AppendTo(buf)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, uint64(src.Port()), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, uint64(dst.Port()), 10)
	return append(buf, "\r\n"...)
}
