package resp

import (
	"bytes"
	"slices"

	"github.com/penstock-proxy/penstock/codecs"
)

const (
	// fixedArgs is how many arguments a Command holds before it moves them
	// to a heap array; it covers all but the widest MSET, MGET and DEL.
	fixedArgs = 16
	// maxKeptArgs bounds the heap array a Command keeps between requests,
	// so that one huge request does not pin its memory for the connection's
	// life; requests with more arguments allocate each time.
	maxKeptArgs = 4096
	// maxNameLen is the longest command name that Name upper-cases. The
	// longest Redis command names have about 20 bytes.
	maxNameLen = 32
)

// Command is one decoded request; its zero value is ready to use, and
// DecodeCommand and Decode reset and refill it. It allocates only to grow
// storage it keeps: for requests of more than 16 arguments (up to 4096 are
// kept) and for quoted inline arguments. Reusing one Command per connection
// or event loop makes decoding allocation-free in steady state.
//
// A Command is not safe for concurrent use: any goroutine may use one, one
// at a time (in a proxy, the event loop of the connection it decodes).
// Copying one copies its fixed storage but shares its heap storage, so a
// copy's slices are valid only until either Command is decoded into again.
type Command struct {
	// Limits bounds the requests decoded into this Command; the zero value
	// gives the defaults.
	Limits Limits

	n       int
	fixed   [fixedArgs][]byte
	spill   [][]byte
	scratch []byte // unescaped quoted inline arguments
	name    [maxNameLen]byte

	// part is how far Decode got into a request that has not all arrived.
	part progress
	// scanned counts the bytes the decoder examined: count and bulk header
	// lines, and inline lines, but not the bulk data it skips by length.
	// Tests read it to check that a request arriving in many reads costs
	// work in proportion to its size.
	scanned int
}

// progress is how far the decoder got into one request. It holds offsets
// from the request's start, never slices, since the caller may move the
// request to another buffer before it calls again.
type progress struct {
	busy   bool // Decode stopped inside a request for more input
	inline bool // the request is inline, not an array
	// off is, for an array request, the bytes of its count line and of the
	// arguments complete, or 0 before the count line is complete; for an
	// inline request, the bytes known to hold neither LF nor NUL.
	off   int
	count int64 // the arguments an array request announces
	got   int64 // the arguments complete
	// need is, when the request stopped inside a bulk argument, the
	// length the request has at least: up to that argument's end.
	need int64
}

// DecodeCommand decodes the request at the start of in into cmd and returns
// its length: in[:n] is the raw request, which a proxy forwards unchanged.
//
// A request is either a RESP array of bulk strings (it starts with '*'),
// which every client library sends, or an inline command: a line of words
// separated by spaces and ended by LF or CRLF, as redis-cli and telnet users
// type it. Inline words follow redis-server's rules: "double quotes" with
// the escapes \n \r \t \b \a \xHH and \<any byte>, and 'single quotes'
// with \'. The first byte chooses the form, as in redis-server, so any input
// not starting with '*' is inline.
//
// A request with no arguments (an empty line, *0 or *-1) returns n > 0 and
// no arguments: redis-server ignores it without replying, and a proxy
// skips it. DecodeCommand returns codecs.ErrNeedMore while in holds only
// part of a request, and an error matching [ErrProtocol] when it is
// malformed or exceeds cmd.Limits; [AppendProtocolError] gives the reply
// for it. It is stricter than redis-server in four ways: bulk data must be
// followed by CRLF, a multibulk count below -1 is refused, an inline request
// may not exceed MaxInline even when its line ending has arrived, and an
// inline request may not hold a NUL byte ([ErrInlineNUL]), which makes
// redis-server stop reading the connection.
//
// DecodeCommand parses in from its start on every call, so a request that
// arrives over many reads would be parsed once per read, in time that grows
// with the square of its size for a request of many arguments. A caller
// that reads requests from a stream uses [Command.Decode] instead, which
// resumes where the last call stopped. DecodeCommand abandons a request
// that Decode had partly decoded into cmd.
//
// DecodeCommand never modifies in and keeps no reference to it except
// through the slices cmd returns, which are borrowed (see [Command.Args]).
// It is safe from any goroutine, given a cmd no other goroutine is using.
func DecodeCommand(in []byte, cmd *Command) (n int, err error) {
	cmd.part = progress{}
	var p progress
	return cmd.decode(in, &p)
}

