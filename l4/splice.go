package l4

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/penstock-proxy/penstock/transport"
)

// A pair of event-loop streams costs about a kilobyte while idle, but every
// byte it relays is copied into user space and back. Once a pair has moved
// SpliceAfter bytes it is a bulk transfer, and trySplice moves both sockets
// to two goroutines that relay with splice(2) through a kernel pipe, which
// keeps the bytes in the kernel. Backpressure and
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
		// Armed only once sp.watch is set: checkIdle re-arms through it.
		sp.watch = time.AfterFunc(time.Hour, sp.checkIdle)
		sp.watch.Reset(p.opts.Idle)
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

func (sp *spliced) copy(dst, src net.Conn, count *int64) {
	defer sp.wg.Done()
	n, err := spliceCopy(dst.(*net.TCPConn), src.(*net.TCPConn), &sp.last)
	atomic.AddInt64(count, n)
	if err != nil {
		sp.fail(err)
		return
	}
	// EOF: pass the half-close on and let the other direction finish.
	_ = dst.(*net.TCPConn).CloseWrite()
}

// pipeSize is the kernel pipe a splice relay moves bytes through: bigger
// than the 64 KiB default, for fewer system calls per byte.
const pipeSize = 256 << 10

// spliceCopy moves bytes from src to dst through a kernel pipe until src's
// EOF, waiting on Go's netpoller when a socket is not ready. Unlike
// io.Copy it records the time of every move in last, so an idle timeout
// sees a trickle as activity.
func spliceCopy(dst, src *net.TCPConn, last *atomic.Int64) (int64, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return 0, err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize)
	rs, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	ws, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int64
		var serr error
		if err := rs.Read(func(fd uintptr) bool {
			n, serr = unix.Splice(int(fd), nil, p[1], nil, pipeSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			return serr != unix.EAGAIN && serr != unix.EINTR
		}); err != nil {
			return total, err
		}
		if serr != nil {
			return total, serr
		}
		if n == 0 {
			return total, nil
		}
		last.Store(time.Now().UnixNano())
		for n > 0 {
			var m int64
			if err := ws.Write(func(fd uintptr) bool {
				m, serr = unix.Splice(p[0], nil, int(fd), nil, int(n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				return serr != unix.EAGAIN && serr != unix.EINTR
			}); err != nil {
				return total, err
			}
			if serr != nil {
				return total, serr
			}
			n -= m
			total += m
		}
		last.Store(time.Now().UnixNano())
	}
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
		p.st.Duration = transport.Clock() - p.start
		p.opts.Done(p.err, p.st)
	}
}
