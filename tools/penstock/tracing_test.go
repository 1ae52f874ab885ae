package main

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// otlpReceiver is an OTLP/HTTP traces endpoint that keeps every span.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", 400)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (o *otlpReceiver) byPath(path string) (server *tracepb.Span, clients []*tracepb.Span) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && attr(s, "url.path") == path {
			server = s
		}
	}
	if server == nil {
		return nil, nil
	}
	for _, s := range o.spans {
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && string(s.ParentSpanId) == string(server.SpanId) {
			clients = append(clients, s)
		}
	}
	return server, clients
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return fmt.Sprint(kv.Value.GetIntValue())
		}
	}
	return ""
}

// Tracing: each proxied request is a server span, continuing the
// client's trace when it sent a traceparent; each upstream attempt is a
// client span under it, whose traceparent the upstream receives; spans
// reach an OTLP receiver.
func TestDaemonTracing(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Traceparent")
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer be.Close()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	listen, dead := testutil.FreePort(t, "tcp"), testutil.DeadPort(t)
	d := runConfig(t, filepath.Join(t.TempDir(), "penstock.yaml"), fmt.Sprintf(`version: 1
tracing: {otlp: %q, sample: 1}
pipelines:
  - name: web
    listen: %q
    stages:
      - kind: http_proxy
        upstream: app
        routes: [{path_prefix: /retry/, upstream: flaky}]
upstreams:
  app: {endpoints: [%q]}
  flaky: {endpoints: [%q, %q]}
`, collector.URL, listen, be.Listener.Addr(), dead, be.Listener.Addr()))

	get := func(path, traceparent string) {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	get("/a", "")
	get("/b", "00-"+parentTrace+"-"+parentSpan+"-01")
	get("/retry/x", "")

	var server *tracepb.Span
	var clients []*tracepb.Span
	require.Eventually(t, func() bool {
		_, c := recv.byPath("/retry/x")
		return len(c) == 2
	}, 20*time.Second, 50*time.Millisecond, "spans never reached the receiver")

	server, clients = recv.byPath("/a")
	require.NotNil(t, server)
	require.Len(t, clients, 1)
	require.Equal(t, "200", attr(server, "http.response.status_code"))
	require.Equal(t, be.Listener.Addr().String(), attr(clients[0], "server.address"))
	mu.Lock()
	tp := seen["/a"]
	mu.Unlock()
	require.Equal(t, "00-"+hex.EncodeToString(server.TraceId)+"-"+hex.EncodeToString(clients[0].SpanId)+"-01", tp,
		"the upstream gets the attempt's traceparent")

	server, clients = recv.byPath("/b")
	require.NotNil(t, server)
	require.Equal(t, parentTrace, hex.EncodeToString(server.TraceId), "the client's trace goes on")
	require.Equal(t, parentSpan, hex.EncodeToString(server.ParentSpanId))
	require.Len(t, clients, 1)
	mu.Lock()
	require.True(t, strings.HasPrefix(seen["/b"], "00-"+parentTrace+"-"), seen["/b"])
	mu.Unlock()

	_, clients = recv.byPath("/retry/x")
	require.Len(t, clients, 2, "one client span per attempt")
	attempts := map[string]bool{attr(clients[0], "server.address"): true, attr(clients[1], "server.address"): true}
	require.True(t, attempts[dead] && attempts[be.Listener.Addr().String()], "%v", attempts)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(t))
}
