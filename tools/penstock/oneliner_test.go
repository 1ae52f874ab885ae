package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/spec"
	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// A flag of another mode is an error, not silently ignored, and each
// mode's help lists its own flags and an example.
func TestOneLinerFlagsAreTheModes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--hash-tag", "{}"}, "flag provided but not defined: -hash-tag"},
		{[]string{"udp", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--idle", "5s"}, "flag provided but not defined: -idle"},
		{[]string{"tcp", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--access-log", "stdout"}, "flag provided but not defined: -access-log"},
		{[]string{"http", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--idle", "20"}, `invalid value "20" for flag -idle: a duration needs a unit: did you mean 20s?`},
		// A bad value is reported against its flag, not the config behind it.
		{[]string{"tcp", "--listen", "127.0.0.1:1", "--to", "nohost"}, `penstock: tcp: --to: "nohost" is not host:port or unix:/path`},
		{[]string{"udp", "--listen", "127.0.0.1:154320", "--to", "127.0.0.1:2"}, `penstock: udp: --listen: "udp://127.0.0.1:154320": the port must be a number from 0 to 65535`},
		{[]string{"http", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--access-log", "/nonexistent-penstock-dir/a.log"}, `penstock: http: --access-log: the directory of`},
		{[]string{"tcp", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--admin", "9901"}, `penstock: tcp: --admin: "9901" is not host:port`},
		{[]string{"http", "--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--sndbuf", "-4"}, `penstock: http: --sndbuf: must be between 0`},
	} {
		var out bytes.Buffer
		require.Equal(t, 2, run(tc.args, &out, &out), "%v", tc.args)
		require.Contains(t, out.String(), tc.want, "%v", tc.args)
	}
	help := map[string]string{}
	for m := range modes {
		var out bytes.Buffer
		require.Equal(t, 0, run([]string{m, "--help"}, &out, &out))
		help[m] = out.String()
		require.Contains(t, help[m], "Usage of penstock "+m)
		require.Contains(t, help[m], "Example:\n  penstock "+m+" --listen ")
	}
	require.Contains(t, help["redis"], "-hash-tag")
	require.NotContains(t, help["tcp"], "hash-tag")
	require.NotContains(t, help["tcp"], "access-log")
	require.Contains(t, help["http"], "-read-timeout")
	require.NotRegexp(t, `(?m)^  -idle `, help["udp"])
	require.Contains(t, help["udp"], "-session-idle")
	for m := range modes {
		require.Contains(t, help[m], "-admin")
		require.Contains(t, help[m], "-pid-file")
	}
	plan, err := oneLiner(modes["udp"], []string{"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--admin", "127.0.0.1:9901", "--pid-file", "/run/p.pid"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9901", plan.Daemon.Admin)
	require.Equal(t, "/run/p.pid", plan.Daemon.PidFile)
	plan, err = oneLiner(modes["tcp"], []string{"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2", "--sndbuf", "4194304", "--rcvbuf", "65536"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, spec.Socket{SendBuffer: 4194304, RecvBuffer: 65536}, plan.Pipelines[0].Values.Socket)
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		require.Equal(t, 0, run([]string{arg}, &out, &out))
		require.Regexp(t, `^penstock \S+ \(commit \S+?(, modified)?\) go\S+ `+runtime.GOOS+"/"+runtime.GOARCH+"\n$", out.String())
	}
	// The built binary knows its commit when built in a checkout.
	out, err := exec.Command(buildBinary(t), "version").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), runtime.Version())
}

// JSON logs write addresses as host:port and durations as a person reads
// them, and name the upstream group a relay really uses.
func TestDaemonJSONLogs(t *testing.T) {
	listen := testutil.FreePort(t, "tcp")
	dead := testutil.DeadPort(t)
	d := startDaemon(t, "tcp", "--listen", listen, "--to", dead, "--log-format", "json")
	d.waitLog(t, `"msg":"listening"`)
	_ = roundTrip(t, listen, "x")
	d.waitLog(t, `"group":"up"`)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
	var sawAddr, sawTimeout, sawGroup bool
	for _, line := range strings.Split(strings.TrimSpace(d.stderr.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		for k, v := range m {
			_, isObject := v.(map[string]any)
			require.False(t, isObject, "%s is an object: %s", k, line)
		}
		if m["msg"] == "listening" {
			require.Equal(t, listen, m["addr"], line)
			sawAddr = true
		}
		if m["msg"] == "SIGTERM: draining" {
			require.Equal(t, "30s", m["timeout"], line)
			sawTimeout = true
		}
		if g, ok := m["group"]; ok {
			require.Equal(t, "up", g, "the one-liner's group: %s", line)
			sawGroup = true
		}
	}
	require.True(t, sawAddr && sawTimeout && sawGroup, d.stderr.String())
}

// A pipeline's values are swapped whole at run time: new connections go
// to the new upstream group's endpoints, with no rebinding.
func TestPipelineSwapsValues(t *testing.T) {
	a := testutil.TCPServer(t, func(c *net.TCPConn) { _, _ = c.Write([]byte("a")) })
	b := testutil.TCPServer(t, func(c *net.TCPConn) { _, _ = c.Write([]byte("b")) })
	file := func(endpoint string) *spec.Plan {
		plan, err := ParseConfig("swap.yaml", []byte("version: 1\npipelines:\n  - name: r\n    listen: tcp://127.0.0.1:0\n    stages: [{kind: relay, upstream: up}]\n"+
			"upstreams: {up: {endpoints: [\""+endpoint+"\"]}}\n"))
		require.NoError(t, err)
		return plan
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	built, err := build(file(a), log, nil, nil, nil)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: log}, slices.Concat(built.byPipeline...)...)
	require.NoError(t, err)
	defer tr.Stop()
	addr := tr.Addrs()[0].String()
	read := func() string {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		require.NoError(t, err)
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		return string(got)
	}
	require.Equal(t, "a", read())
	p := built.pipelines[0]
	next := file(b)
	require.NoError(t, p.Swap(next, next.Pipelines[0].Values))
	require.Equal(t, "b", read())
	require.Equal(t, next.Pipelines[0].Values.Groups, p.Values().Groups)

	// Filter rules are values too: a swap that denies loopback refuses the
	// next connection before a byte is read, on the same listener.
	denied, err := ParseConfig("swap.yaml", []byte("version: 1\npipelines:\n  - name: r\n    listen: tcp://127.0.0.1:0\n"+
		"    filters: {deny: [127.0.0.0/8]}\n    stages: [{kind: relay, upstream: up}]\nupstreams: {up: {endpoints: [\""+b+"\"]}}\n"))
	require.NoError(t, err)
	require.NoError(t, p.Swap(denied, denied.Pipelines[0].Values))
	require.Equal(t, "", read(), "the denied client is closed, nothing relayed")
	require.NoError(t, p.Swap(next, next.Pipelines[0].Values))
	require.Equal(t, "b", read())
}
