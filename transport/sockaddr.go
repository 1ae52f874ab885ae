package transport

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

func getsockname(fd int) (net.Addr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))), nil
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))), nil
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}, nil
	}
	return nil, unix.EAFNOSUPPORT
}

// sockaddrOf converts an address for sendto(2) on socket fd, whose family
// decides between a plain and a v4-mapped IPv6 address.
func sockaddrOf(fd int, ap netip.AddrPort) unix.Sockaddr {
	if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && dom == unix.AF_INET6 {
		a := ap.Addr()
		if a.Is4() {
			a = netip.AddrFrom16(a.As16())
		}
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
