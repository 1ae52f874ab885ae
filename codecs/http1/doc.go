// Package http1 reads and writes HTTP/1.1 messages (RFC 9112) as pure
// functions over borrowed bytes, for a server or reverse proxy on an event
// loop: no I/O, no goroutines, no net/http, and no allocation in steady
// state.
//
// [ParseRequestHead] and [ParseResponseHead] parse a head into a reused
// [Request] or [Response] whose fields point into the input, and return
// its length, or codecs.ErrNeedMore while it is incomplete. The message
// says how its body is framed ([Request.BodyKind], [Response.BodyKind]); a
// [ChunkedDecoder] streams a chunked body piece by piece as it arrives. The
// Append functions encode heads and chunks into caller-owned buffers, and
// [AppendProxyRequestHead] and [AppendProxyResponseHead] drop the
// hop-by-hop fields a proxy must not forward.
//
// # Strictness
//
// A front end and a back end that frame a message differently let a client
// smuggle a request past the front end, so the parsers accept one reading
// of a message or none. Where RFC 9112 lets a recipient choose, they
// reject:
//
//   - both Content-Length and Transfer-Encoding
//     ([ErrContentLengthWithTransferEncoding]);
//   - a Content-Length that is not plain digits within 63 bits, a list
//     ("5, 5") or differing repeated values; repeated lines of the same
//     value are accepted, as RFC 9110 §8.6 allows;
//   - a Transfer-Encoding other than chunked, applied once, as the final
//     coding ([ErrChunkedNotFinal], [ErrChunkedTwice]); "Chunked" in any
//     case is chunked; "gzip, chunked" is framed but answered 501
//     ([ErrUnsupportedTransferCoding]); Transfer-Encoding in HTTP/1.0;
//   - obsolete line folding ([ErrObsFold]), whitespace before a field's
//     colon, control bytes (NUL, CR, LF, VT...) in field names or values,
//     and non-token bytes in methods and field names;
//   - lines ended by a bare LF ([ErrBareLF]) and CRs not followed by LF;
//   - an HTTP/1.1 request without Host, any request with two, and a Host
//     holding bytes no URI authority has;
//   - request targets of a form the method does not take, and bytes
//     outside visible ASCII in them.
//
// A Connection field names the fields that are the connection's own, and
// a proxy drops them; it cannot name Content-Length or Host, which frame
// and route the message: that token is ignored ([IsHopByHop]).
//
// Responses follow the same field rules: a proxy answers 502 to an
// upstream that breaks them. Every fault has its own error value, which
// matches one class under errors.Is; [StatusFor] gives the status code to
// answer with (400, 413, 414, 431, 501 or 505), and [Limits] bounds the
// head, the request line, the field count and the body.
//
// # A server loop
//
// A connection keeps one Request, one ChunkedDecoder and its read buffer.
// On each read it appends to the buffer and runs:
//
//  1. Parse the head: n, err := http1.ParseRequestHead(buf, &req, lim). On
//     codecs.ErrNeedMore wait for more bytes (the limits bound the wait);
//     on another error write a response with StatusFor(err) and close. The
//     Request borrows buf: use its fields, or copy them, before dropping
//     buf[:n].
//  2. Decide the framing with req.BodyKind(). If req.Expect100(), write
//     "HTTP/1.1 100 Continue" before reading the body; if req.Upgrade()
//     is accepted, the connection leaves HTTP after the response.
//  3. Stream the body: for BodyContentLength take min(remaining, len(buf))
//     bytes per read; for BodyChunked call dec.Decode(buf) until it
//     returns ErrBodyDone, handing on each data piece and dropping the
//     consumed bytes, so a body of any size needs only the read buffer.
//  4. Respond, then, if req.KeepAlive(), reset the decoder and go back to
//     step 1 with what remains of buf: a pipelined next request may
//     already be there. Otherwise close after the response.
//
// A pipeline names the codec and its limits in its spec; for example
//
//	{"kind": "http1", "max_header_bytes": 65536, "max_headers": 100, "max_line_bytes": 8192, "max_body_bytes": 0}
//
// sets every limit to its default. The fields map one to one onto [Limits].
//
// # Where it belongs
//
// By the rule of package codecs (bytes in, frames out, no I/O), http1 is a
// pure codec: it imports only codecs and bytes, encoding/binary, errors,
// strconv and unsafe from the standard library, reads borrowed bytes,
// appends into caller-owned buffers, and keeps its state across reads
// ([ChunkedDecoder], [HeadScan]) in values its caller owns; it reads no
// connection, starts no goroutine and sets no timer. So it lives in
// codecs/http1, beside resp, and l7 keeps what runs HTTP on a stream:
// httpd and httpproxy.
package http1
