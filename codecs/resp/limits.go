package resp

// The defaults of [Limits], those of redis-server where it has one.
const (
	// DefaultMaxBulk is redis-server's proto-max-bulk-len: 512 MiB.
	DefaultMaxBulk = 512 << 20
	// DefaultMaxArgs is the most arguments a request may have by default:
	// 1,048,576, the multibulk count older redis-servers accept (7.0
	// accepts up to 2^31-1, bounded in practice by
	// client-query-buffer-limit). An MGET or DEL of a million keys fits.
	DefaultMaxArgs = 1 << 20
	// DefaultMaxInline is redis-server's PROTO_INLINE_MAX_SIZE: 64 KiB.
	DefaultMaxInline = 64 << 10
	// DefaultMaxDepth is how deeply aggregates may nest by default.
	DefaultMaxDepth = 64
	// DefaultMaxRequest is redis-server's client-query-buffer-limit: 1 GiB.
	DefaultMaxRequest = 1 << 30
)

// Limits bounds what a peer can make a decoder accept, and so what a caller
// buffers before a request or reply is complete. A zero or negative field
// means its default, so the zero value, like a nil *Limits, gives the
// defaults. Exceeding a limit is an error wrapping [ErrTooLarge] or, for
// nesting, [ErrTooDeep].
type Limits struct {
	// MaxBulk is the longest bulk string, RESP3 blob error or verbatim
	// string, in bytes; 0 means [DefaultMaxBulk].
	MaxBulk int64
	// MaxArgs is the most arguments one request may have; 0 means
	// [DefaultMaxArgs]. It does not bound reply aggregates, whose size
	// (KEYS, SMEMBERS, HGETALL) no request limit predicts.
	MaxArgs int
	// MaxInline is the longest inline request, and the longest line of a
	// reply (simple string, error, double or big number), in bytes without
	// the line ending; 0 means [DefaultMaxInline].
	MaxInline int
	// MaxDepth is how many aggregates (arrays, maps, sets, pushes and
	// attributes) a value may nest, the outermost counting as 1; 0 means
	// [DefaultMaxDepth].
	MaxDepth int
	// MaxRequest is the longest array request, in bytes from its '*' to
	// the end of its last argument; 0 means [DefaultMaxRequest]. It bounds
	// what a caller buffers of one request before the request is complete:
	// a request fails as soon as a bulk header announces data that would
	// end past it, before the data arrives. It does not bound an inline
	// request, which MaxInline does, nor replies.
	MaxRequest int64
}

func (l *Limits) maxBulk() int64 {
	if l == nil || l.MaxBulk <= 0 {
		return DefaultMaxBulk
	}
	return l.MaxBulk
}

func (l *Limits) maxArgs() int {
	if l == nil || l.MaxArgs <= 0 {
		return DefaultMaxArgs
	}
	return l.MaxArgs
}

func (l *Limits) maxInline() int {
	if l == nil || l.MaxInline <= 0 {
		return DefaultMaxInline
	}
	return l.MaxInline
}

func (l *Limits) maxDepth() int {
	if l == nil || l.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return l.MaxDepth
}

func (l *Limits) maxRequest() int64 {
	if l == nil || l.MaxRequest <= 0 {
		return DefaultMaxRequest
	}
	return l.MaxRequest
}
