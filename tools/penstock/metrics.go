package main

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// The daemon's metrics. Counting happens where the work is, off the
// registry: the transport's listeners and the TLS terminators keep atomic
// counters of their own, and each http_proxy stage counts its requests in
// one shard per event loop (single writer, atomic words, no lock, no
// allocation). A scrape gathers them through one collector, which also
// asks each loop for its pooled upstream connections.

// latencyBuckets are the latency histograms' upper bounds, in seconds.
var latencyBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// latencyBounds are latencyBuckets as durations, for counting.
var latencyBounds = func() (b [len(latencyBuckets)]time.Duration) {
	for i, s := range latencyBuckets {
		b[i] = time.Duration(s * float64(time.Second))
	}
	return b
}()

// histogram counts durations into latencyBuckets. One loop writes it;
// a scrape reads it.
type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64 // the last one: above every bound
	sum    atomic.Int64                           // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := sort.Search(len(latencyBounds), func(i int) bool { return d <= latencyBounds[i] })
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// httpRow counts the requests of one route of an http_proxy stage.
type httpRow struct {
	// classes counts responses by status class: [0] none (the client
	// went away, or the connection was cut mid-response), [1] to [5]
	// 1xx to 5xx.
	classes                  [6]atomic.Uint64
	reqBytes, respBytes      atomic.Uint64
	retries, connectFailures atomic.Uint64
	deadlines                atomic.Uint64
	duration, upstream       histogram
}

// httpShard is one event loop's rows. Only that loop writes them; the
// slice grows (on the loop) when a reload adds routes.
type httpShard struct {
	rows atomic.Pointer[[]*httpRow]
}

func (sh *httpShard) row(i int) *httpRow {
	rows := *sh.rows.Load()
	if i < len(rows) {
		return rows[i]
	}
	grown := make([]*httpRow, i+1)
	copy(grown, rows)
	for j := len(rows); j <= i; j++ {
		grown[j] = new(httpRow)
	}
	sh.rows.Store(&grown)
	return grown[i]
}

// httpRoute names a row: a route of the stage, or its default group.
type httpRoute struct {
	route, group string
}

// httpMetrics counts the requests of one http_proxy stage (one
// pipeline), by route, over its snapshots.
type httpMetrics struct {
	pipeline string

	mu     sync.Mutex
	routes []httpRoute // by row index
	shards sync.Map    // transport.Loop -> *httpShard
	// cur is the current snapshot's proxy and server, for pool and
	// HTTP/2 counters.
	proxy  atomic.Pointer[httpproxy.Proxy]
	server atomic.Pointer[http2Source]
	groups atomic.Pointer[map[string]*l4.Group]
}

// http2Source is what the HTTP/2 counters are read from.
type http2Source struct {
	stats func() map[string]uint64
}

// rowIndex returns the row of a route (route "" is the default group),
// adding it the first time.
func (m *httpMetrics) rowIndex(route, group string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range m.routes {
		if r.route == route && r.group == group {
			return i
		}
	}
	m.routes = append(m.routes, httpRoute{route, group})
	return len(m.routes) - 1
}

// observer returns the Logging hook that counts the sessions of proxy,
// whose routes map to rows here. It runs on the event loop and allocates
// nothing.
func (m *httpMetrics) observer(proxy *httpproxy.Proxy) func(*httpproxy.Session, error) {
	rows := make(map[*httpproxy.Route]int, len(proxy.Routes))
	for i := range proxy.Routes {
		r := &proxy.Routes[i]
		rows[r] = m.rowIndex(r.Host+r.PathPrefix, r.Upstreams.Name)
	}
	def := -1
	if proxy.Upstreams != nil {
		def = m.rowIndex("", proxy.Upstreams.Name)
	}
	noRoute := m.rowIndex("no_route", "none") // 404s: no route, no default group
	return func(s *httpproxy.Session, err error) {
		i := noRoute
		if s.Route != nil {
			i = rows[s.Route]
		} else if s.Group != nil && def >= 0 {
			i = def
		}
		m.shard(s.X.Loop()).row(i).count(s, err)
	}
}

