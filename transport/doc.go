// Package transport accepts TCP, UDP and unix-socket connections on gnet
// event loops and turns each one into a virtual L4 stream.
//
// The flow of one connection is:
//
//  1. accept on an event loop (one loop per core with Options.Loops);
//  2. connection filters (CIDR allow/deny, per-IP count and rate, a global
//     cap, user funcs) decide before any byte is read;
//  3. the connection becomes a Stream and the listener's Accept func sets its
//     Handler, which may be a PeekRouter that looks at the first bytes (a
//     byte prefix, a TLS ClientHello's SNI) before it picks the real handler.
//
// A Stream is one interface over four carriers: a gnet connection that lives
// on its event loop (the cheap default), a net.Conn detached to goroutines
// (for blocking code, and for splice(2) relaying), an in-memory pipe, and a UDP
// session keyed by the client address. Every Handler callback of a stream
// runs on the stream's Loop, one at a time, so handler state needs no locks
// as long as the streams it touches share that loop.
//
// Loop streams keep memory bounded without changes to gnet: relay data never
// enters gnet's outbound buffer (it is written with send(2), and what the
// kernel does not take is queued: the loop sends from the queue before each
// new write, a short-lived goroutine when the socket turns writable), and a paused
// stream is parked by closing its gnet connection while a dup'ed descriptor
// keeps the socket open, so the kernel's TCP window pushes back on the
// sender. docs/design.md records the measurements behind this design.
//
// # TLS
//
// TLS (tls.go) terminates TLS on the streams a listener or a peek route
// hands it, with stock crypto/tls: the ClientHello is buffered on the loop,
// the handshake runs on a short-lived goroutine fed from the loop, and then
// every record is read and written on the loop, so the decrypted stream is
// a Stream like any other (same backpressure, no goroutine per
// connection). TLSClient does the same for connections the proxy opens.
// Certificates picks a certificate by SNI; TLSFiles and ClientTLSFiles read
// configurations from PEM files; ConnectionState and TLSInfoOf give a
// stream's TLS state to handlers.
//
// # UDP sessions
//
// A UDP listener has one socket per loop (SO_REUSEPORT). A client's first
// datagram passes the listener's filters and opens its session, which is
// the client's only one in the whole transport, whichever loop the kernel
// hands its later datagrams to (see udpTable). On a listener bound to a
// specific address, the session then gets a socket of its own, connected
// to the client and filtered in the kernel by the client's source address
// and port, so its datagrams skip the shared socket; anything that reached
// the new socket before its filter did goes back through the filters and
// the session table, so no datagram reaches another client's session and
// none skips the filters.
//
// # Descriptors
//
// Descriptors are rationed by number below the open-file limit (see
// CheckFD): sockets the process opens itself stop first, then accepted
// connections are closed at once, so the loops always keep descriptors to
// accept and refuse with, and a refusal is counted (ReasonFDLimit) and
// logged at most once a second. A UDP listener's default session cap is
// what the limit leaves room for at two descriptors a session.
package transport
