package transport

import (
	"errors"
	"net"
	"os"
)

// ErrNotDetachable is returned by Detach for a stream that cannot leave its
// loop now.
var ErrNotDetachable = errors.New("penstock/transport: stream cannot be detached now")

// Detachable reports whether Detach would succeed: s is a TCP or unix
// stream on an event loop, open both ways, with no queued output and no
// unconsumed input. Called from the stream's own OnData, the bytes being
// delivered count as consumed: a handler that detaches there must consume
// all of them. Loop only.
func Detachable(s Stream) bool {
	ls, ok := s.(*loopStream)
	return ok && ls.detachable()
}

func (s *loopStream) detachable() bool {
	return !s.closed && !s.readEOF && !s.shutReq && s.c != nil && !s.parking && !s.resuming &&
		!s.hasCarry() && (s.aw() == nil || !s.aw().busy()) && s.c.InboundBuffered() == int(s.delivering)
}

// Detach takes a stream's socket off its event loop and returns it as a
// net.Conn (a *net.TCPConn or *net.UnixConn) for a goroutine to drive, for
// example a splice(2) relay through io.Copy. The stream is closed without
// calling its handler. The caller owns the connection and must call release
// once it is done with it, which returns what admission took (filter counts,
// the drain count). Loop only; see Detachable for when it succeeds.
func Detach(s Stream) (nc net.Conn, release func(), err error) {
	ls, ok := s.(*loopStream)
	if !ok || !ls.detachable() {
		return nil, nil, ErrNotDetachable
	}
	if err := ls.ensureKeep(); err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(ls.keep), "penstock-detach")
	ls.keep = -1
	nc, err = net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, nil, err
	}
	ls.closed = true
	if ls.inTraffic {
		ls.after = afterClose
	} else {
		c := ls.c
		ls.c = nil
		_ = ls.el.gl.Close(c)
	}
	if w := ls.aw(); w != nil {
		w.close()
	}
	delete(ls.el.unbound, ls)
	return nc, ls.release, nil
}