func (m *httpMetrics) shard(loop transport.Loop) *httpShard {
	if v, ok := m.shards.Load(loop); ok {
		return v.(*httpShard)
	}
	sh := &httpShard{}
	sh.rows.Store(&[]*httpRow{})
	v, _ := m.shards.LoadOrStore(loop, sh)
	return v.(*httpShard)
}

func (r *httpRow) count(s *httpproxy.Session, err error) {
	class := s.Status / 100
	if class > 5 {
		class = 0
	}
	r.classes[class].Add(1)
	r.reqBytes.Add(uint64(s.RequestBytes))
	r.respBytes.Add(uint64(s.ResponseBytes))
	r.retries.Add(uint64(s.Retries))
	fails := uint64(s.ConnectRetries)
	if e, ok := err.(*httpproxy.Error); ok {
		switch {
		case e.Kind == httpproxy.KindConnect:
			fails++
		case errors.Is(e, httpproxy.ErrDeadline):
			r.deadlines.Add(1)
		}
	}
	r.connectFailures.Add(fails)
	r.duration.observe(time.Since(s.Start))
	if s.UpstreamLatency > 0 {
		r.upstream.observe(s.UpstreamLatency)
	}
}

// registry is the daemon's metrics registry and its collector.
type registry struct {
	reg *prometheus.Registry

	mu   sync.Mutex
	http []*httpMetrics
	// live gives the transports and pipelines, read at each scrape.
	live atomic.Pointer[live]
}

func newRegistry() *registry {
	r := &registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), r)
	return r
}

// httpStage returns the counters of the http_proxy stage of pipeline.
func (r *registry) httpStage(pipeline string) *httpMetrics {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.http {
		if m.pipeline == pipeline {
			return m
		}
	}
	m := &httpMetrics{pipeline: pipeline}
	r.http = append(r.http, m)
	return m
}

var (
	descBuild       = prometheus.NewDesc("penstock_build_info", "The running penstock's version, commit and Go version.", []string{"version", "commit", "goversion"}, nil)
	descAccepted    = prometheus.NewDesc("penstock_listener_connections_accepted_total", "Connections (UDP sessions) a listener admitted.", []string{"listener"}, nil)
	descRefused     = prometheus.NewDesc("penstock_listener_connections_refused_total", "Connections a listener refused, by reason.", []string{"listener", "reason"}, nil)
	descOpen        = prometheus.NewDesc("penstock_listener_connections_open", "Connections (UDP sessions) open on a listener.", []string{"listener"}, nil)
	descTLS         = prometheus.NewDesc("penstock_tls_handshakes_total", "TLS handshakes of a pipeline's tls stage, by outcome.", []string{"pipeline", "outcome"}, nil)
	descRequests    = prometheus.NewDesc("penstock_http_requests_total", "Requests an http_proxy stage handled, by route and upstream group.", []string{"pipeline", "route", "group"}, nil)
	descResponses   = prometheus.NewDesc("penstock_http_responses_total", "Responses by status class (none: the client went away or the response was cut short).", []string{"pipeline", "route", "group", "class"}, nil)
	descReqBytes    = prometheus.NewDesc("penstock_http_request_body_bytes_total", "Request body bytes sent upstream.", []string{"pipeline", "route", "group"}, nil)
	descRespBytes   = prometheus.NewDesc("penstock_http_response_body_bytes_total", "Response body bytes sent to clients.", []string{"pipeline", "route", "group"}, nil)
	descRetries     = prometheus.NewDesc("penstock_http_retries_total", "Times a request was sent again (after a failed connect or a failed send).", []string{"pipeline", "route", "group"}, nil)
	descConnFail    = prometheus.NewDesc("penstock_http_upstream_connect_failures_total", "Failed upstream connects.", []string{"pipeline", "route", "group"}, nil)
	descDeadlines   = prometheus.NewDesc("penstock_http_deadlines_exceeded_total", "Requests ended by their deadline (a gRPC request's grpc-timeout).", []string{"pipeline", "route", "group"}, nil)
	descDuration    = prometheus.NewDesc("penstock_http_request_duration_seconds", "Time from a request's head arriving to its end.", []string{"pipeline", "route", "group"}, nil)
	descUpstream    = prometheus.NewDesc("penstock_http_upstream_latency_seconds", "Time from a request's head going upstream to the response head coming back.", []string{"pipeline", "route", "group"}, nil)
	descPoolOpen    = prometheus.NewDesc("penstock_http_upstream_connections", "HTTP/1.1 upstream connections of an endpoint, by state (idle: in the keep-alive pool).", []string{"pipeline", "group", "endpoint", "state"}, nil)
	descPoolH2      = prometheus.NewDesc("penstock_http_upstream_h2_connections", "Multiplexed HTTP/2 upstream connections of an endpoint.", []string{"pipeline", "group", "endpoint"}, nil)
	descPoolStreams = prometheus.NewDesc("penstock_http_upstream_h2_streams", "Streams in flight on an endpoint's current HTTP/2 connection.", []string{"pipeline", "group", "endpoint"}, nil)
	descHTTP2       = prometheus.NewDesc("penstock_http2_events_total", "HTTP/2 server events an http_proxy stage counted (flood defences, resets), by kind.", []string{"pipeline", "event"}, nil)
	descReloads     = prometheus.NewDesc("penstock_config_reloads_total", "Config reloads (SIGHUP, penstock reload), by outcome: ok, invalid (refused by its check), failed (could not be applied; nothing changed).", []string{"outcome"}, nil)
	descUpgrades    = prometheus.NewDesc("penstock_upgrades_total", "Binary upgrades (SIGUSR2) that led to this process, counted over its generations.", nil, nil)
	descPanics      = prometheus.NewDesc("penstock_panics_total", "Panics in handlers, hooks, stages and loop tasks, each of which closed its connection or stream instead of the process.", nil, nil)
	descHealthy     = prometheus.NewDesc("penstock_upstream_endpoint_healthy", "1 when an endpoint has had no connect failure within its group's fail_timeout (each pipeline keeps its own view).", []string{"pipeline", "group", "endpoint"}, nil)
	descEPFail      = prometheus.NewDesc("penstock_upstream_endpoint_connect_failures_total", "Failed connects to an endpoint, as a pipeline saw them.", []string{"pipeline", "group", "endpoint"}, nil)
)

