package l4

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

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
func (s *sinkStream) Write(p []byte) (int, error)    { s.written += len(p); return len(p), nil }
func (s *sinkStream) Queued() int                    { return 0 }
func (s *sinkStream) Writable() bool                 { return true }
func (s *sinkStream) PauseRead()                     {}
func (s *sinkStream) ResumeRead()                    {}
func (s *sinkStream) CloseWrite() error              { return nil }
func (s *sinkStream) Close() error                   { return nil }
func (s *sinkStream) LocalAddr() net.Addr            { return nil }
func (s *sinkStream) RemoteAddr() net.Addr           { return nil }

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

// roundTripAllocs serves accept on a one-loop transport listening on
// network's loopback port 0, dials it, and returns the allocations per call
// of roundTrip over that client connection after a warm-up. It fails t when
// a round trip fails.
func roundTripAllocs(t *testing.T, network string, accept func(transport.Stream), roundTrip func(c net.Conn) error) float64 {
	t.Helper()
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quietLogger()},
		transport.Listener{Addr: network + "://127.0.0.1:0", Accept: accept})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	c, err := net.Dial(network, tr.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var rtErr error
	run := func() {
		if err := roundTrip(c); err != nil && rtErr == nil {
			rtErr = err
		}
	}
	for range 200 {
		run()
	}
	n := testing.AllocsPerRun(2000, run)
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return n
}

// A relayed connection's round trip, client -> relay -> upstream and back,
// allocates nothing in steady state: counted over the whole process, with a
// client and an echo upstream that allocate nothing themselves.
func TestTCPRelayRoundTripNoAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	g, err := NewGroup("alloc", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := &TCPRelay{Upstreams: g, DialTimeout: time.Second, Logger: quietLogger(), SpliceAfter: -1}
	msg, buf := []byte("penstock-alloc16"), make([]byte, 16)
	n := roundTripAllocs(t, "tcp", r.Accept, func(c net.Conn) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, buf)
		return err
	})
	if n != 0 {
		t.Errorf("%v allocations per relayed round trip, want 0", n)
	}
}

// A datagram relayed both ways through an existing UDP session allocates
// nothing, counted over the whole process as for TCP.
func TestUDPRelayRoundTripNoAllocs(t *testing.T) {
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := up.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := up.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	}()
	g, err := NewGroup("alloc", up.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := &UDPRelay{Upstreams: g, Logger: quietLogger()}
	msg, buf := make([]byte, 64), make([]byte, 2048)
	n := roundTripAllocs(t, "udp", r.Accept, func(c net.Conn) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if n, err := c.Read(buf); err != nil || n != len(msg) {
			return fmt.Errorf("read %d bytes: %v", n, err)
		}
		return nil
	})
	if n != 0 {
		t.Errorf("%v allocations per relayed datagram round trip, want 0", n)
	}
}
