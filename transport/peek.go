package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/clienthello"
)

// Verdict is a peek matcher's answer about the first bytes of a stream.
type Verdict uint8

const (
	// NeedMore says the bytes so far do not decide; more may.
	NeedMore Verdict = iota
	// Match says the stream matches.
	Match
	// NoMatch says the stream can never match.
	NoMatch
)

// Matcher looks at the first bytes a client sent, without consuming them.
// p is borrowed for the call. A Matcher must be safe from any goroutine
// (one Matcher serves every loop).
type Matcher interface {
	Match(p []byte) Verdict
}

// MatcherFunc adapts a func to Matcher.
type MatcherFunc func(p []byte) Verdict

// Match calls f.
func (f MatcherFunc) Match(p []byte) Verdict { return f(p) }

// Prefix matches streams that start with any of its byte strings.
type Prefix [][]byte

// Match reports whether p starts with one of the prefixes.
func (m Prefix) Match(p []byte) Verdict {
	v := NoMatch
	for _, pre := range m {
		if len(p) >= len(pre) {
			if bytes.HasPrefix(p, pre) {
				return Match
			}
		} else if bytes.HasPrefix(pre, p) {
			v = NeedMore
		}
	}
	return v
}

// SNI matches TLS streams whose ClientHello names one of Names. A name
// "*.example.org" matches every name under example.org; matching ignores
// case. Names may be empty, to match any TLS ClientHello. The hello may span
// several reads; a stream that is not TLS is a NoMatch after its first
// byte.
type SNI struct {
	Names []string
}

var helloPool = sync.Pool{New: func() any { return new(clienthello.Hello) }}

// Match parses the ClientHello in p.
func (m SNI) Match(p []byte) Verdict {
	h := helloPool.Get().(*clienthello.Hello)
	defer helloPool.Put(h)
	if _, err := clienthello.Parse(p, h); err != nil {
		if errors.Is(err, codecs.ErrNeedMore) {
			return NeedMore
		}
		return NoMatch
	}
	if len(m.Names) == 0 {
		return Match
	}
	name := h.ServerName()
	for _, want := range m.Names {
		if sniMatches(want, name) {
			return Match
		}
	}
	return NoMatch
}

func sniMatches(pattern string, name []byte) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return len(name) > len(suffix)+1 && name[len(name)-len(suffix)-1] == '.' &&
			strings.EqualFold(string(name[len(name)-len(suffix):]), suffix)
	}
	return strings.EqualFold(pattern, string(name))
}

// PeekRoute is one branch of a PeekRouter.
type PeekRoute struct {
	Name string
	// Match picks the route; nil matches every stream (a default route).
	Match Matcher
	// Accept takes the stream, like a Listener's Accept: it must set a
	// handler, which then receives the peeked bytes as its first input.
	Accept func(s Stream)
}

// PeekRouter holds a new stream's first bytes until a route's matcher
// decides, bounded in bytes and time, then hands the stream and those bytes
// to that route. Routes are tried in order; a route whose matcher needs more
// bytes holds back the routes after it. When the bytes or the time run out,
// or the client half-closes, undecided matchers count as NoMatch. A stream
// no route takes is closed. Its Accept method is a Listener's Accept func.
type PeekRouter struct {
	Routes []PeekRoute
	// MaxBytes bounds the bytes held while peeking (default 16 KiB).
	MaxBytes int
	// Timeout bounds the time spent peeking (default 3s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// peekState is a stream's handler while its router peeks.
type peekState struct {
	r     *PeekRouter
	buf   []byte
	timer *Timer
	eof   bool
	done  bool
}

// Accept starts peeking at s. It runs on s's loop.
func (r *PeekRouter) Accept(s Stream) {
	ps := &peekState{r: r}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ps.timer = AfterFunc(s.Loop(), timeout, func() { ps.decide(s, true) })
	s.SetHandler(ps)
}

func (ps *peekState) OnData(s Stream, p []byte) int {
	if ps.done {
		return 0
	}
	max := ps.r.MaxBytes
	if max <= 0 {
		max = 16 << 10
	}
	ps.buf = append(ps.buf, p...)
	ps.decide(s, len(ps.buf) >= max)
	return len(p)
}

func (ps *peekState) OnReadEOF(s Stream) {
	ps.eof = true
	ps.decide(s, true)
}

func (ps *peekState) OnDrained(Stream) {}

func (ps *peekState) OnClose(Stream, error) {
	ps.done = true
	ps.timer.Stop()
}

// decide picks a route if the bytes so far allow; final turns NeedMore
// into NoMatch.
func (ps *peekState) decide(s Stream, final bool) {
	if ps.done {
		return
	}
	for i := range ps.r.Routes {
		rt := &ps.r.Routes[i]
		v := Match
		if rt.Match != nil {
			v = rt.Match.Match(ps.buf)
		}
		if v == NeedMore && final {
			v = NoMatch
		}
		switch v {
		case NeedMore:
			return
		case Match:
			ps.handOver(s, rt)
			return
		}
	}
	ps.done = true
	ps.timer.Stop()
	log := ps.r.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("no route matched; connection closed", "remote", s.RemoteAddr(), "peeked", len(ps.buf))
	_ = s.Close()
}

func (ps *peekState) handOver(s Stream, rt *PeekRoute) {
	ps.done = true
	ps.timer.Stop()
	rt.Accept(s)
	buf := ps.buf
	ps.buf = nil
	if len(buf) > 0 {
		h := HandlerOf(s)
		if h == nil {
			return
		}
		n := h.OnData(s, buf)
		if n < len(buf) {
			// The route's handler wants more than the peeked bytes: keep
			// handing it the rest first.
			s.SetHandler(&prepend{h: h, buf: buf[n:]})
		}
	}
	if ps.eof {
		if h := HandlerOf(s); h != nil {
			h.OnReadEOF(s)
		}
	}
}

// prepend feeds a handler bytes it left over from the peek before new
// input, then gets out of the way.
type prepend struct {
	h   Handler
	buf []byte
}

func (p *prepend) OnData(s Stream, in []byte) int {
	p.buf = append(p.buf, in...)
	n := p.h.OnData(s, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		s.SetHandler(p.h)
	}
	return len(in)
}

func (p *prepend) OnReadEOF(s Stream)          { p.h.OnReadEOF(s) }
func (p *prepend) OnDrained(s Stream)          { p.h.OnDrained(s) }
func (p *prepend) OnClose(s Stream, err error) { p.h.OnClose(s, err) }

var (
	_ Handler = (*peekState)(nil)
	_ Handler = (*prepend)(nil)
	_ Matcher = Prefix(nil)
	_ Matcher = SNI{}
)
