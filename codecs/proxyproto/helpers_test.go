package proxyproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// payload is what a client sends after the header; Decode must not read it.
const payload = "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"

// v2Header builds a version 2 header by hand, independently of AppendV2:
// the signature, the version and command byte, the family and transport
// byte, the length of the body, then the body.
func v2Header(verCmd, fam byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte(v2Signature), []byte{verCmd, fam}, u16(len(b)), b)
}

// tlv encodes one TLV.
func tlv(typ byte, value ...[]byte) []byte {
	v := cat(value...)
	return cat([]byte{typ}, u16(len(v)), v)
}

// withCRC32C appends a CRC32C TLV to a header built by v2Header, fixes its
// length and fills in the checksum, computed with a table of its own.
func withCRC32C(hdr []byte) []byte {
	hdr = append(bytes.Clone(hdr), TypeCRC32C, 0, 4, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(hdr[14:], uint16(len(hdr)-16))
	sum := crc32.Checksum(hdr, crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(hdr[len(hdr)-4:], sum)
	return hdr
}

// block4 and block6 build the address block of an IPv4 or IPv6 header.
func block4(src, dst string, sport, dport int) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	return cat(s[:], d[:], u16(sport), u16(dport))
}

func block6(src, dst string, sport, dport int) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	return cat(s[:], d[:], u16(sport), u16(dport))
}

// blockUnix builds the address block of a UNIX header.
func blockUnix(src, dst string) []byte {
	return cat(padPath(src), padPath(dst))
}

func padPath(p string) []byte {
	return append([]byte(p), make([]byte, unixPathLen-len(p))...)
}

// unhex decodes a hexadecimal test vector.
func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// tlvView is a TLV copied for comparisons.
type tlvView struct {
	Type  byte
	Value string
}

// view is a deep copy of everything a decode produced, for comparisons.
type view struct {
	N               int
	Version         int
	Command         Command
	Family          Family
	Transport       Transport
	Source          netip.AddrPort
	Destination     netip.AddrPort
	SourcePath      string
	DestinationPath string
	TLVs            []tlvView
}

func viewOf(n int, h *Header) view {
	v := view{
		N: n, Version: h.Version, Command: h.Command, Family: h.Family, Transport: h.Transport,
		Source: h.Source, Destination: h.Destination,
		SourcePath: string(h.SourcePath), DestinationPath: string(h.DestinationPath),
	}
	for _, t := range h.TLVs() {
		v.TLVs = append(v.TLVs, tlvView{t.Type, string(t.Value)})
	}
	return v
}

// checkDecode decodes in with d, byte by byte and then with a payload after
// it, and checks that every prefix needs more bytes until the header is
// complete or the error shows, and that all longer inputs give the same
// result, want or wantErr.
func checkDecode(t *testing.T, d Decoder, in []byte, want view, wantErr error) {
	t.Helper()
	var h Header
	decided := -1 // shortest prefix with an answer
	for k := 0; k <= len(in); k++ {
		n, err := d.Decode(in[:k], &h)
		if errors.Is(err, codecs.ErrNeedMore) {
			if decided >= 0 {
				t.Fatalf("prefix of %d bytes needs more after %d bytes gave an answer", k, decided)
			}
			if n != 0 || !reflect.DeepEqual(viewOf(0, &h), view{}) {
				t.Fatalf("prefix of %d bytes: ErrNeedMore left n = %d, header %+v", k, n, viewOf(0, &h))
			}
			continue
		}
		if decided < 0 {
			decided = k
		}
		if wantErr != nil {
			if err != wantErr || n != 0 {
				t.Fatalf("prefix of %d bytes: n = %d, err = %v; want %v", k, n, err, wantErr)
			}
			if !reflect.DeepEqual(viewOf(0, &h), view{}) {
				t.Fatalf("header not empty after an error: %+v", viewOf(0, &h))
			}
			continue
		}
		if err != nil {
			t.Fatalf("prefix of %d bytes: %v", k, err)
		}
		if got := viewOf(n, &h); !reflect.DeepEqual(got, want) {
			t.Fatalf("prefix of %d bytes decodes to\n%+v\nwant\n%+v", k, got, want)
		}
	}
	if decided < 0 {
		t.Fatalf("no answer after all %d bytes", len(in))
	}
	if wantErr == nil && decided != want.N {
		t.Fatalf("answered after %d bytes, want exactly the %d header bytes", decided, want.N)
	}
	withPayload := append(bytes.Clone(in), payload...)
	n, err := d.Decode(withPayload, &h)
	if err != wantErr {
		t.Fatalf("with a payload: err = %v, want %v", err, wantErr)
	}
	if err == nil && (n != want.N || !bytes.Equal(withPayload[n:], []byte(payload))) {
		t.Fatalf("with a payload: consumed %d bytes, want %d; rest %q", n, want.N, withPayload[n:])
	}
}

// maxIPv6 is the longest IPv6 address in the canonical text form.
var maxIPv6 = strings.Repeat("ffff:", 7) + "ffff"
