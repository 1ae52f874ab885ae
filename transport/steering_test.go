package transport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// reuseportGroup binds n listening sockets to one loopback port with
// SO_REUSEPORT, in order (the kernel indexes a group in bind order), and
// returns them and the port.
func reuseportGroup(t *testing.T, n int) ([]int, int) {
	t.Helper()
	var fds []int
	port := 0
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
		require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}))
		require.NoError(t, unix.Listen(fd, 1024))
		if port == 0 {
			sa, err := unix.Getsockname(fd)
			require.NoError(t, err)
			port = sa.(*unix.SockaddrInet4).Port
		}
		fds = append(fds, fd)
	}
	return fds, port
}

// landed dials conns connections to port and reports how many each of fds
// had queued (closed ones: -1).
func landed(t *testing.T, port, conns int, fds []int, closed map[int]bool) []int {
	t.Helper()
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		require.NoError(t, err)
		cs = append(cs, c)
	}
	got := make([]int, len(fds))
	for i, fd := range fds {
		if closed[i] {
			got[i] = -1
			continue
		}
		for {
			c, _, err := unix.Accept(fd)
			if err != nil {
				break
			}
			_ = unix.Close(c)
			got[i]++
		}
	}
	return got
}

// While the old process's sockets close one by one, the steering program
// must keep every new connection off those still open (they are about to
// close, and what is queued on them then is reset): steerProgram does
// not, once the first has closed; pinProgram does, for any number of new
// sockets at least the old count, and once the old ones are gone the
// kernel spreads connections over all the new ones again.
func TestPinProgram(t *testing.T) {
	t.Run("steer after a close", func(t *testing.T) {
		fds, port := reuseportGroup(t, 4) // two old, two new
		defer func() {
			for _, fd := range fds[1:] {
				_ = unix.Close(fd)
			}
		}()
		require.NoError(t, attachProgram(fds[0], unix.SO_ATTACH_REUSEPORT_CBPF, steerProgram(2, 2)))
		require.NoError(t, unix.Close(fds[0]))
		got := landed(t, port, 120, fds, map[int]bool{0: true})
		require.Positive(t, got[1], "steerProgram keeps an old socket in play after the first close: %v", got)
	})
	for _, tc := range []struct{ old, new int }{{1, 1}, {2, 2}, {2, 3}, {3, 4}} {
		t.Run(strconv.Itoa(tc.old)+" old, "+strconv.Itoa(tc.new)+" new", func(t *testing.T) {
			fds, port := reuseportGroup(t, tc.old+tc.new)
			closed := map[int]bool{}
			defer func() {
				for i, fd := range fds {
					if !closed[i] {
						_ = unix.Close(fd)
					}
				}
			}()
			require.NoError(t, attachProgram(fds[0], unix.SO_ATTACH_REUSEPORT_CBPF, pinProgram(tc.new)))
			// Close the old sockets first to last, checking the layout
			// after each close.
			for i := range tc.old {
				if i > 0 {
					got := landed(t, port, 60, fds, closed)
					for j := range tc.old {
						if !closed[j] {
							require.Zero(t, got[j], "old socket %d got connections after %d closed: %v", j, i, got)
						}
					}
				}
				require.NoError(t, unix.Close(fds[i]))
				closed[i] = true
			}
			got := landed(t, port, 60*tc.new, fds, closed)
			for j := tc.old; j < len(fds); j++ {
				require.Positive(t, got[j], "the new sockets share the connections once the old ones are gone: %v", got)
			}
		})
	}
}
