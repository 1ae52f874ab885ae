package transport

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A process that runs out of file descriptors cannot even accept a
// connection to refuse it, and gnet v2.10.0 ends an event loop whose
// accept(2) fails with EMFILE, taking every connection of the loop with
// it. So descriptors are rationed by number, which the kernel always
// hands out lowest first (a new descriptor numbered n means the n below it
// are all open): sockets the process opens itself (upstream dials, UDP
// session sockets) are refused from limit-2H on, accepted connections
// are closed at once from limit-H on, and H descriptors stay free for
// accept(2) to take and the transport to close. H is a sixteenth of the
// limit, from 32 to 256.
//
// Go raises the soft RLIMIT_NOFILE to the hard limit when a program
// starts (since Go 1.19), as nginx's worker_rlimit_nofile lets its
// operators do; the limit read at start is the one rationed.

// Counting descriptors by number alone does not bound how many are open:
// a closed one leaves a hole that the next socket fills with a low number
// while the rest stay open. So admission also counts. Every accepted
// stream and UDP session reserves three descriptors from a budget shared
// by the process: its own, an upstream's (for a relay or proxy), and one
// that comes and goes (the kept descriptor of a parked or half-closed
// stream, a drainer's, the copy gnet makes of a socket it attaches). The
// budget is the open-file limit less the descriptors open when a
// Transport started (listeners, epoll, logs) and a headroom of limit/16
// (32 to 1024); at most attachMax sockets are being attached at once, so
// their copies stay within it. Past the budget a new connection or
// session is refused (ReasonFDLimit). So a relay at its limit runs about
// (limit - open - headroom) / 3 connections, where nginx, which keeps no
// such copies, runs limit / 2: raise the hard limit for more.

// ErrFDLimit is the error of a socket refused because the process is near
// its open-file limit.
var ErrFDLimit = errors.New("penstock/transport: too close to the open-file limit")

// fdLimits holds the process's open-file limit and the two thresholds. It
// is read once at start; tests set it lower.
type fdLimits struct {
	limit, own, accept int
}

var fdLimit atomic.Pointer[fdLimits]

func init() { setFDLimit(currentFDLimit()) }

func currentFDLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return int(rl.Cur)
}

func setFDLimit(limit int) {
	h := min(max(limit/16, 32), 256)
	fdLimit.Store(&fdLimits{limit: limit, own: limit - 2*h, accept: limit - h})
}

// fdPerUnit is the descriptors an admitted stream or session reserves.
const fdPerUnit = 3

// attachMax bounds the sockets a Transport attaches to its loops at once:
// gnet copies each (a dup) before it closes the original.
const attachMax = 16

// fdUnits counts the admitted streams and UDP sessions of every
// Transport of the process; fdBase is the descriptors open besides them.
var fdUnits, fdBase atomic.Int64

// fdReserve takes an admitted stream's or session's share of the budget,
// or reports that none is left. It is safe from any goroutine.
func fdReserve() bool {
	l := fdLimit.Load()
	headroom := int64(min(max(l.limit/16, 32), 1024))
	if fdPerUnit*fdUnits.Add(1)+fdBase.Load()+headroom+attachMax > int64(l.limit) {
		fdUnits.Add(-1)
		return false
	}
	return true
}

// fdUnreserve gives a share back.
func fdUnreserve() { fdUnits.Add(-1) }

// noteFDBase records the descriptors the process holds besides its
// streams' and sessions' (counted in /proc/self/fd), as a Transport
// starts.
func noteFDBase() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	base := int64(len(ents)) - fdPerUnit*fdUnits.Load()
	for {
		old := fdBase.Load()
		if base <= old || fdBase.CompareAndSwap(old, base) {
			return
		}
	}
}

// FDLimit returns the open-file limit the transport rations descriptors
// by: the soft RLIMIT_NOFILE when the process started. It is safe from
// any goroutine.
func FDLimit() int { return fdLimit.Load().limit }

// MaxOwnFDs returns the descriptor number from which CheckFD refuses a
// socket: the descriptors a process may hold before it stops opening
// sockets of its own. It is safe from any goroutine.
func MaxOwnFDs() int { return fdLimit.Load().own }

// CheckFD returns ErrFDLimit when fd, a descriptor the caller has just
// opened, shows the process too near its open-file limit to keep it: the
// caller closes it and fails what it was for. Every socket a program on
// the transport opens by itself should pass it, so that the transport
// always has descriptors left to accept and refuse connections cleanly.
// DialControl does it for a net.Dialer. It is safe from any goroutine.
func CheckFD(fd int) error {
	if fd >= fdLimit.Load().own {
		return ErrFDLimit
	}
	return nil
}

// DialControl is a net.Dialer Control func that refuses the socket with
// CheckFD before it connects. It is safe from any goroutine.
func DialControl(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = CheckFD(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// acceptFDOK reports whether an accepted connection's descriptor leaves
// enough free to keep it.
func acceptFDOK(fd int) bool { return fd < fdLimit.Load().accept }
