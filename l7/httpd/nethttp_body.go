package httpd

// This file is the request body of an adapted handler: a buffer that the
// loop fills as the body arrives, pausing the client while it holds
// netBodyHigh bytes, and that the handler's reads drain.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

func (s *netExchange) startBody() {
	if !s.done {
		s.x.ReadBody(s.onBody)
	}
}

func (s *netExchange) resumeBody() {
	if !s.done {
		s.x.ResumeBody()
	}
}

// onBody takes a piece of the request body from the exchange. Loop only.
func (s *netExchange) onBody(p []byte, end bool) {
	if s.done {
		return
	}
	var trailers []Field
	if end {
		trailers = s.x.Trailers()
	}
	if s.body.put(p, end, trailers) {
		s.x.PauseBody()
	}
}

// netBody is the request body: the loop puts what arrives in buf, the
// handler's reads take it out.
type netBody struct {
	s    *netExchange
	wake chan struct{} // a put or a failure happened

	mu      sync.Mutex
	buf     []byte
	off     int // buf[off:] is unread
	started bool
	paused  bool // the loop paused the exchange's body
	eof     bool
	closed  bool
	err     error
	trailer http.Header // the chunked body's trailers, for Request.Trailer
	rdl     time.Time   // the read deadline of http.ResponseController
}

// put appends p and reports whether the loop must pause the body. Loop
// only.
func (b *netBody) put(p []byte, end bool, trailers []Field) (pause bool) {
	b.mu.Lock()
	if !b.closed && len(p) > 0 {
		if b.off > 0 && len(b.buf)+len(p) > cap(b.buf) {
			b.buf = b.buf[:copy(b.buf, b.buf[b.off:])]
			b.off = 0
		}
		b.buf = append(b.buf, p...)
	}
	if end {
		b.eof = true
		for _, f := range trailers {
			if b.trailer == nil {
				b.trailer = http.Header{}
			}
			b.trailer.Add(string(f.Name), string(f.Value))
		}
	} else if b.closed || len(b.buf)-b.off >= netBodyHigh {
		b.paused = true
		pause = true
	}
	b.mu.Unlock()
	b.signal()
	return pause
}

// fail makes reads fail with err once the buffered bytes are read. Loop
// only.
func (b *netBody) fail(err error) {
	b.mu.Lock()
	if b.err == nil && !b.eof {
		b.err = err
	}
	b.mu.Unlock()
	b.signal()
}

func (b *netBody) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Read reads the request body, waiting for the client.
func (b *netBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for {
		switch {
		case b.closed:
			b.mu.Unlock()
			return 0, http.ErrBodyReadAfterClose
		case b.off < len(b.buf):
			n := copy(p, b.buf[b.off:])
			b.off += n
			if b.off == len(b.buf) {
				b.buf, b.off = b.buf[:0], 0
			}
			resume := b.paused && len(b.buf)-b.off <= netBodyLow
			if resume {
				b.paused = false
			}
			b.mu.Unlock()
			if resume {
				b.s.loop.Execute(b.s.resumeBody)
			}
			return n, nil
		case b.eof:
			b.buf = nil
			tr := b.trailer
			b.trailer = nil
			b.mu.Unlock()
			if tr != nil {
				b.setTrailer(tr)
			}
			return 0, io.EOF
		case b.err != nil:
			b.mu.Unlock()
			return 0, b.err
		case len(p) == 0:
			b.mu.Unlock()
			return 0, nil
		}
		var t *time.Timer
		var expire <-chan time.Time
		if !b.rdl.IsZero() {
			d := time.Until(b.rdl)
			if d <= 0 {
				b.mu.Unlock()
				return 0, errReadDeadline
			}
			t = time.NewTimer(d)
			expire = t.C
		}
		start := !b.started
		b.started = true
		b.mu.Unlock()
		if start && !b.s.loop.Execute(b.s.startBody) {
			b.mu.Lock()
			b.err = errLoopStopped
			continue
		}
		select {
		case <-b.wake:
		case <-expire:
		case <-b.s.dead:
			b.mu.Lock()
			if b.err == nil && !b.eof {
				b.err = b.s.deadErr
			}
			b.mu.Unlock()
		}
		if t != nil {
			t.Stop()
		}
		b.mu.Lock()
	}
}

// errReadDeadline is what body reads return past the read deadline.
var errReadDeadline = fmt.Errorf("penstock/httpd: read: %w", os.ErrDeadlineExceeded)

// setTrailer merges the received trailers into Request.Trailer, as
// net/http's body reader does at io.EOF. The handler's goroutine only.
func (b *netBody) setTrailer(tr http.Header) {
	r := b.s.req
	if r.Trailer == nil {
		r.Trailer = http.Header{}
	}
	for k, vv := range tr {
		r.Trailer[k] = vv
	}
}

// Close makes later reads fail, and a read waiting for the client return
// (the server closes the body when the handler returns); what the client
// still sends is left for the server to discard after the response.
func (b *netBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.buf, b.off = nil, 0
	b.mu.Unlock()
	b.signal()
	return nil
}
