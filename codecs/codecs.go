// Package codecs holds the stages of a Penstock pipeline, pure functions over
// borrowed bytes, in its subpackages, and the errors they share: the
// sentinels below and [Error], the static error type the codecs declare
// their failures with.
//
// A decoder reads bytes it does not own and returns what it decoded, the
// number of bytes it consumed and an error; [ErrNeedMore] says the input is
// incomplete and the caller should retry with more bytes. Decoders never keep
// the buffer past the call except through fields their documentation says are
// borrowed. Encoders append into a buffer the caller owns.
//
// A codec belongs here when it is pure in that sense: bytes in, frames
// out, no I/O, no goroutines, no timers. A decoder may keep state between
// calls, such as its place in a chunked body, in a value its caller owns.
// What reads or writes a connection, waits or schedules lives in l4 or l7
// and imports the codecs.
package codecs

import "errors"

// ErrNeedMore is returned by every decoder in the project when the input is a
// valid but incomplete prefix: the caller should read more bytes and call the
// decoder again with the longer input.
var ErrNeedMore = errors.New("penstock/codecs: need more bytes")

// ErrTooLarge is returned, or wrapped, by a decoder when a frame exceeds its
// configured or built-in size limit, so that a peer cannot make a reader
// buffer without bound.
var ErrTooLarge = errors.New("penstock/codecs: frame too large")
