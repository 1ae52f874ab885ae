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
// (for blocking libraries such as crypto/tls), an in-memory pipe, and a UDP
// session keyed by the client address. Every Handler callback of a stream
// runs on the stream's Loop, one at a time, so handler state needs no locks
// as long as the streams it touches share that loop.
//
// Loop streams keep memory bounded without changes to gnet: relay data never
// enters gnet's outbound buffer (it is written with write(2), and what the
// kernel does not take goes to a short-lived drainer goroutine), and a paused
// stream is parked by closing its gnet connection while a dup'ed descriptor
// keeps the socket open, so the kernel's TCP window pushes back on the
// sender. DESIGN.md and research/gnet-backpressure.md record the measurements
// behind this design.
package transport
