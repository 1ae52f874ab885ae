// Package clienthello inspects the TLS ClientHello a client sends first on a
// connection, before any TLS work is done: the server name (SNI), ALPN
// protocols, offered versions, cipher suites and signature algorithms, the
// supported groups and key shares with post-quantum ones classified, and
// whether Encrypted Client Hello is in use. Peek matchers use it to route or
// filter connections while the bytes stay buffered for the TLS terminator or
// the upstream.
//
// [Parse] is a pure function over borrowed bytes. It accepts a hello that
// spans several TLS records or arrives a few bytes at a time, returning
// codecs.ErrNeedMore until the hello is complete; it answers [ErrNotTLS] after
// the first byte of a plain-text protocol; and it bounds what a client can
// make a peeker buffer ([MaxHelloSize], [MaxWireSize]). It never retains its
// input: the only references to it are the borrowed slices a [Hello] returns,
// valid until the caller's buffer changes or the Hello is parsed into again.
// With a reused Hello it allocates nothing.
//
// A relay selects on these fields in its pipeline spec; for example
//
//	match:
//	  tls_sni: ["*.example.org"]
//
// takes the connections whose ClientHello names a host under example.org.
// [Hello.ServerName] is returned as the client sent it, so a matcher compares
// it case-insensitively, as DNS names compare.
package clienthello
