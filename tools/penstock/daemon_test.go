package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
)

var binPath string

// buildBinary builds the daemon once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if binPath != "" {
		return binPath
	}
	dir, err := os.MkdirTemp("", "penstock-bin")
	require.NoError(t, err)
	bin := filepath.Join(dir, "penstock")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	binPath = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// daemon is a penstock process under test.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer
	exit   chan error
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(buildBinary(t), args...), stderr: &syncBuffer{}, stdout: &syncBuffer{}, exit: make(chan error, 1)}
	d.cmd.Stderr, d.cmd.Stdout = d.stderr, d.stdout
	require.NoError(t, d.cmd.Start())
	go func() { d.exit <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exit
	})
	return d
}

// runConfig writes config to path and runs the daemon on it until it
// listens.
func runConfig(t *testing.T, path, config string) *daemon {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	d := startDaemon(t, "run", "-c", path)
	d.waitLog(t, "msg=listening")
	return d
}

func (d *daemon) waitLog(t *testing.T, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(d.stderr.String(), s) }, 20*time.Second, 20*time.Millisecond,
		"daemon log never said %q:\n%s", s, d.stderr.String())
}

func (d *daemon) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.exit:
		d.exit <- nil
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit:\n%s", d.stderr.String())
		return -1
	}
}

func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(msg))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestDaemonTCPOneLinerFailoverAndDrain(t *testing.T) {
	listen := testutil.FreePort(t, "tcp")
	dead := testutil.DeadPort(t)
	d := startDaemon(t, "tcp", "--listen", listen, "--to", dead+","+testutil.EchoServer(t), "--allow", "127.0.0.0/8", "--loops", "2")
	d.waitLog(t, "msg=listening")
	for range 3 {
		require.Equal(t, "hello", roundTrip(t, listen, "hello"))
	}
	d.waitLog(t, "upstream connect failed")

	live, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer live.Close()
	_, _ = live.Write([]byte("1"))
	_, err = io.ReadFull(live, make([]byte, 1))
	require.NoError(t, err)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	d.waitLog(t, "SIGTERM: draining")
	_, _ = live.Write([]byte("2"))
	buf := make([]byte, 1)
	_, err = io.ReadFull(live, buf)
	require.NoError(t, err, "a live connection keeps working during the drain")
	require.Equal(t, "2", string(buf))
	live.Close()
	require.Equal(t, 0, d.wait(t))
	require.Contains(t, d.stderr.String(), "drained")
}

func TestDaemonUDPOneLiner(t *testing.T) {
	listen := testutil.FreePort(t, "udp")
	d := startDaemon(t, "udp", "--listen", listen, "--to", testutil.UDPEchoServer(t))
	d.waitLog(t, "msg=listening")
	c, err := net.Dial("udp", listen)
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 64)
	var got string
	for try := 0; try < 5 && got == ""; try++ {
		_, _ = c.Write([]byte("ping"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			got = string(buf[:n])
		}
	}
	require.Equal(t, "ping", got)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, d.wait(t))
}

func TestDaemonDeniedSource(t *testing.T) {
	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "tcp", "--listen", listen, "--to", testutil.EchoServer(t), "--deny", "127.0.0.1/32")
	d.waitLog(t, "msg=listening")
	// The daemon closes a denied connection at accept, so the write or the
	// shutdown may already see the reset; what matters is that nothing comes back.
	for range 3 {
		c, err := net.DialTimeout("tcp", listen, 2*time.Second)
		if err != nil {
			continue // refused or reset during the handshake: also nothing relayed
		}
		_, _ = c.Write([]byte("secret"))
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		require.Empty(t, string(b), "a denied source gets no byte relayed")
	}
}

func TestDaemonCheckAndBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	certs, err := demoTLS()
	require.NoError(t, err)
	defer os.RemoveAll(certs)
	require.NoError(t, os.WriteFile(good, withDemoTLS(defaultConfig, certs), 0o600))
	out, err := exec.Command(buildBinary(t), "check", "-c", good).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "config ok")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: relay, upstream: missing}]\n"), 0o600))
	for _, cmd := range []string{"check", "run"} {
		out, err = exec.Command(buildBinary(t), cmd, "-c", bad).CombinedOutput()
		require.Error(t, err)
		require.Equal(t, 2, err.(*exec.ExitError).ExitCode())
		require.Contains(t, string(out), "bad.yaml:5: pipelines[0].stages[0].upstream: no upstream group named \"missing\"")
	}
}

