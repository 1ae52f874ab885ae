package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// scrape fetches the admin listener's /metrics and parses it.
func scrape(t *testing.T, admin string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, string(body))
	return fams, body
}

// value returns the value of the sample of family name whose labels
// include want (a counter, a gauge, or a histogram's count); ok is false
// when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// The admin listener: /healthz, /readyz, and /metrics whose counters agree
// with what the client did, by route and group, with the pooled upstream
// connections, endpoint health and the listener's counts; promtool
// accepts the exposition. The pid file holds the daemon's PID while it
// runs and is gone after it stops.
func TestDaemonAdminMetrics(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(404)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "hello from "+r.URL.Path)
	}))
	defer be.Close()
	dir := t.TempDir()
	listen, adminAddr := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "tcp")
	dead := testutil.DeadPort(t)
	pidFile := filepath.Join(dir, "penstock.pid")
	d := runConfig(t, filepath.Join(dir, "penstock.yaml"), fmt.Sprintf(`version: 1
admin: %q
pid_file: %q
pipelines:
  - name: web
    listen: %q
    stages:
      - kind: http_proxy
        upstream: app
        routes:
          - {path_prefix: /api/, upstream: api}
          - {path_prefix: /dead/, upstream: dead}
upstreams:
  app: {endpoints: [%q]}
  api: {endpoints: [%q]}
  dead: {endpoints: [%q]}
`, adminAddr, pidFile, listen, be.Listener.Addr(), be.Listener.Addr(), dead))

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get("http://" + adminAddr + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}
	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(d.cmd.Process.Pid)+"\n", string(pid))

	cl := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path string, n, status int) {
		for range n {
			req, _ := http.NewRequest(method, "http://"+listen+path, strings.NewReader("0123456789"))
			resp, err := cl.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, status, resp.StatusCode, path)
		}
	}
	do("POST", "/ok", 37, 200)
	do("GET", "/missing", 4, 404)
	do("POST", "/api/x", 5, 200)
	do("GET", "/dead/x", 3, 502)

	fams, body := scrape(t, adminAddr)
	web := func(route, group string, more ...string) map[string]string {
		m := map[string]string{"pipeline": "web", "route": route, "group": group}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"penstock_http_requests_total", web("default", "app"), 41},
		{"penstock_http_responses_total", web("default", "app", "class", "2xx"), 37},
		{"penstock_http_responses_total", web("default", "app", "class", "4xx"), 4},
		{"penstock_http_request_body_bytes_total", web("default", "app"), 41 * 10},
		{"penstock_http_request_duration_seconds", web("default", "app"), 41},
		{"penstock_http_upstream_latency_seconds", web("default", "app"), 41},
		{"penstock_http_requests_total", web("/api/", "api"), 5},
		{"penstock_http_responses_total", web("/dead/", "dead", "class", "5xx"), 3},
		{"penstock_http_upstream_connect_failures_total", web("/dead/", "dead"), 3},
		{"penstock_upstream_endpoint_healthy", map[string]string{"group": "dead"}, 0},
		{"penstock_upstream_endpoint_healthy", map[string]string{"group": "app"}, 1},
		{"penstock_upstream_endpoint_connect_failures_total", map[string]string{"group": "dead"}, 3},
		{"penstock_http_upstream_connections", map[string]string{"pipeline": "web", "group": "app", "state": "idle"}, 1},
		{"penstock_listener_connections_accepted_total", map[string]string{"listener": "web"}, 1},
		{"penstock_listener_connections_open", map[string]string{"listener": "web"}, 1},
	} {
		got, ok := value(fams, c.name, c.labels)
		require.True(t, ok, "no %s%v in:\n%s", c.name, c.labels, body)
		require.Equal(t, c.want, got, "%s%v", c.name, c.labels)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "penstock_build_info", "penstock_http2_events_total", "penstock_panics_total"} {
		require.Contains(t, fams, name)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics:\n%s", out)
	} else {
		t.Log("promtool not installed (apt-get install prometheus; .ci/run does): exposition not checked by it")
	}

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
	_, err = os.Stat(pidFile)
	require.True(t, os.IsNotExist(err), "the pid file is removed at exit")
}

// Under systemd (Type=notify), the daemon says READY=1 once its
// listeners are bound and STOPPING=1 as it starts to drain.
func TestDaemonSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer ln.Close()
	listen := testutil.FreePort(t, "tcp")
	d := &daemon{cmd: exec.Command(buildBinary(t), "tcp", "--listen", listen, "--to", "127.0.0.1:1"),
		stderr: &syncBuffer{}, stdout: &syncBuffer{}, exit: make(chan error, 1)}
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	d.cmd.Stderr, d.cmd.Stdout = d.stderr, d.stdout
	require.NoError(t, d.cmd.Start())
	go func() { d.exit <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exit
	})
	read := func() string {
		buf := make([]byte, 1024)
		_ = ln.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := ln.Read(buf)
		require.NoError(t, err, d.stderr.String())
		return string(buf[:n])
	}
	ready := read()
	require.Contains(t, ready, "READY=1\n")
	require.Contains(t, ready, "MAINPID="+strconv.Itoa(d.cmd.Process.Pid))
	// Bound before READY: the port takes a connection at once. (The log
	// line is checked with waitLog, not at once: exec copies the
	// child's stderr through a goroutine that may not have caught up.)
	c, err := net.Dial("tcp", listen)
	require.NoError(t, err, "ready only once the listeners are bound")
	_ = c.Close()
	d.waitLog(t, "msg=listening")
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, "STOPPING=1", read())
	require.Equal(t, 0, d.wait(t))
}

// The systemd unit in docs/ is one systemd accepts (systemd-analyze
// verify, with this build standing in for the installed binary).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("../../docs/systemd/penstock.service")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "penstock.service")
	require.NoError(t, os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/penstock"), []byte(buildBinary(t))), 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)))
}
