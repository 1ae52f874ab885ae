package clienthello

import (
	"slices"

	"github.com/penstock-proxy/penstock/codecs"
)

const (
	// MaxHelloSize is the largest ClientHello handshake message, its 4-byte
	// header included, that Parse accepts. Current clients send 0.5 to 2 KiB
	// (post-quantum key shares add about 1.2 KiB); anything larger is
	// refused with [ErrTooLarge] as soon as the message header shows it.
	MaxHelloSize = 16 << 10

	// MaxWireSize bounds the bytes Parse reads: the records that carry the
	// ClientHello, headers included, must end within the first MaxWireSize
	// bytes, or Parse returns [ErrTooLarge]. A peeker that has buffered
	// MaxWireSize bytes therefore never gets codecs.ErrNeedMore. The slack
	// over MaxHelloSize admits clients that fragment the hello into many
	// small records, as some censorship-circumvention tools do.
	MaxWireSize = 2 * MaxHelloSize
)

const (
	recordTypeHandshake = 0x16
	recordHeaderLen     = 5
	maxRecordLen        = 1 << 14 // TLSPlaintext.length limit, RFC 8446 Section 5.1

	handshakeHeaderLen   = 4
	typeClientHello      = 1
	randomLen            = 32
	maxSessionIDLen      = 32
	hostNameType         = 0
	extServerName        = 0x0000
	extSupportedGroups   = 0x000a
	extSignatureAlgs     = 0x000d
	extALPN              = 0x0010
	extPreSharedKey      = 0x0029
	extSupportedVersions = 0x002b
	extKeyShare          = 0x0033
	extECH               = 0xfe0d
)

// Parse decodes the ClientHello at the start of b, the first bytes a client
// sent on a connection (TLS record layer), into h and returns the number of
// bytes of the records that carried it. The hello may span several records.
//
// Parse returns codecs.ErrNeedMore while b is a valid prefix of a
// ClientHello, [ErrNotTLS] as soon as b cannot be a TLS handshake record (after
// one byte for plain text protocols), [ErrNotClientHello] when the first
// handshake message is of another type, [ErrTooLarge] beyond [MaxHelloSize]
// or [MaxWireSize], and an error wrapping [ErrMalformed] for a wire format
// violation. Every check runs as soon as the bytes it needs are present, so
// a longer input never turns an error into success or changes a result.
//
// Parse never modifies b and keeps no reference to it except through the
// borrowed slices h returns (see [Hello]). On error h is left empty.
func Parse(b []byte, h *Hello) (n int, err error) {
	h.reset()
	msgLen, n, err := frame(b)
	if err != nil {
		return 0, err
	}
	var msg []byte
	if n == recordHeaderLen+msgLen {
		msg = b[recordHeaderLen:n]
	} else {
		msg = h.reassemble(b[:n], msgLen)
	}
	if err := h.parseBody(msg[handshakeHeaderLen:]); err != nil {
		h.reset()
		return 0, err
	}
	return n, nil
}

// frame walks the records at the start of b that carry the first handshake
// message. It returns the message length, header included, and the length of
// those records. Each check runs as soon as its bytes are present.
func frame(b []byte) (msgLen, n int, err error) {
	var header uint32 // handshake header bytes seen so far, big-endian
	seen := 0         // handshake bytes in the records walked so far
	msgLen = -1
	for off := 0; ; {
		if off+recordHeaderLen+1 > MaxWireSize {
			return 0, 0, ErrTooLarge // no record starting here can end in time
		}
		rec := b[off:]
		if len(rec) < 1 {
			return 0, 0, codecs.ErrNeedMore
		}
		if rec[0] != recordTypeHandshake {
			return 0, 0, notHandshake(off)
		}
		if len(rec) < 2 {
			return 0, 0, codecs.ErrNeedMore
		}
		if rec[1] != 3 {
			return 0, 0, notHandshake(off)
		}
		if len(rec) < recordHeaderLen {
			return 0, 0, codecs.ErrNeedMore
		}
		recLen := int(rec[3])<<8 | int(rec[4])
		switch {
		case recLen == 0:
			return 0, 0, errEmptyRecord
		case recLen > maxRecordLen:
			return 0, 0, errRecordOverflow
		}
		end := off + recordHeaderLen + recLen
		if end > MaxWireSize {
			return 0, 0, ErrTooLarge
		}
		fragment := rec[recordHeaderLen:min(len(rec), recordHeaderLen+recLen)]
		for i := 0; seen+i < handshakeHeaderLen && i < len(fragment); i++ {
			header = header<<8 | uint32(fragment[i])
			switch seen + i {
			case 0:
				if fragment[i] != typeClientHello {
					return 0, 0, ErrNotClientHello
				}
			case handshakeHeaderLen - 1:
				msgLen = handshakeHeaderLen + int(header&0xffffff)
				if msgLen > MaxHelloSize {
					return 0, 0, ErrTooLarge
				}
			}
		}
		if end > len(b) {
			return 0, 0, codecs.ErrNeedMore
		}
		seen += recLen
		if msgLen >= 0 && seen >= msgLen {
			if seen > msgLen {
				return 0, 0, errTrailingData
			}
			return msgLen, end, nil
		}
		off = end
	}
}

