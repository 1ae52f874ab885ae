package main

import (
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// skmem reads the send and receive buffer sizes (ss's tb and rb) of the one
// established TCP socket filter selects, as `ss` (iproute2) reports them
// for any process's sockets.
func skmem(t *testing.T, filter string) (snd, rcv int) {
	t.Helper()
	out, err := exec.Command("ss", "-tmnH", "state", "established", filter).CombinedOutput()
	require.NoError(t, err, string(out))
	m := regexp.MustCompile(`skmem:\([^)]*\brb(\d+),t\d+,tb(\d+)`).FindAllSubmatch(out, -1)
	require.Len(t, m, 1, "ss %s:\n%s", filter, out)
	rcv, _ = strconv.Atoi(string(m[0][1]))
	snd, _ = strconv.Atoi(string(m[0][2]))
	return snd, rcv
}

// --sndbuf and --rcvbuf reach the daemon's sockets on both legs of a relay:
// the accepted client connection and the upstream connection it dials.
func TestDaemonSocketBuffers(t *testing.T) {
	const snd, rcv = 1 << 20, 768 << 10
	wantSnd, wantRcv := testutil.SocketBufferSizes(t, snd, rcv)

	listen := testutil.FreePort(t, "tcp")
	up := testutil.EchoServer(t)
	d := startDaemon(t, "tcp", "--listen", listen, "--to", up, "--sndbuf", strconv.Itoa(snd), "--rcvbuf", strconv.Itoa(rcv), "--loops", "1")
	d.waitLog(t, "msg=listening")
	c, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1)) // the upstream leg is up
	require.NoError(t, err)

	_, lport, _ := net.SplitHostPort(listen)
	_, uport, _ := net.SplitHostPort(up)
	gotSnd, gotRcv := skmem(t, "( sport = :"+lport+" )")
	require.Equal(t, [2]int{wantSnd, wantRcv}, [2]int{gotSnd, gotRcv}, "accepted socket: send, receive buffer")
	gotSnd, gotRcv = skmem(t, "( dport = :"+uport+" )")
	require.Equal(t, [2]int{wantSnd, wantRcv}, [2]int{gotSnd, gotRcv}, "upstream socket: send, receive buffer")
}