func TestDaemonDefaultConfig(t *testing.T) {
	for _, p := range []string{"127.0.0.1:8000", "127.0.0.1:9000", "127.0.0.1:8443", "127.0.0.1:8444", "127.0.0.1:8080", "127.0.0.1:9080", "127.0.0.1:9901"} {
		if l, err := net.Listen("tcp", p); err != nil {
			t.Skipf("port %s busy: %v", p, err)
		} else {
			l.Close()
		}
	}
	for _, p := range []string{"127.0.0.1:8053", "127.0.0.1:9053"} {
		if c, err := net.ListenPacket("udp", p); err != nil {
			t.Skipf("udp port %s busy: %v", p, err)
		} else {
			c.Close()
		}
	}
	d := startDaemon(t)
	require.Eventually(t, func() bool { return strings.Contains(d.stdout.String(), "Try:") }, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "hello\n", roundTrip(t, "127.0.0.1:8000", "hello\n"))
	require.Equal(t, "SSH-2.0-x\r\n", roundTrip(t, "127.0.0.1:8443", "SSH-2.0-x\r\n"))
	c, err := net.Dial("udp", "127.0.0.1:8053")
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("dgram"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('m')
	require.NoError(t, err)
	require.Equal(t, "dgram", line)
	resp, err := http.Post("http://127.0.0.1:8080/echo", "text/plain", strings.NewReader("through the http proxy"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "through the http proxy", string(body))
	require.Equal(t, "1.1 penstock", resp.Header.Get("Via"))

	// The HTTPS line the demo prints works as printed.
	i := strings.Index(d.stdout.String(), "curl --cacert ")
	require.Positive(t, i)
	line = strings.SplitN(d.stdout.String()[i:], "\n", 2)[0]
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("sh", "-c", line+" -sS --max-time 10").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "hello from penstock: GET /hello")
	}
	caFile := strings.Fields(line)[2]
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pem))
	tc, err := tls.Dial("tcp", "127.0.0.1:8444", &tls.Config{RootCAs: pool})
	require.NoError(t, err)
	require.Equal(t, tls.X25519MLKEM768, tc.ConnectionState().CurveID)
	tc.Close()

	// The metrics line the demo prints works as printed, with the request
	// above counted.
	i = strings.Index(d.stdout.String(), "curl -s http://127.0.0.1:9901/metrics")
	require.Positive(t, i)
	line = strings.SplitN(d.stdout.String()[i:], "\n", 2)[0]
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("sh", "-c", line).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), `penstock_http_requests_total{group="web-echo",pipeline="http-proxy",route="/echo"} 1`)
	}

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, d.wait(t))
	_, err = os.Stat(caFile)
	require.True(t, os.IsNotExist(err), "the demo's certificates are removed at exit")
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDaemonRedisOneLiner(t *testing.T) {
	a, _, _ := testutil.RedisServer(t)
	b, _, _ := testutil.RedisServer(t)
	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "redis", "--listen", listen, "--to", a+","+b)
	d.waitLog(t, "msg=listening")
	require.Equal(t, "OK\n", testutil.RedisCLI(t, listen, "MSET", "k1", "1", "k2", "2", "k3", "3"))
	require.Equal(t, "1\n2\n3\n", testutil.RedisCLI(t, listen, "MGET", "k1", "k2", "k3"))
	require.Contains(t, testutil.RedisCLI(t, listen, "KEYS", "*"), "unsupported command")
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))

	// --distribution modula places keys as twemproxy's modula does.
	listen = testutil.FreePort(t, "tcp")
	d = startDaemon(t, "redis", "--listen", listen, "--to", a+","+b, "--distribution", "modula", "--timeout", "2s")
	d.waitLog(t, "msg=listening")
	m, err := l4.NewModula([]l4.KetamaServer{{Addr: a, Weight: 1}, {Addr: b, Weight: 1}})
	require.NoError(t, err)
	shards := []string{a, b}
	for i := range 10 {
		k := fmt.Sprintf("modula-%d", i)
		require.Equal(t, "OK\n", testutil.RedisCLI(t, listen, "SET", k, "v"))
		require.Equal(t, "v\n", testutil.RedisCLI(t, shards[m.Pick([]byte(k))], "GET", k), k)
	}
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}