// Describe sends nothing: the collector is unchecked, its labels coming
// from the config.
func (r *registry) Describe(chan<- *prometheus.Desc) {}

// Collect gathers every counter. It runs on the scrape's goroutine.
func (r *registry) Collect(ch chan<- prometheus.Metric) {
	v, commit := buildVersion()
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, v, commit, runtime.Version())
	ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(transport.Panics()))
	l := r.live.Load()
	if l == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descUpgrades, prometheus.CounterValue, float64(l.upgrades.Load()))
	for i := range l.reloads {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(l.reloads[i].Load()), reloadOutcomes[i])
	}
	for _, tr := range l.transports() {
		for name, st := range tr.ListenerStats() {
			ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(st.Admitted), name)
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(st.Open), name)
			for reason, n := range st.Rejected {
				ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), name, reason)
			}
		}
	}
	for _, p := range l.pipelines() {
		if p.tls != nil {
			for outcome, n := range p.tls.Stats().Outcomes {
				ch <- prometheus.MustNewConstMetric(descTLS, prometheus.CounterValue, float64(n), p.shape.Name, outcome)
			}
		}
		for _, g := range p.groups() {
			for _, ep := range g.Endpoints {
				healthy := 0.0
				if ep.Healthy() {
					healthy = 1
				}
				ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, healthy, p.shape.Name, g.Name, ep.Addr)
				ch <- prometheus.MustNewConstMetric(descEPFail, prometheus.CounterValue, float64(ep.Failures()), p.shape.Name, g.Name, ep.Addr)
			}
		}
	}
	r.mu.Lock()
	stages := slices.Clone(r.http)
	r.mu.Unlock()
	for _, m := range stages {
		m.collect(ch)
	}
}

