package proxyproto

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"slices"

	"github.com/penstock-proxy/penstock/codecs"
)

const (
	// v2Signature starts every version 2 header.
	v2Signature = "\r\n\r\n\x00\r\nQUIT\n"
	// v2FixedLen is the length of the signature, the version and command,
	// the family and transport, and the length that follows.
	v2FixedLen = 16
	// v2Version is the version in the high bits of the 13th byte.
	v2Version = 0x20
	// crcLen is the length of a TypeCRC32C value.
	crcLen = 4
)

// addrBlockLen is the length of the address block of each family (section
// 2.2): two addresses and, for IP, two ports.
var addrBlockLen = [...]int{
	FamilyUnspec: 0,
	FamilyIPv4:   2*4 + 2*2,
	FamilyIPv6:   2*16 + 2*2,
	FamilyUnix:   2 * unixPathLen,
}

// castagnoli is the CRC32C table; hash/crc32 uses the CPU's instruction for
// it where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// validFamily reports whether b is one of the family and transport bytes the
// specification defines; receivers must reject the others.
func validFamily(b byte) bool {
	switch b {
	case 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32:
		return true
	}
	return false
}

// decodeV2 decodes the version 2 header at the start of in into h, which is
// empty, refusing one longer than maxLen bytes.
func decodeV2(in []byte, h *Header, maxLen int) (int, error) {
	if err := matchSignature(in, v2Signature); err != nil {
		return 0, err
	}
	if len(in) > 12 {
		switch {
		case in[12]&0xf0 != v2Version:
			return 0, ErrV2BadVersion
		case Command(in[12]&0x0f) > Proxy:
			return 0, ErrV2BadCommand
		}
	}
	if len(in) > 13 && !validFamily(in[13]) {
		return 0, ErrV2BadFamily
	}
	if len(in) < v2FixedLen {
		return 0, codecs.ErrNeedMore
	}
	cmd, fam := Command(in[12]&0x0f), Family(in[13]>>4)
	length := int(binary.BigEndian.Uint16(in[14:]))
	total := v2FixedLen + length
	if total > maxLen {
		return 0, ErrTooLarge
	}
	block := addrBlockLen[fam]
	if length < block {
		if cmd == Proxy {
			return 0, ErrV2ShortAddress
		}
		// LOCAL: the receiver must skip the bytes whatever the family,
		// and there is no room for TLVs after an address block.
		block = length
	}
	if len(in) < total {
		return 0, codecs.ErrNeedMore
	}
	hdr := in[:total]
	crcAt, err := h.decodeTLVs(hdr, v2FixedLen+block)
	if err != nil {
		return 0, err
	}
	if crcAt >= 0 && binary.BigEndian.Uint32(hdr[crcAt:]) != checksum(hdr, crcAt) {
		return 0, ErrV2Checksum
	}
	h.Version = 2
	h.Command = cmd
	h.Family = fam
	h.Transport = Transport(in[13] & 0x0f)
	if cmd == Proxy {
		h.decodeAddresses(hdr[v2FixedLen : v2FixedLen+block])
	}
	return total, nil
}

// decodeAddresses decodes the address block b of h.Family, which has the
// family's length.
func (h *Header) decodeAddresses(b []byte) {
	switch h.Family {
	case FamilyIPv4:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[0:4])), binary.BigEndian.Uint16(b[8:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[10:]))
	case FamilyIPv6:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[0:16])), binary.BigEndian.Uint16(b[32:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[16:32])), binary.BigEndian.Uint16(b[34:]))
	case FamilyUnix:
		h.SourcePath = unixPath(b[:unixPathLen])
		h.DestinationPath = unixPath(b[unixPathLen:])
	}
}

// unixPath returns the name in a sun_path field: a path ends at the first
// NUL byte; a name in the Linux abstract namespace starts with a NUL byte,
// which it keeps, and ends before the NUL padding.
func unixPath(f []byte) []byte {
	if f[0] == 0 {
		f = bytes.TrimRight(f, "\x00")
	} else if i := bytes.IndexByte(f, 0); i >= 0 {
		f = f[:i]
	}
	return f[:len(f):len(f)]
}

// decodeTLVs adds the TLVs of hdr from off to its end to h, except padding,
// and returns the offset of the CRC32C value, or -1 when there is none.
func (h *Header) decodeTLVs(hdr []byte, off int) (crcAt int, err error) {
	crcAt = -1
	for b := hdr[off:]; len(b) > 0; {
		if len(b) < tlvHeaderLen || len(b)-tlvHeaderLen < int(b[1])<<8|int(b[2]) {
			return 0, ErrV2TLVOverrun
		}
		at := len(hdr) - len(b) + tlvHeaderLen
		typ, value, rest := nextTLV(b)
		b = rest
		switch {
		case typ == TypeNoop:
			continue
		case typ == TypeCRC32C:
			if len(value) != crcLen || crcAt >= 0 {
				return 0, ErrV2BadTLV
			}
			crcAt = at
		case !validValue(typ, value):
			return 0, ErrV2BadTLV
		}
		h.tlvs.add(TLV{Type: typ, Value: value})
	}
	return crcAt, nil
}

// validValue reports whether the specification allows value for a TLV of
// type typ. The callers check TypeCRC32C, which each treats its own way.
func validValue(typ byte, value []byte) bool {
	switch typ {
	case TypeUniqueID:
		return len(value) <= MaxUniqueIDLen
	case TypeSSL:
		return validSSL(value)
	}
	return true
}

