package l4

import (
	"errors"
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

// ErrIdle is the error a Pipe ends with when no byte moved for its idle
// timeout.
var ErrIdle = errors.New("penstock/l4: idle timeout")

// PipeStats counts what a Pipe moved.
type PipeStats struct {
	AToB, BToA int64 // bytes (or datagram bytes) in each direction
	Duration   time.Duration
	// Spliced says the pair moved to splice(2) relaying.
	Spliced bool
}

// PipeOptions tune a Pipe.
type PipeOptions struct {
	// Idle closes both streams when no byte moved for that long (0: never).
	Idle time.Duration
	// Done runs on the loop once both streams are closed, with the first
	// error either of them reported (nil for a clean end).
	Done func(err error, st PipeStats)
	// AEOF says a has already reported EOF (a handler before the pipe saw
	// it), so b's write side is shut at once.
	AEOF bool
	// SpliceAfter moves a pair of event-loop TCP streams to splice(2) once
	// that many bytes have moved (0: never). See splice.go.
	SpliceAfter int64
}

// pipe is the Handler of both streams it joins.
type pipe struct {
	a, b         transport.Stream
	opts         PipeOptions
	aDone, bDone bool // OnClose seen
	aEOF, bEOF   bool
	finished     bool // Done has run
	err          error
	st           PipeStats
	start        time.Duration // transport.Clock() readings: one clock read
	last         time.Duration // each, where time.Now takes two
	idle         *transport.Timer
	spliced      bool
}

// Pipe relays a and b into each other until both have closed. a and b must
// share one Loop, and Pipe must be called on it; it becomes the handler of
// both streams. Input a or b already hold unconsumed is delivered first.
func Pipe(a, b transport.Stream, opts PipeOptions) {
	new(pipe).run(a, b, opts)
}

// run starts p; a relay that embeds a pipe calls it to save an allocation
// per connection.
func (p *pipe) run(a, b transport.Stream, opts PipeOptions) {
	*p = pipe{a: a, b: b, opts: opts, start: transport.Clock()}
	p.last = p.start
	a.SetHandler(p)
	b.SetHandler(p)
	if opts.Idle > 0 {
		p.idle = transport.AfterFunc(a.Loop(), opts.Idle, p.checkIdle)
	}
	if opts.AEOF {
		p.aEOF = true
		_ = b.CloseWrite()
	}
	a.ResumeRead()
	b.ResumeRead()
}

func (p *pipe) other(s transport.Stream) transport.Stream {
	if s == p.a {
		return p.b
	}
	return p.a
}

func (p *pipe) OnData(s transport.Stream, data []byte) int {
	dst := p.other(s)
	if _, err := dst.Write(data); err != nil {
		p.fail(err)
		return len(data)
	}
	if s == p.a {
		p.st.AToB += int64(len(data))
	} else {
		p.st.BToA += int64(len(data))
	}
	if p.idle != nil {
		p.last = transport.Clock()
	}
	if !dst.Writable() {
		s.PauseRead()
	} else if p.opts.SpliceAfter > 0 && p.st.AToB+p.st.BToA >= p.opts.SpliceAfter {
		p.trySplice()
	}
	return len(data)
}

func (p *pipe) OnDrained(s transport.Stream) { p.other(s).ResumeRead() }

func (p *pipe) OnReadEOF(s transport.Stream) {
	if s == p.a {
		p.aEOF = true
	} else {
		p.bEOF = true
	}
	_ = p.other(s).CloseWrite()
}

func (p *pipe) OnClose(s transport.Stream, err error) {
	if s == p.a {
		p.aDone = true
	} else {
		p.bDone = true
	}
	if err != nil && p.err == nil {
		p.err = err
	}
	// A stream closes cleanly only after EOF both ways; anything else (an
	// error, a local Close, a UDP session's expiry) ends the other side too.
	if err != nil || !(p.aEOF && p.bEOF) {
		_ = p.other(s).Close()
	}
	if p.aDone && p.bDone && !p.finished {
		// Closing the other stream above may have run its OnClose, and
		// so this block, already: once only.
		p.finished = true
		if p.idle != nil {
			p.idle.Stop()
		}
		if p.opts.Done != nil {
			p.st.Duration = transport.Clock() - p.start
			p.opts.Done(p.err, p.st)
		}
	}
}

func (p *pipe) checkIdle() {
	if p.aDone && p.bDone {
		return
	}
	if left := p.opts.Idle - (transport.Clock() - p.last); left > 0 {
		p.idle.Reset(left)
		return
	}
	p.fail(ErrIdle)
}

func (p *pipe) fail(err error) {
	if p.err == nil {
		p.err = err
	}
	_ = p.a.Close()
	_ = p.b.Close()
}

var _ transport.Handler = (*pipe)(nil)
