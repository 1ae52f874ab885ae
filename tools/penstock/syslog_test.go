package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// syslogReceiver listens as a syslog daemon would, on network, and
// passes on every message it gets (TCP: octet-counted frames).
func syslogReceiver(t *testing.T, network string) (target string, msgs <-chan string) {
	ch := make(chan string, 256)
	switch network {
	case "udp", "unix":
		var pc net.PacketConn
		var err error
		if network == "udp" {
			pc, err = net.ListenPacket("udp", "127.0.0.1:0")
			target = "udp://" + pc.LocalAddr().String()
		} else {
			path := filepath.Join(t.TempDir(), "log.sock")
			pc, err = net.ListenPacket("unixgram", path)
			target = "unix://" + path
		}
		require.NoError(t, err)
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				ch <- string(buf[:n])
			}
		}()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		target = "tcp://" + ln.Addr().String()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						l, err := br.ReadString(' ')
						if err != nil {
							return
						}
						n, err := strconv.Atoi(strings.TrimSpace(l))
						if err != nil {
							ch <- "bad frame length " + l
							return
						}
						msg := make([]byte, n)
						if _, err := io.ReadFull(br, msg); err != nil {
							return
						}
						ch <- string(msg)
					}
				}()
			}
		}()
	}
	return target, ch
}

// rfc5424 matches a message as the daemon sends it: PRI, version 1, an
// RFC 3339 UTC time, host, app penstock, PID, MSGID, no structured data.
var rfc5424 = regexp.MustCompile(`^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ penstock (\d+) (\S+) - (.*)$`)

// The daemon's log and its access log go to a syslog daemon over UDP,
// TCP (octet counting) and a unix datagram socket, as RFC 5424 messages
// with the configured facility and each record's severity.
func TestDaemonSyslog(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer be.Close()
	for _, network := range []string{"udp", "tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			target, msgs := syslogReceiver(t, network)
			listen := testutil.FreePort(t, "tcp")
			d := startDaemonConfig(t, fmt.Sprintf(`version: 1
log: {syslog: %q, facility: local3}
pipelines:
  - name: web
    listen: %q
    stages:
      - {kind: http_proxy, upstream: app, access_log: syslog}
upstreams:
  app: {endpoints: [%q]}
`, target, listen, be.Listener.Addr()))
			// local3 (19) * 8 + severity: info 6, warn 4.
			want := func(pred func(pri int, msgid, msg string) bool, what string) string {
				t.Helper()
				deadline := time.After(20 * time.Second)
				for {
					select {
					case m := <-msgs:
						p := rfc5424.FindStringSubmatch(m)
						require.NotNil(t, p, "not RFC 5424: %q", m)
						require.Equal(t, strconv.Itoa(d.cmd.Process.Pid), p[2])
						pri, _ := strconv.Atoi(p[1])
						if pred(pri, p[3], p[4]) {
							return m
						}
					case <-deadline:
						t.Fatalf("no %s message", what)
					}
				}
			}
			want(func(pri int, msgid, msg string) bool {
				return pri == 19*8+6 && msgid == "-" && strings.Contains(msg, "msg=listening") && !strings.Contains(msg, "time=")
			}, "listening")
			resp, err := http.Get("http://" + listen + "/via-syslog")
			require.NoError(t, err)
			resp.Body.Close()
			want(func(pri int, msgid, msg string) bool {
				return pri == 19*8+6 && msgid == "access" && strings.Contains(msg, `target=/via-syslog status=200`)
			}, "access")
			require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, d.wait(t))
		})
	}
}

// startDaemonConfig runs the daemon on config, without waiting for a log
// line (its log may go elsewhere than stderr).
func startDaemonConfig(t *testing.T, config string) *daemon {
	path := filepath.Join(t.TempDir(), "penstock.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	return startDaemon(t, "run", "-c", path)
}
