package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// startLimitedDaemon runs the daemon with an open-file limit of nofile,
// soft and hard (Go raises the soft limit to the hard one at start).
func startLimitedDaemon(t *testing.T, nofile int, args ...string) *daemon {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	d := &daemon{cmd: exec.Command("sh", append([]string{"-c", script, buildBinary(t)}, args...)...),
		stderr: &syncBuffer{}, stdout: &syncBuffer{}, exit: make(chan error, 1)}
	d.cmd.Stderr, d.cmd.Stdout = d.stderr, d.stdout
	require.NoError(t, d.cmd.Start())
	go func() { d.exit <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exit
	})
	return d
}

// logLines counts the daemon's log lines that contain s.
func (d *daemon) logLines(s string) int { return strings.Count(d.stderr.String(), s) }

// alive fails the test if the daemon has exited.
func (d *daemon) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-d.exit:
		d.exit <- err
		t.Fatalf("daemon exited (%v):\n%s", err, d.stderr.String())
	default:
	}
}

// With its descriptors nearly used up by held connections, the TCP relay
// refuses new ones cleanly (closes them at once, a few log lines in all),
// keeps relaying the ones it holds, and serves again as soon as they
// close. Before, gnet's accept(2) failed with EMFILE, which ended the
// event loop and every connection on it.
func TestDaemonTCPAtTheOpenFileLimit(t *testing.T) {
	listen := testutil.FreePort(t, "tcp")
	d := startLimitedDaemon(t, 256, "tcp", "--listen", listen, "--to", testutil.EchoServer(t), "--loops", "1")
	d.waitLog(t, "msg=listening")

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", listen, 2*time.Second)
		if err != nil {
			continue // the kernel's backlog may fill while the daemon refuses
		}
		held = append(held, c)
	}
	// Every held connection either relays or was closed by the daemon;
	// none hangs, and at least the ones within the limit relay.
	var relayed, refused int
	for i, c := range held {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("ping %d\n", i)
		buf := make([]byte, len(msg))
		if _, err := c.Write([]byte(msg)); err == nil {
			if _, err := io.ReadFull(c, buf); err == nil && string(buf) == msg {
				relayed++
				continue
			}
		}
		refused++
	}
	t.Logf("%d connections relayed, %d refused", relayed, refused)
	require.Greater(t, relayed, 40, "connections within the limit relay; daemon log:\n%s", d.stderr.String())
	require.Greater(t, refused, 0, "the limit was reached")
	d.alive(t)
	require.LessOrEqual(t, d.logLines("no descriptor to spare")+d.logLines("upstream connect failed"), 20,
		"refusals are logged at a bounded rate:\n%s", d.stderr.String())

	for _, c := range held {
		c.Close()
	}
	held = nil
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("again\n")); err != nil {
			return false
		}
		buf := make([]byte, 6)
		_, err = io.ReadFull(c, buf)
		return err == nil && string(buf) == "again\n"
	}, 20*time.Second, 100*time.Millisecond, "the relay serves again once descriptors are free:\n%s", d.stderr.String())
	d.alive(t)
}

// The UDP relay's default session cap follows the open-file limit (two
// descriptors a session): past it, new clients are refused and counted,
// not met with a failed socket and an ERROR line per datagram; the
// sessions within the cap are served, and new clients are again once
// sessions expire.
func TestDaemonUDPAtTheOpenFileLimit(t *testing.T) {
	listen := testutil.FreePort(t, "udp")
	cfg := filepath.Join(t.TempDir(), "udp.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
loops: 1
pipelines:
  - name: udp
    listen: udp://%s
    stages: [{kind: relay, upstream: echo}]
    session: {idle: 2s}
upstreams:
  echo:
    endpoints: [%s]
`, listen, testutil.UDPEchoServer(t))), 0o644))
	d := startLimitedDaemon(t, 256, "run", "-c", cfg)
	d.waitLog(t, "msg=listening")

	const clients = 300
	var answered sync.WaitGroup
	var mu sync.Mutex
	got := 0
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.Dial("udp", listen)
		require.NoError(t, err)
		conns = append(conns, c)
		msg := fmt.Sprintf("client %d", i)
		_, _ = c.Write([]byte(msg))
		answered.Add(1)
		go func() {
			defer answered.Done()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 64)
			if n, err := c.Read(buf); err == nil && string(buf[:n]) == msg {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	answered.Wait()
	t.Logf("%d of %d clients answered", got, clients)
	require.Greater(t, got, 40, "the sessions within the cap are served")
	require.Less(t, got, clients, "the cap was reached")
	d.alive(t)
	require.LessOrEqual(t, d.logLines("level=ERROR"), 3, "no error line per datagram:\n%s", d.stderr.String())
	require.LessOrEqual(t, d.logLines("level=WARN"), 10, "refusals are logged at a bounded rate:\n%s", d.stderr.String())

	// Once the sessions expire, a new client is served.
	require.Eventually(t, func() bool {
		c, err := net.Dial("udp", listen)
		if err != nil {
			return false
		}
		defer c.Close()
		_, _ = c.Write([]byte("later"))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		return err == nil && string(buf[:n]) == "later"
	}, 20*time.Second, 100*time.Millisecond)
	d.alive(t)
}