// Decode decodes the request at the start of in into c, as [DecodeCommand]
// does, with the same results, but it resumes a request that arrives over
// many reads: after codecs.ErrNeedMore, c remembers how many arguments and
// bytes of the request it has parsed, and the next call goes on from there,
// so a request costs time in proportion to its size however many reads
// bring it. Call Decode again with the same bytes followed by more, in the
// same buffer or another one (the request may move, as when a stream
// compacts its input buffer). Any other result, a request or an error, ends
// the request, and the next call starts a new one at in[0]. Call
// [Command.Reset] to drop a partly decoded request and start over with other
// bytes; passing different bytes without it gives meaningless results.
//
// A request that arrived in one call is parsed once. One that needed more
// is parsed as it arrives without collecting its arguments, then once more
// when complete to collect them, since they must point into the buffer
// that holds it then; so it costs about two parses in all.
//
// Decode is safe from any goroutine, one at a time for a given c (in a
// proxy, the event loop of the connection c decodes).
func (c *Command) Decode(in []byte) (n int, err error) {
	p := &c.part
	if !p.busy || len(in) == 0 || len(in) < p.off || (in[0] != '*') != p.inline {
		*p = progress{}
		n, err = c.decode(in, p)
		p.busy = err == codecs.ErrNeedMore
		return n, err
	}
	c.reset()
	if p.inline {
		n, err = c.decodeInline(in, p)
	} else if n, err = c.decodeMultibulk(in, p, false); err == nil {
		// Complete: collect the arguments from the buffer that holds them
		// now, in one more pass over the headers.
		var whole progress
		n, err = c.decodeMultibulk(in[:n], &whole, true)
	}
	if err == codecs.ErrNeedMore {
		c.reset()
		return 0, err
	}
	*p = progress{}
	if err != nil {
		c.reset()
		return 0, err
	}
	c.setName()
	return n, nil
}

// Need returns, after [Command.Decode] returned codecs.ErrNeedMore, the
// length the unfinished request is known to have at least, from its start:
// when it stopped inside a bulk argument, up to that argument's end (the
// limits bound it); otherwise 0. A proxy that holds the request while it
// arrives can size its buffer with it rather than grow it step by step.
// It is safe from any goroutine, one at a time for a given c.
func (c *Command) Need() int {
	if !c.part.busy {
		return 0
	}
	return int(c.part.need)
}

// Reset drops the request that [Command.Decode] has partly decoded, if
// any, so that the next Decode starts a new request at in[0]. It keeps the
// last request's arguments. It is safe from any goroutine, one at a time
// for a given c.
func (c *Command) Reset() { c.part = progress{} }

// decode decodes the request at the start of in into c, from the progress
// p records, collecting its arguments.
func (c *Command) decode(in []byte, p *progress) (n int, err error) {
	c.reset()
	if len(in) == 0 {
		return 0, codecs.ErrNeedMore
	}
	if in[0] == '*' {
		n, err = c.decodeMultibulk(in, p, true)
	} else {
		p.inline = true
		n, err = c.decodeInline(in, p)
	}
	if err != nil {
		c.reset()
		return 0, err
	}
	c.setName()
	return n, nil
}

// Args returns the arguments of the last request decoded, the command name
// first, or nil when it had none. The slices are borrowed: they point into
// the input of DecodeCommand or Decode, or into c for quoted inline
// arguments, and are valid until the caller's buffer changes or c is
// decoded into again. They must not be modified; comparing one with
// string(arg) == "x" does not allocate. Args is safe from any goroutine,
// one at a time for a given c.
func (c *Command) Args() [][]byte {
	switch {
	case c.n == 0:
		return nil
	case c.n <= fixedArgs:
		return c.fixed[:c.n:c.n]
	default:
		return c.spill[:c.n:c.n]
	}
}

// Name returns the command name, the first argument, in ASCII upper case,
// or nil when the request had no arguments. It allocates nothing: the bytes
// live in c, valid until c is decoded into again. A name longer than 32
// bytes, which no Redis command has, is returned as sent. Name is safe from
// any goroutine, one at a time for a given c.
func (c *Command) Name() []byte {
	if c.n == 0 {
		return nil
	}
	if name := c.fixed[0]; len(name) > maxNameLen {
		return name
	}
	return c.name[:len(c.fixed[0]):len(c.fixed[0])]
}

