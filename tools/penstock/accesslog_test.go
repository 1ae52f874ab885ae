package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

// Lines written from several goroutines while the log is reopened reach the
// files whole and in full, and Close writes out the rest; a Reopen after
// Close does nothing.
func TestAccessLogWritesWholeLinesAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	logs := newAccessLogs("text", &bytes.Buffer{}, &bytes.Buffer{})
	w, err := logs.writer("web", path)
	require.NoError(t, err)
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	var wg sync.WaitGroup
	var rotateErr error
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				w.reject(client, 400, fmt.Errorf("g%d i%d", g, i))
				if g == 0 && i == 250 {
					if rotateErr = os.Rename(path, path+".1"); rotateErr == nil {
						rotateErr = logs.Reopen()
					}
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, rotateErr)
	logs.Close()
	require.NoError(t, logs.Reopen())
	var lines []string
	for _, p := range []string{path + ".1", path} {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.True(t, len(b) > 0 && b[len(b)-1] == '\n', "%s ends with a whole line", p)
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	require.Len(t, lines, 2000)
	for _, l := range lines {
		require.True(t, strings.Contains(l, " level=INFO msg=access listener=web client=127.0.0.1:5555 status=400 err=\"g"), l)
	}
}

// BenchmarkAccessLine measures formatting and buffering one access line.
func BenchmarkAccessLine(b *testing.B) {
	for _, format := range []string{"text", "json"} {
		b.Run(format, func(b *testing.B) {
			logs := newAccessLogs(format, &bytes.Buffer{}, &bytes.Buffer{})
			defer logs.Close()
			w, err := logs.writer("web", filepath.Join(b.TempDir(), "a.log"))
			if err != nil {
				b.Fatal(err)
			}
			s := testSession()
			b.ReportAllocs()
			for b.Loop() {
				w.request(s, nil)
			}
		})
	}
}

func testSession() *httpproxy.Session {
	return &httpproxy.Session{
		X: &httpd.Exchange{Req: httpd.Request{
			Method: []byte("GET"), Host: []byte("example.com"), Target: []byte("/index.html?q=a b"),
			RemoteAddr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000},
		}},
		Upstream: &l4.Endpoint{Addr: "10.0.0.9:8080"},
		Status:   200, ResponseBytes: 1234, Reused: true,
		Start: time.Now(),
	}
}

// Lines match what log/slog's handlers would write for the same fields, in
// both formats: the JSON line decodes, the text line quotes what it must.
func TestAccessLineFormats(t *testing.T) {
	s := testSession()
	s.X.Req.Host = []byte("h\"o=st\x01\xff")
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		logs := newAccessLogs(format, &out, &bytes.Buffer{})
		w, err := logs.writer("web", "stdout")
		require.NoError(t, err)
		w.request(s, errors.New("upstream reset"))
		w.reject(&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9}, 431, errors.New("header too large"))
		logs.Close()
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 2, out.String())
		if format == "json" {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &m), lines[0])
			require.Equal(t, "access", m["msg"])
			require.Equal(t, "web", m["listener"])
			require.Equal(t, "10.1.2.3:40000", m["client"])
			require.Equal(t, "h\"o=st\x01\ufffd", m["host"])
			require.Equal(t, "/index.html?q=a b", m["target"])
			require.Equal(t, 200.0, m["status"])
			require.Equal(t, 1234.0, m["response_bytes"])
			require.Equal(t, true, m["reused"])
			require.Equal(t, "upstream reset", m["err"])
			require.NoError(t, json.Unmarshal([]byte(lines[1]), &m), lines[1])
			require.Equal(t, "[::1]:9", m["client"])
			require.Equal(t, 431.0, m["status"])
			continue
		}
		require.Regexp(t, `^time=\S+ level=INFO msg=access listener=web client=10.1.2.3:40000 method=GET `+
			`host="h\\"o=st\\x01\\xff" target="/index.html\?q=a b" status=200 request_bytes=0 response_bytes=1234 `+
			`duration_ms=\d+\.\d{3} upstream=10.0.0.9:8080 reused=true retries=0 err="upstream reset"$`, lines[0])
		require.Regexp(t, `^time=\S+ level=INFO msg=access listener=web client=\[::1\]:9 status=431 err="header too large"$`, lines[1])
	}
}

// Formatting a line allocates nothing.
func TestAccessLineNoAllocs(t *testing.T) {
	logs := newAccessLogs("json", &bytes.Buffer{}, &bytes.Buffer{})
	defer logs.Close()
	w, err := logs.writer("web", filepath.Join(t.TempDir(), "a.log"))
	require.NoError(t, err)
	s := testSession()
	w.request(s, nil)
	if n := testing.AllocsPerRun(100, func() { w.request(s, nil) }); n != 0 {
		t.Errorf("%v allocs per access line", n)
	}
}
