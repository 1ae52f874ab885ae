package kvproto

import (
	"errors"
	"net"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/framing"
	"github.com/penstock-proxy/penstock/transport"
)

// nullStream takes every write, for measuring the chain alone.
type nullStream struct{ h transport.Handler }

func (s *nullStream) Loop() transport.Loop           { return nil }
func (s *nullStream) SetHandler(h transport.Handler) { s.h = h }
func (s *nullStream) Write(p []byte) (int, error)    { return len(p), nil }
func (s *nullStream) Queued() int                    { return 0 }
func (s *nullStream) Writable() bool                 { return true }
func (s *nullStream) PauseRead()                     {}
func (s *nullStream) ResumeRead()                    {}
func (s *nullStream) CloseWrite() error              { return nil }
func (s *nullStream) Close() error                   { return nil }
func (s *nullStream) LocalAddr() net.Addr            { return nil }
func (s *nullStream) RemoteAddr() net.Addr           { return nil }

// input is 16 pipelined requests, as one read delivers them.
func input() []byte {
	var in []byte
	for range 8 {
		in = append(in, req('s', "key", "value-of-some-length")...)
		in = append(in, req('g', "key", "")...)
	}
	return in
}

func newGenerated(tb testing.TB) (*session, *nullStream) {
	p, err := New(DefaultConfig(), NewStore())
	if err != nil {
		tb.Fatal(err)
	}
	return &session{p: p}, &nullStream{}
}

// The generated chain allocates nothing per frame in steady state.
func TestGeneratedChainNoAllocs(t *testing.T) {
	c, s := newGenerated(t)
	in := input()
	c.OnData(s, in)
	if n := testing.AllocsPerRun(200, func() {
		if got := c.OnData(s, in); got != len(in) {
			t.Fatalf("consumed %d of %d", got, len(in))
		}
	}); n != 0 {
		t.Errorf("%v allocs per read of 16 frames", n)
	}
}

func BenchmarkGeneratedChain(b *testing.B) {
	c, s := newGenerated(b)
	in := input()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		c.OnData(s, in)
	}
}

// handWritten is the same chain (the same framer and handler) wired by
// hand: the benchmark pair shows what generation costs.
type handWritten struct {
	store   *Store
	framer  framing.LengthField
	payload []byte
	out     []byte
}

func (h *handWritten) onData(s transport.Stream, in []byte) int {
	n := 0
	h.out = h.out[:0]
	for n < len(in) {
		frame, m, err := h.framer.Decode(in[n:])
		if errors.Is(err, codecs.ErrNeedMore) {
			break
		}
		if err != nil {
			return len(in)
		}
		n += m
		reply, err := h.store.ServeFrame(s, frame, h.payload[:0])
		if err != nil {
			return len(in)
		}
		if len(reply) > 0 {
			if h.out, err = h.framer.Append(h.out, reply); err != nil {
				return len(in)
			}
		}
		h.payload = reply[:0]
	}
	_, _ = s.Write(h.out)
	return n
}

func BenchmarkHandWrittenChain(b *testing.B) {
	h := &handWritten{store: NewStore(), framer: framing.LengthField{Length: 4, Strip: 4, BigEndian: true, Max: 1 << 20, FailFast: true}}
	s := &nullStream{}
	in := input()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		h.onData(s, in)
	}
}