// reset empties c. It clears the used argument slots so that c does not
// keep an old input buffer reachable.
func (c *Command) reset() {
	clear(c.fixed[:min(c.n, fixedArgs)])
	if cap(c.spill) > maxKeptArgs {
		c.spill = nil
	} else {
		clear(c.spill)
		c.spill = c.spill[:0]
	}
	c.scratch = c.scratch[:0]
	c.n = 0
}

func (c *Command) add(arg []byte) {
	switch {
	case c.n < fixedArgs:
		c.fixed[c.n] = arg
	case c.n == fixedArgs:
		c.spill = append(append(c.spill[:0], c.fixed[:]...), arg)
	default:
		c.spill = append(c.spill, arg)
	}
	c.n++
}

func (c *Command) setName() {
	if c.n == 0 || len(c.fixed[0]) > maxNameLen {
		return
	}
	for i, b := range c.fixed[0] {
		if b >= 'a' && b <= 'z' {
			b -= 'a' - 'A'
		}
		c.name[i] = b
	}
}

// decodeMultibulk decodes the array of bulk strings at the start of in, as
// redis-server's processMultibulkBuffer does, from the progress p records.
// keep says to collect the arguments; without it, only p moves on. On
// codecs.ErrNeedMore, p records the count line and the arguments complete,
// so that a call with more input parses only what follows them.
func (c *Command) decodeMultibulk(in []byte, p *progress, keep bool) (int, error) {
	if p.off == 0 {
		count, m, st := scanNumber(in[1:])
		switch st {
		case numberNeedMore:
			c.scanned += len(in)
			return 0, codecs.ErrNeedMore
		case numberInvalid:
			return 0, errMultibulkLength
		case numberBadEnd:
			return 0, errMultibulkCRLF
		}
		c.scanned += 1 + m
		switch {
		case count < -1:
			return 0, errMultibulkNegative
		case count <= 0:
			return 1 + m, nil
		case count > int64(c.Limits.maxArgs()):
			return 0, errTooManyArgs
		}
		p.off, p.count, p.got = 1+m, count, 0
		// Size the argument slots once, for as many arguments as the bytes
		// present can hold at 6 bytes each ("$0\r\n\r\n"), so that a count
		// alone cannot make c allocate.
		if room := min(count, int64(len(in)-p.off)/6); keep && room > fixedArgs && int64(cap(c.spill)) < room {
			c.spill = make([][]byte, 0, room)
		}
	}
	maxBulk, maxRequest := c.Limits.maxBulk(), c.Limits.maxRequest()
	off, count := p.off, p.count
	for got := p.got; got < count; got++ {
		if off == len(in) {
			p.off, p.got = off, got
			return 0, codecs.ErrNeedMore
		}
		if in[off] != '$' {
			return 0, expectedBulkError(in[off])
		}
		size, m, st := scanNumber(in[off+1:])
		switch st {
		case numberNeedMore:
			c.scanned += len(in) - off
			p.off, p.got = off, got
			return 0, codecs.ErrNeedMore
		case numberInvalid:
			return 0, errBulkLength
		case numberBadEnd:
			return 0, errBulkLengthCRLF
		}
		c.scanned += 1 + m
		data := off + 1 + m
		switch {
		case size < 0:
			return 0, errBulkNegative
		case size > maxBulk:
			return 0, errBulkTooLarge
		case size > maxRequest-int64(data+2):
			// Refused before the data arrives, so that the caller never
			// buffers more than MaxRequest bytes of a request.
			return 0, errRequestTooLarge
		}
		end, err := bulkData(in, data, size)
		if err != nil {
			if err == codecs.ErrNeedMore {
				p.off, p.got, p.need = off, got, int64(data)+size+2
			}
			return 0, err
		}
		if keep {
			c.add(in[data : end-2 : end-2])
		}
		off = end
	}
	return off, nil
}

