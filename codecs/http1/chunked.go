package http1

import (
	"strconv"

	"github.com/penstock-proxy/penstock/codecs"
)

type chunkState uint8

const (
	stateSize    chunkState = iota // hex digits of the chunk size
	stateSizeWS                    // whitespace after the size, before ';'
	stateExt                       // chunk extensions, up to CR
	stateSizeLF                    // the LF ending the size line
	stateData                      // chunk data
	stateDataCR                    // the CR after chunk data
	stateDataLF                    // the LF after chunk data
	stateTrailer                   // the trailer section and final CRLF
	stateDone                      // the body has ended
	stateFailed                    // an error was returned
)

// ChunkedDecoder decodes a chunked body (RFC 9112 §7.1) incrementally, as
// its bytes arrive, keeping its place between calls so that no byte is
// parsed twice and body data is never buffered. Its zero value is ready to
// decode one body with the default limits; [ChunkedDecoder.Reset] prepares
// it for the next body. It is not safe for concurrent use.
type ChunkedDecoder struct {
	trailers  headerList
	lim       Limits
	err       error
	remaining int64 // data bytes left in the current chunk
	total     int64 // sum of the chunk sizes so far
	size      int64 // the chunk size being parsed
	line      int   // length of the size line so far
	digits    int
	state     chunkState
}

// Reset prepares d to decode a new body within lim, which may be nil for
// the defaults. MaxBodyBytes bounds the sum of the chunk sizes,
// MaxLineBytes a chunk size line with its extensions, and MaxHeaderBytes
// and MaxHeaders the trailer section.
func (d *ChunkedDecoder) Reset(lim *Limits) {
	d.trailers.reset()
	*d = ChunkedDecoder{trailers: d.trailers}
	if lim != nil {
		d.lim = *lim
	}
}

// Decode decodes from in, the bytes of the body not yet consumed, and
// returns the next piece of body data and the number of bytes of in it
// consumed, which the caller drops before the next call. The data is
// in[n-len(data):n], borrowed; it is part of a chunk whenever in ends
// inside one, so a proxy forwards a body of any size with a buffer of its
// read size. Decode returns:
//
//   - data and nil while body data is in in;
//   - no data and codecs.ErrNeedMore when in is consumed up to a point
//     where more bytes are needed (n may be above zero: chunk framing was
//     consumed);
//   - no data and [ErrBodyDone] when the body has ended: n includes the
//     last chunk, the trailer section and the final CRLF, in[n:] starts the
//     next message, and [ChunkedDecoder.Trailers] returns the trailers;
//   - an error matching [ErrMalformed] or [ErrBodyTooLarge] for a
//     malformed or oversized body, after which it returns the same error.
//
// Chunk extensions are checked for their bytes and skipped. The trailer
// section is parsed once it has arrived whole: until then Decode consumes
// nothing of it and returns codecs.ErrNeedMore.
func (d *ChunkedDecoder) Decode(in []byte) (data []byte, n int, err error) {
	off := 0
	for off < len(in) || d.state == stateTrailer || d.state >= stateDone {
		switch d.state {
		case stateSize, stateSizeWS, stateExt:
			m, err := d.sizeLine(in[off:])
			off += m
			if err != nil {
				return nil, off, d.fail(err)
			}
		case stateSizeLF:
			if in[off] != '\n' {
				return nil, off, d.fail(ErrBareCR)
			}
			off++
			if err := d.endSizeLine(); err != nil {
				return nil, off, d.fail(err)
			}
		case stateData:
			k := int(min(d.remaining, int64(len(in)-off)))
			d.remaining -= int64(k)
			if d.remaining == 0 {
				d.state = stateDataCR
			}
			return in[off : off+k : off+k], off + k, nil
		case stateDataCR, stateDataLF:
			want := byte('\r')
			if d.state == stateDataLF {
				want = '\n'
			}
			if in[off] != want {
				return nil, off, d.fail(ErrMissingChunkCRLF)
			}
			off++
			d.state++
			if d.state > stateDataLF {
				d.state = stateSize
			}
		case stateTrailer:
			d.trailers.reset()
			m, err := parseFields(in, off, off+d.lim.maxHeaderBytes(), d.lim.maxHeaders(), &d.trailers, nil)
			if err == codecs.ErrNeedMore {
				d.trailers.reset()
				return nil, off, err
			}
			if err != nil {
				return nil, off, d.fail(err)
			}
			d.state = stateDone
			return nil, m, ErrBodyDone
		case stateDone:
			return nil, off, ErrBodyDone
		default:
			return nil, off, d.err
		}
	}
	return nil, off, codecs.ErrNeedMore
}

func (d *ChunkedDecoder) fail(err error) error {
	d.state, d.err = stateFailed, err
	d.trailers.reset()
	return err
}

// sizeLine consumes bytes of the chunk size line up to and including its
// CR.
func (d *ChunkedDecoder) sizeLine(in []byte) (int, error) {
	maxLine := d.lim.maxLineBytes()
	for i, c := range in {
		if d.line++; d.line > maxLine {
			return i, ErrChunkLineTooLong
		}
		switch {
		case c == '\r':
			// Whitespace may only come before an extension's ';'.
			if d.digits == 0 || d.state == stateSizeWS {
				return i, ErrInvalidChunkSize
			}
			d.state = stateSizeLF
			return i + 1, nil
		case c == '\n':
			return i, ErrBareLF
		case d.state == stateExt:
			if byteClass[c]&classValue == 0 {
				return i, ErrInvalidChunkSize
			}
		case d.state == stateSize && unhex(c) >= 0:
			if d.size > (1<<63-1)>>4 {
				return i, ErrChunkSizeOverflow
			}
			d.size = d.size<<4 | int64(unhex(c))
			d.digits++
		case d.digits == 0:
			return i, ErrInvalidChunkSize
		case c == ' ' || c == '\t':
			d.state = stateSizeWS
		case c == ';':
			d.state = stateExt
		default:
			return i, ErrInvalidChunkSize
		}
	}
	return len(in), nil
}

// endSizeLine moves to the chunk's data, or to the trailer section after
// the last chunk.
func (d *ChunkedDecoder) endSizeLine() error {
	switch {
	case d.size == 0:
		d.state = stateTrailer
	case d.size > d.lim.maxBodyBytes()-d.total:
		return ErrBodyTooLarge
	default:
		d.state, d.remaining = stateData, d.size
		d.total += d.size
	}
	d.size, d.digits, d.line = 0, 0, 0
	return nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	default:
		return -1
	}
}

// Done reports whether the body has ended: Decode returned [ErrBodyDone].
func (d *ChunkedDecoder) Done() bool { return d.state == stateDone }

// Trailers returns the trailer fields of a body that has ended, or nil.
// They are borrowed from the input of the Decode call that returned
// [ErrBodyDone], valid until that buffer changes or d is reset, and not to
// be modified.
func (d *ChunkedDecoder) Trailers() []Header {
	if d.state != stateDone {
		return nil
	}
	return d.trailers.all()
}

// AppendChunk appends data to dst as one chunk. It appends nothing for
// empty data, since a chunk of size zero would end the body.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(len(data)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// AppendLastChunk appends to dst the last chunk, the trailer fields and
// the final CRLF that end a chunked body. Names and values are written as
// given, except that CR, LF and NUL bytes become spaces, so that a trailer
// cannot add lines of its own.
func AppendLastChunk(dst []byte, trailers ...Header) []byte {
	dst = append(dst, '0', '\r', '\n')
	for _, h := range trailers {
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, '\r', '\n')
}
