// Package codecs holds the stages of a Penstock pipeline, pure functions over
// borrowed bytes, in its subpackages, and the sentinel errors they share.
//
// A decoder reads bytes it does not own and returns what it decoded, the
// number of bytes it consumed and an error; [ErrNeedMore] says the input is
// incomplete and the caller should retry with more bytes. Decoders never keep
// the buffer past the call except through fields their documentation says are
// borrowed. Encoders append into a buffer the caller owns.
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