// decodeInline decodes the inline request at the start of in, as
// redis-server's processInlineBuffer does: the line ends at the first LF,
// and a CR just before it is part of the ending. It searches only the bytes
// after the p.off that hold neither LF nor NUL, and on codecs.ErrNeedMore
// moves p.off past the bytes it searched.
func (c *Command) decodeInline(in []byte, p *progress) (int, error) {
	maxInline := c.Limits.maxInline()
	window := in
	if len(in)-2 > maxInline {
		window = in[:maxInline+2]
	}
	from := min(p.off, len(window))
	lf := bytes.IndexByte(window[from:], '\n')
	end := len(window)
	if lf >= 0 {
		lf += from
		end = lf
	}
	c.scanned += end - from
	if end > 0 && in[end-1] == '\r' {
		end-- // part of the line ending, or may be
	}
	// The NUL check covers only bytes that are certainly words, so that it
	// gives the same answer whatever part of the line has arrived.
	words := min(end, maxInline)
	from = min(from, words)
	c.scanned += words - from
	if bytes.IndexByte(in[from:words], 0) >= 0 {
		return 0, ErrInlineNUL
	}
	if end > maxInline {
		return 0, errInlineTooLarge
	}
	if lf < 0 {
		p.off = words
		return 0, codecs.ErrNeedMore
	}
	c.scanned += end
	if err := c.splitInline(in[:end]); err != nil {
		return 0, err
	}
	return lf + 1, nil
}

// splitInline splits an inline request line into arguments as
// redis-server's sdssplitargs does. Words without quotes are borrowed from
// line; words with quotes are unescaped into c.scratch.
func (c *Command) splitInline(line []byte) error {
	maxArgs := c.Limits.maxArgs()
	for p := 0; ; {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return nil
		}
		if c.n == maxArgs {
			return errTooManyArgs
		}
		start := p
		for p < len(line) && !endsWord(line[p]) && line[p] != '"' && line[p] != '\'' {
			p++
		}
		if p == len(line) || endsWord(line[p]) {
			c.add(line[start:p:p])
			continue
		}
		var err error
		if p, err = c.quotedWord(line, start); err != nil {
			return err
		}
	}
}

// endsWord reports whether b ends an unquoted inline word. It is a subset
// of isSpace: sdssplitargs keeps a vertical tab or form feed inside a word.
func endsWord(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t'
}

// quotedWord unescapes the word at line[p:], which holds a quote, into
// c.scratch, adds it as an argument and returns the offset after it.
func (c *Command) quotedWord(line []byte, p int) (int, error) {
	// An unescaped word is never longer than its source, so one grow per
	// word suffices; a reallocation leaves earlier words in the old array,
	// which they keep alive.
	c.scratch = slices.Grow(c.scratch, len(line)-p)
	start := len(c.scratch)
	var inDouble, inSingle bool
	for {
		switch {
		case inDouble:
			switch {
			case p == len(line):
				return 0, errQuoteNotClosed
			case line[p] == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
				c.scratch = append(c.scratch, unhex(line[p+2])<<4|unhex(line[p+3]))
				p += 4
			case line[p] == '\\' && p+1 < len(line):
				c.scratch = append(c.scratch, unescape(line[p+1]))
				p += 2
			case line[p] == '"':
				return c.closeQuote(line, p, start)
			default:
				c.scratch = append(c.scratch, line[p])
				p++
			}
		case inSingle:
			switch {
			case p == len(line):
				return 0, errQuoteNotClosed
			case line[p] == '\\' && p+1 < len(line) && line[p+1] == '\'':
				c.scratch = append(c.scratch, '\'')
				p += 2
			case line[p] == '\'':
				return c.closeQuote(line, p, start)
			default:
				c.scratch = append(c.scratch, line[p])
				p++
			}
		default:
			switch {
			case p == len(line) || endsWord(line[p]):
				c.addScratch(start)
				return p, nil
			case line[p] == '"':
				inDouble = true
			case line[p] == '\'':
				inSingle = true
			default:
				c.scratch = append(c.scratch, line[p])
			}
			p++
		}
	}
}

// closeQuote ends the word whose closing quote is at line[p]; like
// sdssplitargs it requires a space or the end of the line after the quote.
func (c *Command) closeQuote(line []byte, p, start int) (int, error) {
	if p+1 < len(line) && !isSpace(line[p+1]) {
		return 0, errQuoteFollowed
	}
	c.addScratch(start)
	return p + 1, nil
}

func (c *Command) addScratch(start int) {
	end := len(c.scratch)
	c.add(c.scratch[start:end:end])
}

func isHex(b byte) bool {
	return isDigit(b) || (b|0x20 >= 'a' && b|0x20 <= 'f')
}

func unhex(b byte) byte {
	if isDigit(b) {
		return b - '0'
	}
	return (b | 0x20) - 'a' + 10
}

// unescape returns the byte that a backslash and b stand for inside double
// quotes.
func unescape(b byte) byte {
	switch b {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return b
}
