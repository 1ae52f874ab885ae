package main

import (
	"context"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/penstock-proxy/penstock/internal/spec"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

// tracing is the daemon's OpenTelemetry tracing of the http_proxy
// stages (tracing: in the config; off without it): a server span per
// proxied request, a child client span per upstream attempt, and the
// attempt's W3C traceparent sent upstream in place of the client's.
// Requests that come with a sampled traceparent are traced; others
// with the configured probability; spans go out in batches over
// OTLP/HTTP. It works through the proxy's hooks, so it costs nothing
// when it is off.
type tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TraceContext
}

func newTracing(d spec.Daemon) (*tracing, error) {
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(tracesURL(d.TracingOTLP)))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(d.TracingSample))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", d.TracingService))))
	return &tracing{tp: tp, tracer: tp.Tracer("github.com/penstock-proxy/penstock")}, nil
}

// tracesURL completes an endpoint given as scheme://host:port (with or
// without a slash) with the OTLP traces path.
func tracesURL(u string) string {
	if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
		return strings.TrimSuffix(u, "/") + "/v1/traces"
	}
	return u
}

// Shutdown sends what is buffered and stops.
func (t *tracing) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// reqTrace is a session's spans, in Session.User.
type reqTrace struct {
	ctx     context.Context
	server  trace.Span
	attempt trace.Span
	tp      []byte // the traceparent value sent upstream
}

// reqCarrier reads a request's fields for the propagator.
type reqCarrier struct{ r *httpd.Request }

func (c reqCarrier) Get(key string) string {
	v, _ := c.r.Header(key)
	return string(v)
}
func (c reqCarrier) Set(string, string) {}
func (c reqCarrier) Keys() []string     { return []string{"traceparent", "tracestate"} }

// install wires t into proxy's hooks, around those it has.
func (t *tracing) install(proxy *httpproxy.Proxy) {
	prevFilter, prevLog := proxy.RequestFilter, proxy.Logging
	proxy.RequestFilter = func(s *httpproxy.Session) bool {
		r := &s.X.Req
		ctx := t.prop.Extract(context.Background(), reqCarrier{r})
		ctx, span := t.tracer.Start(ctx, string(r.Method), trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(s.Start),
			trace.WithAttributes(
				attribute.String("http.request.method", string(r.Method)),
				attribute.String("url.path", string(r.Path)),
				attribute.String("server.address", string(r.Host)),
				attribute.String("network.protocol.version", protoVersion(r))))
		s.User = &reqTrace{ctx: ctx, server: span}
		return prevFilter != nil && prevFilter(s)
	}
	proxy.UpstreamPeer = func(s *httpproxy.Session) (*l4.Endpoint, error) {
		ep := s.Group.Pick(s.Tried)
		rt, _ := s.User.(*reqTrace)
		if rt == nil || ep == nil {
			return ep, nil
		}
		if rt.attempt != nil {
			rt.attempt.SetStatus(codes.Error, "retried")
			rt.attempt.End()
		}
		_, rt.attempt = t.tracer.Start(rt.ctx, "upstream "+s.Group.Name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("server.address", ep.Addr), attribute.String("penstock.group", s.Group.Name),
				attribute.Int("penstock.attempt", len(s.Tried)+1)))
		rt.tp = appendTraceparent(rt.tp[:0], rt.attempt.SpanContext())
		setField(&s.UpstreamHeader, "traceparent", rt.tp)
		return ep, nil
	}
	proxy.Logging = func(s *httpproxy.Session, err error) {
		if rt, _ := s.User.(*reqTrace); rt != nil {
			end := func(span trace.Span) {
				if s.Status > 0 {
					span.SetAttributes(attribute.Int("http.response.status_code", s.Status))
				}
				if err != nil {
					span.SetStatus(codes.Error, err.Error())
				} else if s.Status >= 500 {
					span.SetStatus(codes.Error, "")
				}
				span.End()
			}
			if rt.attempt != nil {
				end(rt.attempt)
			}
			if s.Route != nil {
				rt.server.SetAttributes(attribute.String("http.route", s.Route.Host+s.Route.PathPrefix))
			}
			end(rt.server)
			s.User = nil
		}
		if prevLog != nil {
			prevLog(s, err)
		}
	}
}

func protoVersion(r *httpd.Request) string {
	if r.HTTP1() == nil {
		return "2"
	}
	return "1.1"
}

// appendTraceparent appends sc as a W3C traceparent value.
func appendTraceparent(b []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	if sc.IsSampled() {
		return append(b, "-01"...)
	}
	return append(b, "-00"...)
}

// setField sets name in h to value, replacing every field of that name.
func setField(h *httpproxy.Header, name string, value []byte) {
	h.Del(name)
	h.Fields = append(h.Fields, httpd.Field{Name: []byte(name), Value: value})
}