func TestDaemonHTTPOneLiner(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s via %s", r.Method, r.URL.Path, r.Header.Get("Via"))
	}))
	defer be.Close()
	listen := testutil.FreePort(t, "tcp")
	dead := testutil.DeadPort(t)
	d := startDaemon(t, "http", "--listen", listen, "--to", dead+","+strings.TrimPrefix(be.URL, "http://"))
	d.waitLog(t, "msg=listening")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	for range 3 {
		out, err := exec.Command("curl", "-sS", "--max-time", "10", "http://"+listen+"/a").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, "GET /a via 1.1 penstock", string(out))
	}
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}

// `penstock CMD --help` prints the command's flags and exits 0; a bad flag
// exits 2.
func TestDaemonHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"tcp", "udp", "http", "redis", "run", "check", "reload", "ech-keygen", "version"} {
		out, err := exec.Command(buildBinary(t), cmd, "--help").CombinedOutput()
		require.NoError(t, err, "%s --help: %s", cmd, out)
		require.Contains(t, string(out), "Usage of penstock "+cmd)
	}
	err := exec.Command(buildBinary(t), "tcp", "--no-such-flag").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
}

// An HTTP listener's access log gets a line per request, proxied or refused
// by the server itself; SIGUSR1 reopens it, so a log moved aside (as
// logrotate does) keeps its lines and a new file takes the next ones.
func TestDaemonHTTPAccessLog(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer be.Close()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	listen := testutil.FreePort(t, "tcp")
	cfg := filepath.Join(dir, "penstock.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
log: {format: json}
pipelines:
  - name: web
    listen: %q
    stages:
      - kind: http_proxy
        upstream: app
        access_log: %q
upstreams:
  app: {endpoints: [%q]}
`, listen, logPath, strings.TrimPrefix(be.URL, "http://"))), 0o644))
	d := startDaemon(t, "run", "-c", cfg)
	d.waitLog(t, `"msg":"listening"`)

	get := func(path string) {
		resp, err := http.Get("http://" + listen + path)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	get("/first?q=1")
	// A request the server refuses itself: two Host fields.
	c, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	_, _ = c.Write([]byte("GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	head, _ := io.ReadAll(c)
	c.Close()
	require.True(t, strings.HasPrefix(string(head), "HTTP/1.1 400 "), "%q", head)

	type line struct {
		Msg, Listener, Client, Method, Host, Target, Upstream, Err string
		Status                                                     int
		ResponseBytes                                              int `json:"response_bytes"`
	}
	read := func(path string, n int) []line {
		t.Helper()
		return waitJSONLines[line](t, path, n, 10*time.Second)
	}
	lines := read(logPath, 2)
	require.Len(t, lines, 2)
	// The two lines come from two connections, on loops of their own:
	// either may be written first.
	ok, bad := lines[0], lines[1]
	if ok.Method == "" {
		ok, bad = bad, ok
	}
	require.Equal(t, "access", ok.Msg)
	require.Equal(t, "web", ok.Listener)
	require.Equal(t, "GET", ok.Method)
	require.Equal(t, "/first?q=1", ok.Target)
	require.Equal(t, listen, ok.Host)
	require.Equal(t, 200, ok.Status)
	require.Equal(t, 5, ok.ResponseBytes)
	require.Equal(t, strings.TrimPrefix(be.URL, "http://"), ok.Upstream)
	require.True(t, strings.HasPrefix(ok.Client, "127.0.0.1:"), ok.Client)
	require.Equal(t, 400, bad.Status)
	require.NotEmpty(t, bad.Err)

	// Rotation: move the log aside, SIGUSR1, and the next line goes to a
	// new file while the old one keeps what it had.
	require.NoError(t, os.Rename(logPath, logPath+".1"))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGUSR1))
	d.waitLog(t, "access logs reopened")
	get("/second")
	second := read(logPath, 1)
	require.Len(t, second, 1)
	require.Equal(t, "/second", second[0].Target)
	require.Len(t, read(logPath+".1", 2), 2)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}

// jsonLines decodes the JSON lines of the file at path into T, skipping
// lines that are not JSON.
func jsonLines[T any](path string) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v T
		if json.Unmarshal([]byte(s), &v) == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// waitJSONLines waits until the file at path holds at least n JSON lines,
// and returns them.
func waitJSONLines[T any](t *testing.T, path string, n int, within time.Duration) []T {
	t.Helper()
	var out []T
	require.Eventually(t, func() bool {
		var err error
		out, err = jsonLines[T](path)
		return err == nil && len(out) >= n
	}, within, 20*time.Millisecond, "%s never had %d lines", path, n)
	return out
}
