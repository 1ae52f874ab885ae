package testutil

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RedisServer runs a real redis-server on a free loopback port until the
// test ends, or skips the test when redis-server is not installed. It
// returns the address and a func that stops the server early (to test a
// shard going down) and one that starts it again on the same port. extra
// are more redis-server arguments, such as "--requirepass", "secret".
func RedisServer(t testing.TB, extra ...string) (addr string, stop, restart func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (apt-get install -y redis-server redis-tools); .ci/run installs it")
	}
	addr = FreePort(t, "tcp")
	_, port, _ := net.SplitHostPort(addr)
	var cmd *exec.Cmd
	start := func() {
		args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"}
		cmd = exec.Command(bin, append(args, extra...)...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("redis-server: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis-server on %s did not start", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop = func() {
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cmd = nil
		}
	}
	start()
	t.Cleanup(stop)
	return addr, stop, start
}

// RedisCLI runs redis-cli against addr with args and returns its output.
func RedisCLI(t testing.TB, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v: %s", args, err, out)
	}
	return string(out)
}
