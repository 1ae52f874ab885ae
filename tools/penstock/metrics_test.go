package main

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/transport"
)

// With the admin listener's metrics on, a keep-alive request proxied over
// a pooled upstream connection still allocates nothing (the whole process
// counted: the counting is per-loop atomic words), and the counters have
// every request.
func TestMetricsKeepAliveNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race; CI runs it in the non-race pass")
	}
	up := testutil.CannedHTTP(t)
	plan, err := ParseConfig("test", []byte(fmt.Sprintf(`version: 1
loops: 1
admin: 127.0.0.1:0
pipelines:
  - name: web
    listen: tcp://127.0.0.1:0
    stages:
      - kind: http_proxy
        upstream: app
upstreams:
  app: {endpoints: [%q]}
`, up)))
	require.NoError(t, err)
	reg := newRegistry()
	d, err := build(plan, quietLog(), nil, reg, nil)
	require.NoError(t, err)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLog()}, slices.Concat(d.byPipeline...)...)
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	lv := &live{plan: plan, pipes: map[string]*livePipe{}}
	lv.trs = []*liveTransport{{tr: tr}}
	lv.pipes["web"] = &livePipe{p: d.pipelines[0], on: lv.trs[0]}
	reg.live.Store(lv)
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	req := []byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n")
	buf := make([]byte, 4096)
	var rtErr error
	round := func() {
		if _, err := c.Write(req); err != nil {
			rtErr = err
			return
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				rtErr = err
				return
			}
			n += m
			if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 && n >= i+4+12 {
				return
			}
		}
	}
	for range 200 {
		round()
	}
	allocs := testing.AllocsPerRun(2000, round)
	require.NoError(t, rtErr)
	require.Zero(t, allocs, "allocations per proxied request with metrics on")

	fams, err := reg.reg.Gather()
	require.NoError(t, err)
	var got float64
	for _, f := range fams {
		if f.GetName() == "penstock_http_requests_total" {
			for _, m := range f.Metric {
				got += m.Counter.GetValue()
			}
		}
	}
	// The last response's line is counted once its exchange ends, which
	// may come just after the client has read it.
	require.InDelta(t, 2201, got, 1, "every request counted")
}
