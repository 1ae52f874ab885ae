package http1

import "bytes"

// HeadScan follows a head that arrives over many reads, so that its caller
// parses it again only when the answer can change. [ParseRequestHead] and
// [ParseResponseHead] read a head from its start on every call and decide
// only at the end of a line, at a CR not followed by LF, or at a limit; a
// caller that parses only when MayParse says so does about one parse per
// line of a head instead of one per read: a client that sends a 64 KiB
// head a byte per packet costs about a hundred parses, where parsing on
// every read would scan 2 GiB. MayParse looks at each byte once.
//
// The zero value is ready; Reset it for each new head. A HeadScan belongs
// to one connection and is used from one goroutine at a time.
type HeadScan struct {
	seen      int  // bytes of the head looked at
	lineStart int  // where the line being received starts
	pastStart bool // the start line has ended
	// caughtUp says lineStart and pastStart cover the first seen bytes.
	// The first call leaves them for the second, which most heads (one
	// read) never need.
	caughtUp bool
}

// Reset forgets the head looked at, for the next one.
func (h *HeadScan) Reset() { *h = HeadScan{} }

// MayParse reports whether in, the head so far (the same bytes as in the
// last call, and more), can get another answer from the parser than the
// last call's codecs.ErrNeedMore. It is true on the first call after
// Reset, and when in no longer starts with the bytes looked at (shorter
// than them).
func (h *HeadScan) MayParse(in []byte, lim *Limits) bool {
	if h.seen > len(in) {
		h.Reset()
	}
	if h.seen == 0 {
		h.seen = len(in)
		return true
	}
	old := h.seen
	if !h.caughtUp {
		h.caughtUp = true
		h.lines(in[:old], 0)
	}
	if old == len(in) {
		return false
	}
	parse := false
	// A CR, the last byte looked at or a new one, followed by a byte
	// that is not LF: the parser refuses it there.
	for i := old - 1; ; {
		j := bytes.IndexByte(in[i:], '\r')
		if j < 0 {
			break
		}
		i += j + 1
		if i < len(in) && in[i] != '\n' {
			parse = true
			break
		}
	}
	prevLen := old - h.lineStart // the current line's length before
	if h.lines(in, old) {
		parse = true
		prevLen = 0
	} else if h.lineStart > old {
		prevLen = 0
	}
	h.seen = len(in)
	// The start line's limit counts no CRLF, so the parsers may decide at
	// any of the two bytes past it.
	line := lim.maxLineBytes()
	if !h.pastStart && len(in)-h.lineStart > line && prevLen <= line+2 {
		parse = true
	}
	// The head's limit counts its blank line, which a head that has not
	// ended yet still needs: the parsers may decide a few bytes short of
	// it.
	return parse || len(in)+4 > lim.maxHeaderBytes()
}

// lines follows the lines that end in in[from:], and reports whether one
// of them can change the parser's answer: the start line, a field line,
// the blank line ending the head, or a bare LF. CRLFs before the start
// line change nothing after the first (which ends a response's head: it
// may have none).
func (h *HeadScan) lines(in []byte, from int) bool {
	changed := false
	for i := from; ; {
		j := bytes.IndexByte(in[i:], '\n')
		if j < 0 {
			return changed
		}
		end := i + j
		crlf := end == h.lineStart+1 && in[h.lineStart] == '\r'
		if h.pastStart || !crlf || h.lineStart == 0 {
			changed = true
		}
		if !crlf && end != h.lineStart {
			h.pastStart = true
		}
		h.lineStart = end + 1
		i = end + 1
	}
}
