package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// Reloads under load: a reload adds a route and a pipeline (served at
// once), an invalid file is refused by `penstock reload` and by SIGHUP
// (nothing changes), and a reload removes the added pipeline (its port
// closes once drained); the clients running throughout, keep-alive and
// one connection per request, see no failed request.
func TestDaemonReload(t *testing.T) {
	backend := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := backend("A"), backend("B")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "penstock.yaml")
	pidFile := filepath.Join(dir, "penstock.pid")
	l1, l2, adminAddr := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp")
	config := func(routes bool, second bool) string {
		c := fmt.Sprintf(`version: 1
admin: %q
pid_file: %q
pipelines:
  - name: web
    listen: %q
    stages:
      - kind: http_proxy
        upstream: a
`, adminAddr, pidFile, l1)
		if routes {
			c += "        routes: [{path_prefix: /b/, upstream: b}]\n"
		}
		if second {
			c += fmt.Sprintf("  - name: web2\n    listen: %q\n    stages: [{kind: http_proxy, upstream: b}]\n", l2)
		}
		return c + fmt.Sprintf("upstreams:\n  a: {endpoints: [%q]}\n  b: {endpoints: [%q]}\n", a.Listener.Addr(), b.Listener.Addr())
	}
	d := runConfig(t, cfg, config(false, false))
	get := func(cl *http.Client, url string) (string, error) {
		resp, err := cl.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return string(body), err
	}

	// The load: keep-alive clients and one-connection-per-request ones,
	// until stop (and at most 60 s).
	var clients []*http.Client
	for i := range 4 {
		clients = append(clients, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 1}})
	}
	load := startHTTPLoad("http://"+l1+"/load", "A", 60*time.Second, clients...)
	cl := &http.Client{Timeout: 10 * time.Second}
	body, err := get(cl, "http://"+l1+"/b/x")
	require.NoError(t, err)
	require.Equal(t, "A", body, "no /b/ route yet")
	reloaded := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return strings.Count(d.stderr.String(), "msg=\"config reloaded\"") >= n },
			20*time.Second, 20*time.Millisecond, "reload %d not applied:\n%s", n, d.stderr.String())
	}

	// 1: a route and a pipeline, by SIGHUP.
	require.NoError(t, os.WriteFile(cfg, []byte(config(true, true)), 0o600))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	reloaded(1)
	// The keep-alive client's connection belongs to the old values: it
	// is closed between requests (a request already on its way when the
	// reload lands is still served the old way, as nginx's old workers
	// do), and the next connection gets the new route.
	require.Eventually(t, func() bool {
		body, err := get(cl, "http://"+l1+"/b/x")
		return err == nil && body == "B"
	}, 10*time.Second, 10*time.Millisecond, "a keep-alive client moves to the new route")
	body, err = get(cl, "http://"+l1+"/b/x")
	require.NoError(t, err)
	require.Equal(t, "B", body)
	body, err = get(cl, "http://"+l2+"/")
	require.NoError(t, err)
	require.Equal(t, "B", body, "the new pipeline serves at once")

	// 2: an invalid file: penstock reload refuses it without signalling;
	// a SIGHUP finds it invalid and changes nothing.
	require.NoError(t, os.WriteFile(cfg, []byte(strings.Replace(config(true, true), "upstream: a", "upstrem: a", 1)), 0o600))
	out, err := exec.Command(buildBinary(t), "reload", "-c", cfg).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "upstrem: unknown key: did you mean upstream?")
	require.Contains(t, string(out), "the daemon was not signalled")
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(d.stderr.String(), "config reload refused") }, 20*time.Second, 20*time.Millisecond)
	require.Contains(t, d.stderr.String(), "upstrem: unknown key")
	body, err = get(cl, "http://"+l1+"/b/x")
	require.NoError(t, err)
	require.Equal(t, "B", body, "the running config stays")

	// 3: remove the added pipeline, by penstock reload.
	require.NoError(t, os.WriteFile(cfg, []byte(config(true, false)), 0o600))
	out, err = exec.Command(buildBinary(t), "reload", "-c", cfg).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "sent SIGHUP to PID ")
	reloaded(2)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", l2, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 20*time.Second, 50*time.Millisecond, "the removed pipeline's port closes")

	fams, _ := scrape(t, adminAddr)
	ok, _ := value(fams, "penstock_config_reloads_total", map[string]string{"outcome": "ok"})
	invalid, _ := value(fams, "penstock_config_reloads_total", map[string]string{"outcome": "invalid"})
	require.Equal(t, 2.0, ok)
	require.Equal(t, 1.0, invalid)

	load.stop()
	require.Positive(t, load.done.Load())
	require.Zero(t, load.failed.Load(), "requests failed during the reloads (of %d): %v", load.done.Load(), load.firstErr.Load())
	t.Logf("%d requests through three reloads", load.done.Load())
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}

// A reload that removes a pipeline the daemon started with: its open
// connections run on, new ones are refused before a byte is read, and
// once the last one is done its port closes; the other pipeline serves
// throughout.
func TestDaemonReloadRemovesStartPipeline(t *testing.T) {
	echo := testutil.EchoServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "penstock.yaml")
	keep, gone := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp")
	config := func(both bool) string {
		c := fmt.Sprintf("version: 1\nloops: 2\npipelines:\n  - name: keep\n    listen: %q\n    stages: [{kind: relay, upstream: e}]\n", keep)
		if both {
			c += fmt.Sprintf("  - name: gone\n    listen: %q\n    stages: [{kind: relay, upstream: e}]\n    loops: 1\n", gone)
		}
		return c + fmt.Sprintf("upstreams:\n  e: {endpoints: [%q]}\n", echo)
	}
	d := runConfig(t, cfg, config(true))
	// Each pipeline on loops of its own: the top-level count, or its own.
	d.waitLog(t, "listener=keep addr="+keep+" loops=2")
	d.waitLog(t, "listener=gone addr="+gone+" loops=1")
	echoes := func(c net.Conn, msg string) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, msg, string(buf))
	}
	open, err := net.Dial("tcp", gone)
	require.NoError(t, err)
	defer open.Close()
	echoes(open, "before")

	require.NoError(t, os.WriteFile(cfg, []byte(config(false)), 0o600))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	d.waitLog(t, `msg="config reloaded"`)
	echoes(open, "during the drain")
	// A new connection is refused at accept: closed before any byte.
	if c, err := net.Dial("tcp", gone); err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write([]byte("x"))
		_, rerr := c.Read(make([]byte, 1))
		require.Error(t, rerr, "a removed pipeline relays nothing new")
		c.Close()
	}
	k, err := net.Dial("tcp", keep)
	require.NoError(t, err)
	echoes(k, "the other pipeline")
	k.Close()

	open.Close()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", gone, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 20*time.Second, 50*time.Millisecond, "the removed pipeline's port closes once drained")
	k, err = net.Dial("tcp", keep)
	require.NoError(t, err)
	echoes(k, "still")
	k.Close()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}