// zeroCRC stands in for the checksum field while the checksum is computed.
// It lives outside checksum because hash/crc32 makes its input escape.
var zeroCRC [crcLen]byte

// checksum returns the CRC32C of hdr with the 4-byte value at crcAt taken as
// zeros (section 2.2.3), without modifying hdr.
func checksum(hdr []byte, crcAt int) uint32 {
	c := crc32.Update(0, castagnoli, hdr[:crcAt])
	c = crc32.Update(c, castagnoli, zeroCRC[:])
	return crc32.Update(c, castagnoli, hdr[crcAt+crcLen:])
}

// AppendV2Local appends to buf a version 2 header with the LOCAL command, no
// address and no TLV, which a sender uses for its own connections such as
// health checks, and returns the extended buffer.
func AppendV2Local(buf []byte) []byte {
	buf = append(buf, v2Signature...)
	return append(buf, v2Version|byte(Local), byte(FamilyUnspec)<<4|byte(TransportUnspec), 0, 0)
}

// AppendV2 appends h to buf as a version 2 header and returns the extended
// buffer; on error it returns buf unchanged and an error wrapping
// ErrInvalidHeader.
//
// For the Local command it writes the UNSPEC family and no addresses,
// whatever h holds. For Proxy, h.Family and h.Transport must be one of the
// combinations the specification defines, and the addresses must match the
// family: Source and Destination both IPv4 for FamilyIPv4, both IPv6 for
// FamilyIPv6 (IPv4-mapped ones included; zones are dropped), paths of at
// most 108 bytes for FamilyUnix, nothing for FamilyUnspec.
//
// The TLVs of h follow in order. A TypeCRC32C TLV, whatever its value, is
// written with the checksum of the header; there may be one at most. The
// encoder refuses what Decode would reject: a TypeUniqueID value longer than
// 128 bytes, a malformed TypeSSL value, and a header longer than MaxV2Len.
// h.Version is ignored: decoding a version 1 line and encoding it with
// AppendV2 converts it.
func AppendV2(buf []byte, h *Header) ([]byte, error) {
	start := len(buf)
	buf = append(buf, v2Signature...)
	switch h.Command {
	case Local:
		buf = append(buf, v2Version|byte(Local), byte(FamilyUnspec)<<4|byte(TransportUnspec), 0, 0)
	case Proxy:
		var err error
		if buf, err = appendAddresses(buf, h); err != nil {
			return buf[:start], err
		}
	default:
		return buf[:start], errEncodeCommand
	}
	crcAt := -1
	for _, t := range h.TLVs() {
		switch {
		case len(t.Value) > 0xffff:
			return buf[:start], errEncodeTLVLength
		case t.Type == TypeCRC32C:
			if crcAt >= 0 {
				return buf[:start], errEncodeTLV
			}
			crcAt = len(buf) + tlvHeaderLen
			buf = append(buf, TypeCRC32C, 0, crcLen, 0, 0, 0, 0)
			continue
		case !validValue(t.Type, t.Value):
			return buf[:start], errEncodeTLV
		}
		buf = append(buf, t.Type, byte(len(t.Value)>>8), byte(len(t.Value)))
		buf = append(buf, t.Value...)
	}
	length := len(buf) - start - v2FixedLen
	if length > 0xffff {
		return buf[:start], errEncodeLength
	}
	binary.BigEndian.PutUint16(buf[start+14:], uint16(length))
	if crcAt >= 0 {
		binary.BigEndian.PutUint32(buf[crcAt:], crc32.Checksum(buf[start:], castagnoli))
	}
	return buf, nil
}

// appendAddresses appends the version and command, family and transport,
// a zero length and the address block of a Proxy header.
func appendAddresses(buf []byte, h *Header) ([]byte, error) {
	if h.Family > FamilyUnix || h.Transport > TransportDatagram {
		return buf, errEncodeFamily
	}
	famByte := byte(h.Family)<<4 | byte(h.Transport)
	if !validFamily(famByte) {
		return buf, errEncodeFamily
	}
	buf = append(buf, v2Version|byte(Proxy), famByte, 0, 0)
	src, dst := h.Source.Addr(), h.Destination.Addr()
	switch h.Family {
	case FamilyIPv4:
		if !src.Is4() || !dst.Is4() {
			return buf, errEncodeAddress
		}
		s, d := src.As4(), dst.As4()
		buf = append(append(buf, s[:]...), d[:]...)
	case FamilyIPv6:
		if !src.Is6() || !dst.Is6() {
			return buf, errEncodeAddress
		}
		s, d := src.As16(), dst.As16()
		buf = append(append(buf, s[:]...), d[:]...)
	case FamilyUnix:
		if len(h.SourcePath) > unixPathLen || len(h.DestinationPath) > unixPathLen {
			return buf, errEncodePath
		}
		return appendPath(appendPath(buf, h.SourcePath), h.DestinationPath), nil
	default:
		return buf, nil
	}
	buf = binary.BigEndian.AppendUint16(buf, h.Source.Port())
	return binary.BigEndian.AppendUint16(buf, h.Destination.Port()), nil
}

// appendPath appends a sun_path field: path, at most 108 bytes, padded with
// NUL bytes.
func appendPath(buf, path []byte) []byte {
	buf = append(buf, path...)
	n := len(buf)
	buf = slices.Grow(buf, unixPathLen-len(path))[:n+unixPathLen-len(path)]
	clear(buf[n:])
	return buf
}
