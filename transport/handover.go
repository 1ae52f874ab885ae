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
// accepted for handOverGrace. Then, as t's sockets close, the program
// is pinned to one of the other process's sockets (see pinProgram), so
// that no new connection is queued on a socket of t's that has yet to
// close. A connection still queued on t's sockets when they close (it
// needs a SYN that raced the steering) is handed to the other process's
// sockets by the kernel when net.ipv4.tcp_migrate_req is 1, and reset
// otherwise. UDP listeners are shared until t closes them
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
			if err := t.attachSteering(ln, steerProgram(t.opts.Loops, newSockets)); err != nil {
				t.log.Warn("hand-over: new connections not steered to the new process; they share the ports until this one closes them",
					"listener", ln.Name, "err", err)
			}
		}
		select {
		case <-time.After(handOverGrace):
		case <-ctx.Done():
		}
		if newSockets >= t.opts.Loops {
			for _, ln := range t.listeners {
				if ln.network == "tcp" {
					_ = t.attachSteering(ln, pinProgram(newSockets))
				}
			}
		}
	}
	return t.Shutdown(ctx)
}

// attachSteering attaches prog to ln's SO_REUSEPORT group (it replaces the
// group's program).
func (t *Transport) attachSteering(ln *listener, prog []unix.SockFilter) error {
	fd, err := t.eng.DupListener(ln.gnetNet, ln.address)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return attachProgram(fd, unix.SO_ATTACH_REUSEPORT_CBPF, prog)
}

// steerProgram picks a random index among the newSockets sockets that
// follow the old process's own (old of them, bound first).
func steerProgram(old, newSockets int) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: randomLoad},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(newSockets)},
		{Code: unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, K: uint32(old)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
}

// pinProgram always picks index newSockets, for the time the old process's
// sockets close. Closing a socket moves the group's last one into its slot,
// so steerProgram's indexes stop naming the new sockets after the first
// close: some fall past the end, and the kernel then hashes over a group
// that still holds old sockets about to close (measured: a sixth of new
// connections on the old process's last socket, with two sockets each;
// TestPinProgram). With old <= newSockets, index newSockets names a new
// socket in every layout until the last old socket has closed (the sockets
// at index old and beyond are new as long as one old socket is left, and
// there are at least newSockets+1 of them), and none after, when the kernel
// hashes over the new sockets alone: the new process's loops share its
// connections again without a program of their own.
func pinProgram(newSockets int) []unix.SockFilter {
	return []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: uint32(newSockets)}}
}

// Loops returns the number of event loops t runs (its sockets per address
// when the loops share a port). It is safe from any goroutine.
func (t *Transport) Loops() int { return t.opts.Loops }
