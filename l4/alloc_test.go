package l4

import (
	"net"
	"testing"

	"github.com/penstock-proxy/penstock/transport"
)

// sinkStream is a Stream that takes every write at once, for measuring the
// relay's own cost.
type sinkStream struct {
	h       transport.Handler
	written int
}

func (s *sinkStream) Loop() transport.Loop           { return transport.NewSerialLoop() }
func (s *sinkStream) SetHandler(h transport.Handler) { s.h = h }
func (s *sinkStream) Handler() transport.Handler     { return s.h }
func (s *sinkStream) Write(p []byte) (int, error)    { s.written += len(p); return len(p), nil }
func (s *sinkStream) Queued() int                    { return 0 }
func (s *sinkStream) Writable() bool                 { return true }
func (s *sinkStream) PauseRead()                     {}
func (s *sinkStream) ResumeRead()                    {}
func (s *sinkStream) CloseWrite() error              { return nil }
func (s *sinkStream) Close() error                   { return nil }
func (s *sinkStream) LocalAddr() net.Addr            { return nil }
func (s *sinkStream) RemoteAddr() net.Addr           { return nil }
func (s *sinkStream) Context() any                   { return nil }
func (s *sinkStream) SetContext(any)                 {}

var _ transport.Stream = (*sinkStream)(nil)

// The relay's per-read path (OnData -> Write -> watermark check) allocates
// nothing, with or without an idle timeout.
func TestPipeOnDataNoAllocs(t *testing.T) {
	for _, idle := range []bool{false, true} {
		a, b := &sinkStream{}, &sinkStream{}
		p := &pipe{a: a, b: b}
		if idle {
			p.opts.Idle = 1 << 40
			p.idle = transport.NewTimer(transport.NewSerialLoop(), func() {})
		}
		buf := make([]byte, 16<<10)
		if n := testing.AllocsPerRun(1000, func() { p.OnData(a, buf) }); n != 0 {
			t.Errorf("idle=%v: %v allocs per OnData", idle, n)
		}
	}
}

func BenchmarkPipeOnData(b *testing.B) {
	x, y := &sinkStream{}, &sinkStream{}
	p := &pipe{a: x, b: y}
	buf := make([]byte, 16<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		p.OnData(x, buf)
	}
}
