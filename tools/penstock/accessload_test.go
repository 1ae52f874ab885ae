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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// Under load on two loops (the daemon built with -race), every access-log
// line is the request it says: each target logged once with the status
// the upstream gave it, and a request whose client went away is logged
// with why and in which phase, never as status=0 with no error. Before,
// sessions were recycled while still being logged: lines carried another
// request's target with status 0, and -race reported the writes.
func TestDaemonAccessLogUnderLoad(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			time.Sleep(300 * time.Millisecond)
		}
		code := 200
		if parts := strings.Split(r.URL.Path, "/"); len(parts) > 2 && parts[1] == "s" {
			code, _ = strconv.Atoi(parts[2])
		}
		w.WriteHeader(code)
		fmt.Fprint(w, r.URL.Path)
	}))
	defer be.Close()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	listen := testutil.FreePort(t, "tcp")
	cfg := filepath.Join(dir, "penstock.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
log: {format: json}
loops: 2
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

	const workers, perWorker, aborts = 8, 150, 20
	statuses := []int{200, 201, 404, 500}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", listen)
			if !assertNoError(t, err) {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := range perWorker {
				target := fmt.Sprintf("/s/%d/w%d-%d", statuses[i%len(statuses)], w, i)
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target)
				resp, err := http.ReadResponse(br, nil)
				if !assertNoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	// Clients that leave while the upstream is still thinking.
	for i := range aborts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", listen)
			if !assertNoError(t, err) {
				return
			}
			// Half of them reset the connection; the others close it
			// with a FIN, which the server cannot tell from a client
			// that half-closed and waits for its response (it is
			// written, and logged as such).
			kind := "fin"
			if i%2 == 0 {
				kind = "rst"
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			fmt.Fprintf(c, "GET /slow/abort-%s-%d HTTP/1.1\r\nHost: x\r\n\r\n", kind, i)
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}()
	}
	wg.Wait()

	type line struct {
		Target, Err string
		Status      int
	}
	want := workers*perWorker + aborts
	lines := waitJSONLines[line](t, logPath, want, 20*time.Second)
	time.Sleep(500 * time.Millisecond) // a line too many would be written by now
	seen := map[string]int{}
	for _, l := range lines {
		seen[l.Target]++
		if l.Status == 0 {
			require.NotEmpty(t, l.Err, "a line with no status says why: %+v", l)
		}
		if parts := strings.Split(l.Target, "/"); len(parts) > 2 && parts[1] == "s" {
			require.Equal(t, parts[2], strconv.Itoa(l.Status), "the line's status is its request's: %+v", l)
			require.Empty(t, l.Err, "%+v", l)
		}
		if strings.HasPrefix(l.Target, "/slow/abort-rst-") {
			// The phase is where the proxy was: waiting for the response
			// head, or still connecting upstream on a busy host.
			require.Regexp(t, `client closed the connection while (waiting for the response head|connecting upstream|sending the request upstream)`, l.Err, "%+v", l)
			require.Zero(t, l.Status, "%+v", l)
		}
	}
	lines, _ = jsonLines[line](logPath)
	require.Len(t, lines, want, "one line per request")
	for target, n := range seen {
		require.Equal(t, 1, n, "target %s logged %d times", target, n)
	}
	require.NotContains(t, d.stderr.String(), "DATA RACE")
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