// notHandshake is the error for a record header byte that is not a TLS
// handshake record's: the input is not TLS if it is the first record, and a
// protocol violation if an earlier record already carried part of the hello.
func notHandshake(off int) error {
	if off == 0 {
		return ErrNotTLS
	}
	return errInterleaved
}

// reassemble copies the fragments of the records into h's reassembly buffer
// and returns the handshake message. frame has validated the records.
func (h *Hello) reassemble(records []byte, msgLen int) []byte {
	h.reassembly = slices.Grow(h.reassembly[:0], msgLen)
	for len(records) > 0 {
		end := recordHeaderLen + (int(records[3])<<8 | int(records[4]))
		h.reassembly = append(h.reassembly, records[recordHeaderLen:end]...)
		records = records[end:]
	}
	return h.reassembly
}

// parseBody decodes the ClientHello body (RFC 8446 Section 4.1.2, and RFC
// 5246 Section 7.4.1.2 for hellos without extensions). It applies the checks
// crypto/tls applies to the fields it decodes, and the RFC's vector bounds
// for the fixed fields.
func (h *Hello) parseBody(body cursor) error {
	vers, ok := body.u16()
	if !ok || !body.skip(randomLen) {
		return errTruncatedBody
	}
	h.legacyVersion = vers
	sessionID, ok := body.vec8()
	if !ok {
		return errTruncatedBody
	}
	if len(sessionID) > maxSessionIDLen {
		return errSessionID
	}
	h.hasSessionID = len(sessionID) > 0
	suites, ok := body.vec16()
	if !ok {
		return errTruncatedBody
	}
	if len(suites) == 0 || len(suites)%2 != 0 {
		return errCipherSuites
	}
	for ; len(suites) > 0; suites = suites[2:] {
		h.cipherSuites.add(uint16(suites[0])<<8 | uint16(suites[1]))
	}
	compression, ok := body.vec8()
	if !ok {
		return errTruncatedBody
	}
	if len(compression) == 0 {
		return errCompression
	}
	if len(body) == 0 {
		return nil
	}
	extensions, ok := body.vec16()
	if !ok || len(body) != 0 {
		return errExtensions
	}
	return h.parseExtensions(extensions)
}

// parseExtensions records the type of every extension in the block and
// decodes those that Hello exposes; it leaves the others unread.
func (h *Hello) parseExtensions(exts cursor) error {
	for len(exts) > 0 {
		typ, ok := exts.u16()
		if !ok {
			return errExtensions
		}
		data, ok := exts.vec16()
		if !ok {
			return errExtensions
		}
		h.extensions.add(typ)
		var err error
		switch typ {
		case extServerName:
			err = h.parseServerName(data)
		case extSupportedGroups:
			err = parseGroupList(data, &h.supportedGroups)
		case extSignatureAlgs:
			err = parseUint16List(data, &h.signatureAlgs, errSignatureAlgs)
		case extALPN:
			err = h.parseALPN(data)
		case extSupportedVersions:
			err = h.parseSupportedVersions(data)
		case extKeyShare:
			err = h.parseKeyShare(data)
		case extPreSharedKey:
			if len(exts) != 0 {
				err = errPSKNotLast
			}
		case extECH:
			h.hasECH = true
		}
		if err != nil {
			return err
		}
	}
	return h.checkDuplicateExtensions()
}

// checkDuplicateExtensions enforces RFC 8446 Section 4.2: no extension type
// twice. Typical lists are short enough to compare pairwise; longer ones are
// sorted in scratch space so a hostile hello cannot cost quadratic time.
func (h *Hello) checkDuplicateExtensions() error {
	types := h.extensions.items()
	if len(types) <= inlineLen {
		for i, t := range types {
			if slices.Contains(types[:i], t) {
				return errDuplicateExtension
			}
		}
		return nil
	}
	h.sortedExtensions = append(h.sortedExtensions[:0], types...)
	slices.Sort(h.sortedExtensions)
	for i := 1; i < len(h.sortedExtensions); i++ {
		if h.sortedExtensions[i] == h.sortedExtensions[i-1] {
			return errDuplicateExtension
		}
	}
	return nil
}

