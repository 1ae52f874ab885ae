// Package proxyproto decodes and encodes the PROXY protocol header that a
// proxy or load balancer sends first on a connection to pass on the client's
// address: version 1, a line of text ("PROXY TCP4 192.0.2.1 198.51.100.1
// 56324 443\r\n"), and version 2, a binary header that also carries UDP and
// UNIX socket addresses and TLVs (ALPN, authority, CRC32C checksum, unique
// ID, TLS details), as HAProxy's proxy-protocol.txt specifies them.
//
// [Decode] and [Decoder.Decode] are pure functions over borrowed bytes. They
// accept a header that arrives a few bytes at a time, returning
// codecs.ErrNeedMore until it is complete; they answer [ErrNotProxy] after the
// first byte of any other protocol; they verify a CRC32C checksum when the
// header has one; and they bound what a peer can make a reader buffer
// ([MaxV1Len], [Decoder.MaxV2]). They never retain their input: the only
// references to it are the borrowed slices of a [Header], valid until the
// caller's buffer changes or the Header is decoded into again. With a reused
// Header they allocate nothing. [Detect] tells a peek matcher early whether
// a connection starts with a header. [AppendV1], [AppendV2] and
// [AppendV2Local] encode into a buffer the caller owns, without allocating
// when it has room.
//
// Trust is the caller's policy, not this package's. A header claims an
// address, and anyone can send one, so a listener must decode it only from
// peers it trusts (its own load balancers) and must require it from them:
// the specification forbids guessing whether a header is present, since a
// client could then spoof its address. A pipeline spec names both the
// versions it accepts and the trusted sources, for example
//
//	{"kind": "proxy_protocol", "accept": ["v1", "v2"], "trusted": ["10.0.0.0/8"], "max_v2": 4096}
//
// which decodes a header of either version, at most 4 KiB for version 2
// ([Decoder.MaxV2]), from peers in 10.0.0.0/8, and refuses connections from
// elsewhere or without a header. A header with the LOCAL command (or a
// version 1 UNKNOWN line) is valid and tells the receiver to use the real
// connection's endpoints; a version 2 PROXY header with the UNSPEC family
// carries no address either, and the receiver may use the real endpoints or
// refuse the connection.
package proxyproto
