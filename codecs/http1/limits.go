package http1

// The defaults of [Limits].
const (
	// DefaultMaxHeaderBytes bounds a head, start line and blank line
	// included, and a trailer section: 64 KiB.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxHeaders is the most field lines a head or trailer section
	// may have.
	DefaultMaxHeaders = 100
	// DefaultMaxLineBytes bounds a request line, a status line and a chunk
	// size line: 8 KiB.
	DefaultMaxLineBytes = 8 << 10
)

// Limits bounds what a peer can make a parser accept, and so what a caller
// buffers before a head is complete. A zero or negative field means its
// default, so the zero value, like a nil *Limits, gives the defaults.
type Limits struct {
	// MaxHeaderBytes bounds the head, from the first byte of the start
	// line (leading empty lines included) to the end of the blank line,
	// and a chunked body's trailer section; 0 means
	// [DefaultMaxHeaderBytes]. Exceeding it is [ErrHeaderTooLarge].
	MaxHeaderBytes int
	// MaxHeaders is the most field lines a head or trailer section may
	// have; 0 means [DefaultMaxHeaders]. Exceeding it is
	// [ErrTooManyHeaders].
	MaxHeaders int
	// MaxLineBytes bounds a request line, a status line and a chunk size
	// line with its extensions, without the CRLF; 0 means
	// [DefaultMaxLineBytes]. A request line exceeding it is
	// [ErrURITooLong], a status line [ErrHeaderTooLarge] and a chunk size
	// line [ErrChunkLineTooLong].
	MaxLineBytes int
	// MaxBodyBytes bounds a body's Content-Length and the sum of its chunk
	// sizes; 0 means no limit, since bodies are streamed in pieces and
	// need no buffer of their size. Exceeding it is [ErrBodyTooLarge].
	MaxBodyBytes int64
}

func (l *Limits) maxHeaderBytes() int {
	if l == nil || l.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return l.MaxHeaderBytes
}

func (l *Limits) maxHeaders() int {
	if l == nil || l.MaxHeaders <= 0 {
		return DefaultMaxHeaders
	}
	return l.MaxHeaders
}

func (l *Limits) maxLineBytes() int {
	if l == nil || l.MaxLineBytes <= 0 {
		return DefaultMaxLineBytes
	}
	return l.MaxLineBytes
}

func (l *Limits) maxBodyBytes() int64 {
	if l == nil || l.MaxBodyBytes <= 0 {
		return 1<<63 - 1
	}
	return l.MaxBodyBytes
}
