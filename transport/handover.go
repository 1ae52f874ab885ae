package transport

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Classic BPF's ancillary load of a random number (linux/filter.h).
const (
	skfAdOff    = -0x1000
	skfAdRandom = 56
)

// randomLoad is skfAdOff+skfAdRandom as the 32-bit K of a load.
var randomLoad = func() uint32 { v := int32(skfAdOff + skfAdRandom); return uint32(v) }()

// handOverGrace is how long HandOver keeps accepting after it has steered
// new connections away: what the kernel queued on t's sockets before is
// accepted and served, not refused.
const handOverGrace = 250 * time.Millisecond

// HandOver gives t's TCP listeners to another process that has bound the
// same addresses next to them (its Transport started with SharePorts,
// newSockets sockets per address: its loops), then drains t as Shutdown
// does. It attaches a classic BPF program to each address's SO_REUSEPORT
// group that sends every new connection to one of the other process's
// sockets, which the kernel keeps after t's (t's sockets come first in
// the group: it bound them first), so that no connection is queued on a
// socket that is about to close; what was queued before is still
// accepted for handOverGrace. A connection still queued on t's sockets
// when they close (it needs a SYN that raced the steering) is handed to
// the other process's sockets by the kernel when net.ipv4.tcp_migrate_req
// is 1, and reset otherwise. UDP listeners are shared until t closes them
// (datagrams of t's sessions may reach the other process meanwhile,
// which then starts a session of its own). The steering assumes no third
// process shares the group (one upgrade at a time). It is safe from any
// goroutine.
func (t *Transport) HandOver(ctx context.Context, newSockets int) error {
	if newSockets <= 0 {
		return fmt.Errorf("penstock/transport: hand-over to %d sockets", newSockets)
	}
	if t.reusePort {
		for _, ln := range t.listeners {
			if ln.network != "tcp" {
				continue
			}
			if err := t.steer(ln, newSockets); err != nil {
				t.log.Warn("hand-over: new connections not steered to the new process; they share the ports until this one closes them",
					"listener", ln.Name, "err", err)
			}
		}
		select {
		case <-time.After(handOverGrace):
		case <-ctx.Done():
		}
	}
	return t.Shutdown(ctx)
}

// steer attaches the steering program to ln's SO_REUSEPORT group: a
// random index among the newSockets sockets that follow t's own.
func (t *Transport) steer(ln *listener, newSockets int) error {
	fd, err := t.eng.DupListener(ln.gnetNet, ln.address)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: randomLoad},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(newSockets)},
		{Code: unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, K: uint32(t.opts.Loops)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
}

// Loops returns the number of event loops t runs (its sockets per address
// when the loops share a port). It is safe from any goroutine.
func (t *Transport) Loops() int { return t.opts.Loops }
