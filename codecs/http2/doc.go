// Package http2 is HTTP/2 (RFC 9113) as a connection state machine without
// I/O: a [Conn] takes the bytes its peer sent ([Conn.Feed]), tells a
// [Handler] what they mean (a stream's head, body pieces, trailers, a
// reset, GOAWAY, a send window that reopened), and appends the frames it
// must send to its output ([Conn.Output]), which the caller writes to the
// connection. The same Conn serves (Server) and dials (Client), over
// cleartext or whatever carries TLS; an event loop drives it, with no
// goroutine and no timer of its own.
//
// Frames are read header first (9 bytes) and handled only once their
// payload is whole, so the input a caller must hold is bounded by the
// largest frame the Conn advertises (Config.MaxFrameSize). Header blocks
// are decoded with golang.org/x/net/http2/hpack as their HEADERS and
// CONTINUATION fragments arrive, under a cap on the decoded list and on
// the encoded block, and checked against RFC 9113 §8 (pseudo-header
// fields, connection-specific fields, lowercase names, field values,
// content-length against the DATA received).
//
// # Flow control is backpressure
//
// A DATA frame's bytes are lent to [Handler.OnData]; the stream's and the
// connection's receive windows are given back only as the consumer says it
// has drained them ([Conn.Consumed]). A stream whose consumer is slow stops
// its sender at the stream window, and the memory a peer can make the
// receiver hold is the connection window (Config.ConnWindow), whatever it
// advertises itself. On the send side [Conn.WriteData] sends what the
// peer's windows allow and says how much; [Handler.OnWritable] says when to
// go on.
//
// # Defences
//
// A peer can make a server work hard with frames that are cheap to send:
// resetting the streams it opens (Rapid Reset, CVE-2023-44487), making the
// server reset them with frames that are wrong on purpose (MadeYouReset,
// CVE-2025-8671), an endless header block (CONTINUATION flood,
// CVE-2023-45288), a small block that decodes to a huge list (an HPACK
// bomb), and floods of SETTINGS, PING, empty DATA, zero-length fragments or
// needless WINDOW_UPDATEs. Each costs the peer glitch points (counted by
// kind in [Stats]); a stream completed normally takes one point back; past
// Config.MaxGlitches the connection ends with GOAWAY ENHANCE_YOUR_CALM. A
// header block beyond the caps ends the connection at once (its HPACK state
// cannot be kept otherwise) or, for a decoded list only too large, answers
// the stream 431 and goes on. Time-based defences (a preface, headers or an
// idle connection that does not arrive) are the driver's: the Conn has no
// clock.
//
// Every method is for one goroutine at a time (the driver's event loop).
package http2
