// Package framing splits a byte stream, or a sequence of datagrams, into
// frames and writes frames back: the framers every Penstock pipeline starts
// and ends with. It uses Netty's and tokio's vocabulary:
//
//   - [LengthField]: a length field at a fixed offset gives each frame's
//     size (Netty's LengthFieldBasedFrameDecoder, tokio's
//     LengthDelimitedCodec);
//   - [Delimiter]: frames end at the first of a set of delimiters
//     (DelimiterBasedFrameDecoder);
//   - [Line]: frames end at "\n" or "\r\n" (LineBasedFrameDecoder, LinesCodec);
//   - [Fixed]: every frame has the same size (FixedLengthFrameDecoder);
//   - [Datagram]: each datagram is one frame, for UDP pipelines.
//
// Each framer is a plain configuration struct whose fields are the knobs of
// a pipeline spec, with a Validate method that names the field it rejects.
// The pipeline generator builds the struct from the spec and calls its
// methods directly; for example
//
//	"framing": {"kind": "length_field", "offset": 0, "length": 4, "adjust": 0,
//	            "strip": 4, "endian": "big", "max": 1048576, "fail_fast": true}
//
// becomes LengthField{Offset: 0, Length: 4, Adjust: 0, Strip: 4,
// BigEndian: true, Max: 1 << 20, FailFast: true}: big-endian 4-byte length
// prefixes that count the payload, payloads of up to 1 MiB minus 4 bytes
// delivered without the prefix, an oversized frame refused as soon as its
// length is read. The other kinds are "delimiter" (delimiters, strip, max),
// "line" (max, strip), "fixed" (size) and "datagram" (max).
//
// Decode methods are pure functions over borrowed bytes, the stage contract
// of package codecs: Decode(in) returns the first frame in in, as a slice of
// in, and the number of bytes it consumed. The frame is valid only until the
// caller's buffer changes; copy it to keep it. Its capacity ends with the
// frame, so appending to it never overwrites the next frame. When in holds
// no complete frame yet, Decode returns codecs.ErrNeedMore and consumes
// nothing. For the stream framers a result never depends on how much input
// arrived: once Decode returns anything else, every longer input that starts
// with the same bytes gives the same result.
//
// Append methods write one frame into a buffer the caller owns and return
// the extended buffer. They refuse, leaving the buffer as it was, a payload
// whose frame their Decode would reject or end early. Neither kind of method
// allocates in steady state, and both are safe to call from any goroutine,
// as long as nobody modifies a framer (or its Delimiters) while it is in use.
//
// Errors are sentinels a caller can branch on: [ErrTooLarge], which wraps
// codecs.ErrTooLarge, for a frame over its limit; [ErrBadLength] for a length
// field that declares an impossible frame; [ErrDelimiterInPayload] for a
// payload Append cannot frame; and [ErrConfig], wrapped by a [*ConfigError],
// for a framer Validate rejects. Decode and Append run Validate first, so
// a bad configuration fails the same way everywhere and never panics.
package framing