func (m *httpMetrics) collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	routes := append([]httpRoute(nil), m.routes...)
	m.mu.Unlock()
	type sum struct {
		classes                                            [6]uint64
		reqBytes, respBytes, retries, connFails, deadlines uint64
		dur, up                                            [len(latencyBuckets) + 1]uint64
		durSum, upSum                                      int64
	}
	sums := make([]sum, len(routes))
	m.shards.Range(func(_, v any) bool {
		for i, row := range *v.(*httpShard).rows.Load() {
			if i >= len(sums) {
				break
			}
			s := &sums[i]
			for c := range s.classes {
				s.classes[c] += row.classes[c].Load()
			}
			s.reqBytes += row.reqBytes.Load()
			s.respBytes += row.respBytes.Load()
			s.retries += row.retries.Load()
			s.connFails += row.connectFailures.Load()
			s.deadlines += row.deadlines.Load()
			for b := range s.dur {
				s.dur[b] += row.duration.counts[b].Load()
				s.up[b] += row.upstream.counts[b].Load()
			}
			s.durSum += row.duration.sum.Load()
			s.upSum += row.upstream.sum.Load()
		}
		return true
	})
	classNames := [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}
	for i, rt := range routes {
		s := &sums[i]
		route := rt.route
		if route == "" {
			route = "default"
		}
		labels := []string{m.pipeline, route, rt.group}
		total := uint64(0)
		for c, n := range s.classes {
			total += n
			ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(n), m.pipeline, route, rt.group, classNames[c])
		}
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(total), labels...)
		ch <- prometheus.MustNewConstMetric(descReqBytes, prometheus.CounterValue, float64(s.reqBytes), labels...)
		ch <- prometheus.MustNewConstMetric(descRespBytes, prometheus.CounterValue, float64(s.respBytes), labels...)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.retries), labels...)
		ch <- prometheus.MustNewConstMetric(descConnFail, prometheus.CounterValue, float64(s.connFails), labels...)
		ch <- prometheus.MustNewConstMetric(descDeadlines, prometheus.CounterValue, float64(s.deadlines), labels...)
		ch <- constHistogram(descDuration, &s.dur, s.durSum, labels)
		ch <- constHistogram(descUpstream, &s.up, s.upSum, labels)
	}
	if p := m.proxy.Load(); p != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		stats := p.PoolStats(ctx)
		cancel()
		names := map[*l4.Endpoint]string{}
		if gs := m.groups.Load(); gs != nil {
			for _, g := range *gs {
				for _, ep := range g.Endpoints {
					names[ep] = g.Name
				}
			}
		}
		for _, st := range stats {
			g := names[st.Endpoint]
			ch <- prometheus.MustNewConstMetric(descPoolOpen, prometheus.GaugeValue, float64(st.Open-st.Idle), m.pipeline, g, st.Endpoint.Addr, "busy")
			ch <- prometheus.MustNewConstMetric(descPoolOpen, prometheus.GaugeValue, float64(st.Idle), m.pipeline, g, st.Endpoint.Addr, "idle")
			ch <- prometheus.MustNewConstMetric(descPoolH2, prometheus.GaugeValue, float64(st.H2Conns), m.pipeline, g, st.Endpoint.Addr)
			ch <- prometheus.MustNewConstMetric(descPoolStreams, prometheus.GaugeValue, float64(st.H2Streams), m.pipeline, g, st.Endpoint.Addr)
		}
	}
	if src := m.server.Load(); src != nil {
		for event, n := range src.stats() {
			ch <- prometheus.MustNewConstMetric(descHTTP2, prometheus.CounterValue, float64(n), m.pipeline, event)
		}
	}
}

// constHistogram makes a Prometheus histogram of counts per bucket.
func constHistogram(d *prometheus.Desc, counts *[len(latencyBuckets) + 1]uint64, sumNanos int64, labels []string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latencyBuckets))
	cum := uint64(0)
	for i, ub := range latencyBuckets {
		cum += counts[i]
		buckets[ub] = cum
	}
	cum += counts[len(latencyBuckets)]
	return prometheus.MustNewConstHistogram(d, cum, float64(sumNanos)/1e9, buckets, labels...)
}

// buildVersion returns the version and commit that version() prints.
func buildVersion() (string, string) {
	v, commit, _, _ := versionParts()
	return v, commit
}
