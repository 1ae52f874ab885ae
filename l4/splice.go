package l4

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

// A pair of event-loop streams costs about a kilobyte while idle, but every
// byte it relays is copied into user space and back. Once a pair has moved
// SpliceAfter bytes it is a bulk transfer, and trySplice moves both sockets
// to two goroutines that relay with splice(2) (io.Copy between
// *net.TCPConn does), which keeps the bytes in the kernel. Backpressure and
// half-close then come from blocking I/O; the idle timeout from a watchdog.
func (p *pipe) trySplice() {
	if p.spliced || p.aEOF || p.bEOF || !isTCP(p.a) || !isTCP(p.b) ||
		!transport.Detachable(p.a) || !transport.Detachable(p.b) {
		return
	}
	ca, relA, err := transport.Detach(p.a)
	if err != nil {
		return
	}
	cb, relB, err := transport.Detach(p.b)
	if err != nil {
		// Detachable said yes a moment ago on the same loop; only a failed
		// dup can land here. a is already off the loop: end it.
		_ = ca.Close()
		relA()
		p.aDone, p.bDone = true, true
		_ = p.b.Close()
		p.finishSpliced(err)
		return
	}
	p.spliced = true
	p.st.Spliced = true
	if p.idle != nil {
		p.idle.Stop()
	}
	sp := &spliced{p: p, a: ca, b: cb, release: func() { relA(); relB() }, loop: p.a.Loop()}
	sp.last.Store(time.Now().UnixNano())
	sp.wg.Add(2)
	go sp.copy(cb, ca, &p.st.AToB)
	go sp.copy(ca, cb, &p.st.BToA)
	if p.opts.Idle > 0 {
		sp.watch = time.AfterFunc(p.opts.Idle, sp.checkIdle)
	}
	go sp.wait()
}

// isTCP reports whether s is a TCP stream: splice(2) only helps between TCP
// sockets.
func isTCP(s transport.Stream) bool {
	_, ok := s.RemoteAddr().(*net.TCPAddr)
	return ok
}

// spliced is a pair relayed by goroutines.
type spliced struct {
	p       *pipe
	a, b    net.Conn
	release func()
	loop    transport.Loop
	wg      sync.WaitGroup
	last    atomic.Int64
	watch   *time.Timer
	errOnce sync.Once
	err     error
	idle    atomic.Bool
}

// chunk is how much one splice round moves before the idle clock is
// refreshed.
const chunk = 1 << 20

func (sp *spliced) copy(dst, src net.Conn, count *int64) {
	defer sp.wg.Done()
	var total int64
	for {
		// io.CopyN ends in (*net.TCPConn).ReadFrom, which splices.
		n, err := io.CopyN(dst, src, chunk)
		total += n
		if n > 0 {
			sp.last.Store(time.Now().UnixNano())
		}
		if err != nil && err != io.EOF {
			sp.fail(err)
			break
		}
		if err == io.EOF {
			// EOF: pass the half-close on and let the other direction finish.
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			break
		}
	}
	atomic.AddInt64(count, total)
}

func (sp *spliced) fail(err error) {
	if errors.Is(err, net.ErrClosed) && sp.idle.Load() {
		err = ErrIdle
	}
	sp.errOnce.Do(func() {
		sp.err = err
		_ = sp.a.Close()
		_ = sp.b.Close()
	})
}

func (sp *spliced) checkIdle() {
	idle := sp.p.opts.Idle
	if left := idle - time.Since(time.Unix(0, sp.last.Load())); left > 0 {
		sp.watch.Reset(left)
		return
	}
	sp.idle.Store(true)
	sp.fail(ErrIdle)
}

func (sp *spliced) wait() {
	sp.wg.Wait()
	if sp.watch != nil {
		sp.watch.Stop()
	}
	_ = sp.a.Close()
	_ = sp.b.Close()
	sp.release()
	sp.loop.Execute(func() {
		sp.p.aDone, sp.p.bDone = true, true
		sp.p.finishSpliced(sp.err)
	})
}

func (p *pipe) finishSpliced(err error) {
	if err != nil && p.err == nil {
		p.err = err
	}
	if p.opts.Done != nil {
		p.st.Duration = time.Since(p.start)
		p.opts.Done(p.err, p.st)
	}
}
