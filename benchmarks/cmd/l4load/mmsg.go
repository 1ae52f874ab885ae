package main

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// dgramBatch moves up to len(hdrs) datagrams per system call on a UDP
// socket (recvmmsg/sendmmsg), so that the load side of the UDP measure
// costs less per datagram than a relay does and the relay, not the load
// core, is what saturates. Reads wait through Go's poller and honour the
// socket's read deadline.
type dgramBatch struct {
	rc    syscall.RawConn
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte
}

// newDgramBatch makes a batch of n buffers of size bytes; withNames keeps
// each datagram's source address (for a socket that is not connected).
func newDgramBatch(c *net.UDPConn, n, size int, withNames bool) (*dgramBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &dgramBatch{rc: rc, hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n)}
	if withNames {
		b.names = make([]unix.RawSockaddrAny, n)
	}
	for i := range b.hdrs {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.Iovlen = 1
	}
	return b, nil
}

// recv waits for at least one datagram and reads up to len(hdrs): the
// i'th is bufs[i][:hdrs[i].n], from names[i].
func (b *dgramBatch) recv() (int, error) {
	for i := range b.hdrs {
		b.iovs[i].Len = uint64(len(b.bufs[i]))
		if b.names != nil {
			b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrAny
		}
	}
	var n int
	var serr error
	err := b.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EAGAIN:
			return false
		case 0:
			n = int(r)
		default:
			serr = e
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, serr
}

// send writes the first k datagrams: each bufs[i][:lens(i)], to names[i]
// as recv filled it (nil names: the connected peer). It waits while the
// socket buffer is full.
func (b *dgramBatch) send(k int, lens func(i int) int) error {
	for i := range k {
		b.iovs[i].Len = uint64(lens(i))
		if b.names == nil {
			b.hdrs[i].hdr.Name, b.hdrs[i].hdr.Namelen = nil, 0
		}
	}
	for off := 0; off < k; {
		var serr error
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[off])), uintptr(k-off),
				unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EAGAIN:
				return false
			case 0:
				off += int(r)
			default:
				serr = e
			}
			return true
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	return nil
}