// parseServerName decodes server_name (RFC 6066 Section 3) as crypto/tls
// does: a non-empty list of non-empty names, at most one host_name, and no
// trailing dot.
func (h *Hello) parseServerName(data cursor) error {
	names, ok := data.vec16()
	if !ok || len(names) == 0 || len(data) != 0 {
		return errServerName
	}
	for len(names) > 0 {
		nameType := names[0]
		names = names[1:]
		name, ok := names.vec16()
		if !ok || len(name) == 0 {
			return errServerName
		}
		if nameType != hostNameType {
			continue
		}
		if h.serverName != nil || name[len(name)-1] == '.' {
			return errServerName
		}
		h.serverName = name
	}
	return nil
}

// parseALPN decodes application_layer_protocol_negotiation (RFC 7301 Section
// 3.1): a non-empty list of non-empty protocol names.
func (h *Hello) parseALPN(data cursor) error {
	protos, ok := data.vec16()
	if !ok || len(protos) == 0 || len(data) != 0 {
		return errALPN
	}
	for len(protos) > 0 {
		proto, ok := protos.vec8()
		if !ok || len(proto) == 0 {
			return errALPN
		}
		h.alpn.add(proto)
	}
	return nil
}

// parseSupportedVersions decodes supported_versions (RFC 8446 Section
// 4.2.1): a non-empty list with a one-byte length.
func (h *Hello) parseSupportedVersions(data cursor) error {
	versions, ok := data.vec8()
	if !ok || len(versions) == 0 || len(versions)%2 != 0 || len(data) != 0 {
		return errSupportedVersions
	}
	for ; len(versions) > 0; versions = versions[2:] {
		h.supportedVersions.add(uint16(versions[0])<<8 | uint16(versions[1]))
	}
	return nil
}

// parseKeyShare decodes key_share (RFC 8446 Section 4.2.8): a possibly empty
// list of entries, each a group and a non-empty key.
func (h *Hello) parseKeyShare(data cursor) error {
	shares, ok := data.vec16()
	if !ok || len(data) != 0 {
		return errKeyShare
	}
	for len(shares) > 0 {
		group, ok := shares.u16()
		if !ok {
			return errKeyShare
		}
		key, ok := shares.vec16()
		if !ok || len(key) == 0 {
			return errKeyShare
		}
		h.keyShareGroups.add(Group(group))
	}
	return nil
}

// parseGroupList decodes supported_groups (RFC 8446 Section 4.2.7).
func parseGroupList(data cursor, dst *list[Group]) error {
	groups, ok := data.vec16()
	if !ok || len(groups) == 0 || len(groups)%2 != 0 || len(data) != 0 {
		return errSupportedGroups
	}
	for ; len(groups) > 0; groups = groups[2:] {
		dst.add(Group(groups[0])<<8 | Group(groups[1]))
	}
	return nil
}

// parseUint16List decodes a non-empty list of uint16 with a two-byte length,
// such as signature_algorithms (RFC 8446 Section 4.2.3).
func parseUint16List(data cursor, dst *list[uint16], errBad error) error {
	values, ok := data.vec16()
	if !ok || len(values) == 0 || len(values)%2 != 0 || len(data) != 0 {
		return errBad
	}
	for ; len(values) > 0; values = values[2:] {
		dst.add(uint16(values[0])<<8 | uint16(values[1]))
	}
	return nil
}

// cursor reads big-endian fields from the front of a byte slice. Each read
// returns false, and consumes nothing, when too few bytes remain. Returned
// slices have their capacity capped at their length.
type cursor []byte

func (c *cursor) u16() (uint16, bool) {
	if len(*c) < 2 {
		return 0, false
	}
	v := uint16((*c)[0])<<8 | uint16((*c)[1])
	*c = (*c)[2:]
	return v, true
}

func (c *cursor) skip(n int) bool {
	if len(*c) < n {
		return false
	}
	*c = (*c)[n:]
	return true
}

// vec8 reads a vector with a one-byte length prefix.
func (c *cursor) vec8() (cursor, bool) {
	s := *c
	if len(s) < 1 || len(s)-1 < int(s[0]) {
		return nil, false
	}
	end := 1 + int(s[0])
	*c = s[end:]
	return s[1:end:end], true
}

// vec16 reads a vector with a two-byte length prefix.
func (c *cursor) vec16() (cursor, bool) {
	s := *c
	if len(s) < 2 {
		return nil, false
	}
	end := 2 + (int(s[0])<<8 | int(s[1]))
	if len(s) < end {
		return nil, false
	}
	*c = s[end:]
	return s[2:end:end], true
}
