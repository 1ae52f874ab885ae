package httpd

// This file hands an adapted handler's operations to the event loop and
// carries them out there: the handler's goroutine sets netExchange.op and
// waits in roundTrip; the loop writes the data in pieces as the client
// takes them, answers on ack, and ends the exchange when the client goes
// away, a write fails or the write deadline passes.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

type opKind uint8

const (
	opWrite   opKind = iota // head (if any), data, then End if end
	opInterim               // a 1xx head
	opRespond500
	opClose
	opHijack
)

type netOp struct {
	kind     opKind
	head     bool
	status   int
	fields   []Field
	data     []byte // borrowed until the loop answers
	flush    bool   // send a head that no data carries
	end      bool
	trailers []Field
	pooled   *[netBufSize]byte // put back once the final op is written

	// opHijack's results.
	conn    net.Conn
	release func()
}

// roundTrip runs s.op on the loop and waits for its answer. Once it fails,
// the exchange is dead and no op follows, so an answer left behind by
// giving up on the context is never mistaken for the next one's.
//
// Past the write deadline the op does not go; one that is still under way
// when the deadline passes is cut off and the connection closed, as a
// net/http connection whose write timed out is broken.
func (s *netExchange) roundTrip() error {
	var expire <-chan time.Time
	if !s.wdl.IsZero() {
		d := time.Until(s.wdl)
		if d <= 0 {
			return s.writeTimedOut()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expire = t.C
	}
	if !s.loop.Execute(s.runOpFn) {
		s.werr = errLoopStopped
		return s.werr
	}
	for {
		select {
		case err := <-s.ack:
			if err != nil {
				s.werr = err
			}
			return err
		case <-s.dead:
			// The loop no longer reads the op (see kill).
			s.werr = s.deadErr
			return s.werr
		case <-expire:
			// The loop may still hold op.data: wait for its answer.
			expire = nil
			if !s.loop.Execute(s.cutOffFn) {
				s.werr = errLoopStopped
				return s.werr
			}
		}
	}
}

// errWriteDeadline is what writes return past the write deadline.
var errWriteDeadline = fmt.Errorf("penstock/httpd: write: %w", os.ErrDeadlineExceeded)

// writeTimedOut fails the response at its write deadline: no more of it
// can be sent, so the connection closes. The handler's goroutine only.
func (s *netExchange) writeTimedOut() error {
	s.werr = errWriteDeadline
	s.loop.Execute(s.cutOffFn)
	return s.werr
}

// cutOff ends the exchange whose write deadline passed, closing the
// connection, unless it is over already. Loop only.
func (s *netExchange) cutOff() {
	if !s.done {
		s.fail(errWriteDeadline)
	}
}

// clientEOF cancels the request's context once the client has shut down
// its side after the request, as net/http does. Loop only.
func (s *netExchange) clientEOF() { s.cancel(context.Canceled) }

// runOp carries out s.op. Loop only.
func (s *netExchange) runOp() {
	s.inflight = true
	if s.done {
		err := s.deadErr
		if err == nil {
			err = ErrEnded
		}
		s.complete(err)
		return
	}
	op := &s.op
	x := s.x
	switch op.kind {
	case opInterim:
		if err := x.WriteHead(op.status, op.fields...); err != nil {
			s.fail(err)
			return
		}
		s.complete(nil)
	case opWrite:
		if op.head {
			if op.status == http.StatusSwitchingProtocols {
				// Nothing can take the connection over without Hijack.
				x.c.closing = true
			}
			if h1 := x.Req.HTTP1(); h1 != nil && h1.Expect100() && !x.BodyDone() {
				// As net/http: the client that waits for a 100 learns that
				// it need not send its body.
				op.fields = append(op.fields, connectionClose...)
			}
			if err := x.WriteHead(op.status, op.fields...); err != nil {
				s.fail(err)
				return
			}
		}
		s.pend = op.data
		s.pump()
	case opRespond500:
		s.done = true
		s.complete(nil)
		_ = x.Respond(http.StatusInternalServerError, nil, connectionClose...)
	case opClose:
		s.done = true
		s.complete(nil)
		x.Abort()
	case opHijack:
		s.done = true
		st, err := x.Hijack()
		if err == nil {
			op.conn, op.release, err = transport.Detach(st)
			if err != nil {
				_ = st.Close()
				err = fmt.Errorf("penstock/httpd: hijack: %w", err)
			}
		}
		s.complete(err)
	}
}

// pump writes s.pend in pieces, stopping while the client is congested,
// then ends the response for the final op. Loop only.
func (s *netExchange) pump() {
	x := s.x
	for len(s.pend) > 0 {
		n := min(len(s.pend), netWritePiece)
		_, err := x.Write(s.pend[:n])
		if s.done {
			return // the client went away during the write
		}
		if err != nil {
			s.fail(err)
			return
		}
		s.pend = s.pend[n:]
		if !x.Writable() && (len(s.pend) > 0 || !s.op.end) {
			s.waiting = true
			x.OnDrained(s.drainedFn)
			return
		}
	}
	s.pend = nil
	if s.op.flush {
		// WriteHead keeps the head for the first body bytes; a Flush
		// without any sends it alone.
		_ = x.Flush()
	}
	if s.op.end {
		s.done = true
		err := x.End(s.op.trailers...)
		if s.op.pooled != nil {
			netBufPool.Put(s.op.pooled)
		}
		s.complete(err)
		return
	}
	s.complete(nil)
}

func (s *netExchange) drained() {
	if !s.waiting || s.done {
		return
	}
	s.waiting = false
	s.x.OnDrained(nil)
	s.pump()
}

// complete answers the op in flight. Loop only.
func (s *netExchange) complete(err error) {
	if !s.inflight {
		return
	}
	s.inflight = false
	select {
	case s.ack <- err:
	default:
	}
}

// kill ends the exchange for the handler: the client went away (it is the
// OnAbort func) or a write failed. Its body reads and writes fail from now
// on, and the context is cancelled. Loop only.
func (s *netExchange) kill(err error) {
	if s.done {
		return
	}
	s.done = true
	s.deadErr = err
	close(s.dead)
	s.body.fail(err)
	s.cancel(err)
	s.complete(err)
}

// fail kills the exchange after a write failed and closes the connection,
// since the response cannot end. Loop only.
func (s *netExchange) fail(err error) {
	st := s.x.Stream()
	s.kill(err)
	_ = st.Close()
}
