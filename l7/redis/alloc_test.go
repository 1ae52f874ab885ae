package redis

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// pipelineRig is a client on the proxy's only loop with a pipeline of 16
// SETs and GETs over two shards, built once, and the exact replies to it.
type pipelineRig struct {
	c          net.Conn
	req, reply []byte
	buf        []byte
}

func newPipelineRig(tb testing.TB) *pipelineRig { return newPipelineRigN(tb, 8) }

// newPipelineRigN is newPipelineRig with n SET-GET pairs per pipeline.
func newPipelineRigN(tb testing.TB, n int) *pipelineRig {
	tb.Helper()
	addr, _ := startProxyLoops(tb, 2, 1, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := &pipelineRig{c: c}
	for i := range n {
		k := fmt.Sprintf("key:%d", i%64)
		r.req = fmt.Appendf(r.req, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(k), k, len(k), k)
		r.reply = append(r.reply, "+OK\r\n$5\r\nvalue\r\n"...)
	}
	r.buf = make([]byte, len(r.reply))
	return r
}

func (r *pipelineRig) roundTrip(tb testing.TB) {
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(r.req); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(r.c, r.buf); err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(r.buf, r.reply) {
		tb.Fatalf("reply %q", r.buf)
	}
}

// The proxy's hot path allocates nothing: a pipeline of SETs and GETs
// over two shards, counted over the whole process (the client here
// allocates nothing either).
func TestProxyPipelineNoAllocs(t *testing.T) {
	r := newPipelineRig(t)
	for range 50 {
		r.roundTrip(t) // warm up the free lists and buffers
	}
	if n := testing.AllocsPerRun(500, func() { r.roundTrip(t) }); n >= 1 {
		t.Fatalf("%.2f allocations per pipeline of 16 requests", n)
	}
}

// BenchmarkProxyPipeline is one pipeline of 16 SETs and GETs through the
// proxy on one loop to two real redis-servers and back, per op.
func BenchmarkProxyPipeline(b *testing.B) {
	r := newPipelineRig(b)
	b.ReportAllocs()
	for b.Loop() {
		r.roundTrip(b)
	}
}

// BenchmarkProxyPipeline1k is a pipeline of 1,000 SETs and 1,000 GETs per
// op: the proxy's CPU per request shows, not the round trip's wake-ups.
func BenchmarkProxyPipeline1k(b *testing.B) {
	r := newPipelineRigN(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		r.roundTrip(b)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000), "ns/request")
}
