package proxyproto_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/proxyproto"
)

// The relay's policy, from its pipeline spec: {"kind": "proxy_protocol",
// "accept": ["v1", "v2"], "trusted": ["10.0.0.0/8"], "max_v2": 4096}.
var (
	trusted = netip.MustParsePrefix("10.0.0.0/8")
	decoder = proxyproto.Decoder{MaxV2: proxyproto.RecommendedMaxV2}
)

// errUntrusted refuses a connection from a peer that may not send a header.
var errUntrusted = errors.New("peer may not send a PROXY header")

// relay reads the first bytes a load balancer sent, in chunks, decodes the
// PROXY header it must put in front of the client's bytes, and returns what
// to send the upstream: a version 2 header for the same client, tagged with
// the relay's connection ID and protected by a checksum, then the client's
// bytes.
func relay(peer netip.AddrPort, chunks [][]byte, h *proxyproto.Header, connID []byte) ([]byte, error) {
	if !trusted.Contains(peer.Addr()) {
		return nil, errUntrusted // never decode a header from anyone else
	}
	var buf []byte
	for _, chunk := range chunks {
		buf = append(buf, chunk...)
		n, err := decoder.Decode(buf, h)
		if errors.Is(err, codecs.ErrNeedMore) {
			continue // read more; the caller also bounds the time it waits
		}
		if err != nil {
			return nil, err // not a header, malformed or too large: close
		}
		// The decoded header is re-encoded as it is, version 1 or 2, with
		// the TLVs the balancer sent; a LOCAL one (a health check) stays
		// LOCAL.
		h.AddTLV(proxyproto.TypeUniqueID, connID)
		h.AddTLV(proxyproto.TypeCRC32C, nil) // AppendV2 fills it in
		out, err := proxyproto.AppendV2(make([]byte, 0, 512), h)
		if err != nil {
			return nil, err
		}
		return append(out, buf[n:]...), nil
	}
	return nil, codecs.ErrNeedMore
}

// Example_relay shows a relay that trusts its load balancers' PROXY headers
// and passes the client's address on to its upstream.
func Example_relay() {
	var h proxyproto.Header // reuse one per event loop
	lb := netip.MustParseAddrPort("10.1.2.3:40000")
	first := []byte("PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n\r\n")
	out, err := relay(lb, [][]byte{first[:9], first[9:]}, &h, []byte("relay-1/42"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// What the upstream sees.
	var up proxyproto.Header
	n, err := proxyproto.Decode(out, &up)
	fmt.Println(err, up.Version, up.Command, up.Source, up.Destination, string(up.UniqueID()))
	fmt.Printf("%q\n", out[n:])

	_, err = relay(netip.MustParseAddrPort("198.51.100.9:1234"), [][]byte{first}, &h, nil)
	fmt.Println(err)
	_, err = relay(lb, [][]byte{[]byte("GET / HTTP/1.1\r\n")}, &h, nil)
	fmt.Println(err)
	// Output:
	// <nil> 2 PROXY 203.0.113.7:51234 198.51.100.1:443 relay-1/42
	// "GET / HTTP/1.1\r\n\r\n"
	// peer may not send a PROXY header
	// penstock/proxyproto: not a PROXY protocol header
}

func ExampleAppendV1() {
	src := netip.MustParseAddrPort("192.0.2.1:56324")
	dst := netip.MustParseAddrPort("198.51.100.2:443")
	fmt.Printf("%q\n", proxyproto.AppendV1(nil, src, dst))
	fmt.Printf("%q\n", proxyproto.AppendV1(nil, src, netip.MustParseAddrPort("[2001:db8::1]:443")))
	// Output:
	// "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
	// "PROXY UNKNOWN\r\n"
}

func ExampleDetect() {
	for _, first := range []string{"P", "PROXY", "\r\n\r\n\x00\r\nQUIT\n", "GET / HTTP/1.1\r\n"} {
		version, err := proxyproto.Detect([]byte(first))
		fmt.Println(version, err)
	}
	// Output:
	// 0 penstock/codecs: need more bytes
	// 1 <nil>
	// 2 <nil>
	// 0 penstock/proxyproto: not a PROXY protocol header
}
