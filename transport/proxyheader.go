package transport

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/proxyproto"
)

// ProxyHeader reads the PROXY protocol header (v1 or v2) that a load
// balancer in front sends before its client's bytes, and makes the client's
// address the stream's RemoteAddr before handing the stream to Next. Only
// sources inside Trusted may send one, and from them it is required, as
// with HAProxy's accept-proxy: a trusted source that sends anything else,
// or nothing within Timeout, is closed. Streams from other sources go to
// Next untouched, so an untrusted client cannot claim another address. Its
// Accept method is a Listener's Accept func.
type ProxyHeader struct {
	Trusted []netip.Prefix
	// RejectV1 or RejectV2 accept only the other version.
	RejectV1, RejectV2 bool
	// Timeout bounds the wait for the header (default 3s).
	Timeout time.Duration
	// OnHeader, when set, sees each decoded header (TLVs included; it is
	// borrowed for the call) before Next. It runs on the stream's loop.
	OnHeader func(s Stream, h *proxyproto.Header)
	// Next takes the stream once its header is read.
	Next   func(s Stream)
	Logger *slog.Logger
}

// proxyHeaderState is a trusted stream's handler until its header is in.
type proxyHeaderState struct {
	p     *ProxyHeader
	h     proxyproto.Header
	timer *Timer
	done  bool
}

// Accept reads the header of a stream from a trusted source, or passes the
// stream on. It runs on the stream's loop.
func (p *ProxyHeader) Accept(s Stream) {
	if !p.trusted(s.RemoteAddr()) {
		p.Next(s)
		return
	}
	st := &proxyHeaderState{p: p}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	st.timer = AfterFunc(s.Loop(), timeout, func() { st.fail(s, errors.New("no PROXY header in time")) })
	s.SetHandler(st)
}

func (p *ProxyHeader) trusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := ta.AddrPort().Addr().Unmap()
	for _, pre := range p.Trusted {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

func (st *proxyHeaderState) OnData(s Stream, in []byte) int {
	if st.done {
		return 0
	}
	d := proxyproto.Decoder{MaxV2: proxyproto.RecommendedMaxV2, RejectV1: st.p.RejectV1, RejectV2: st.p.RejectV2}
	n, err := d.Decode(in, &st.h)
	if errors.Is(err, codecs.ErrNeedMore) {
		return 0
	}
	if err != nil {
		st.fail(s, err)
		return len(in)
	}
	st.done = true
	st.timer.Stop()
	if st.h.Command == proxyproto.Proxy && st.h.Source.IsValid() {
		if ra, ok := s.(interface{ setRemoteAddr(net.Addr) }); ok {
			ra.setRemoteAddr(net.TCPAddrFromAddrPort(st.h.Source))
		}
	}
	if st.p.OnHeader != nil {
		st.p.OnHeader(s, &st.h)
	}
	st.p.Next(s)
	if h := HandlerOf(s); h != nil && h != Handler(st) && n < len(in) {
		// The bytes after the header are the client's first bytes.
		if m := h.OnData(s, in[n:]); n+m < len(in) {
			s.SetHandler(&prepend{h: h, buf: append([]byte(nil), in[n+m:]...)})
		}
	}
	return len(in)
}

func (st *proxyHeaderState) fail(s Stream, err error) {
	if st.done {
		return
	}
	st.done = true
	st.timer.Stop()
	log := st.p.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("bad PROXY header from a trusted source; connection closed", "remote", s.RemoteAddr(), "err", err)
	_ = s.Close()
}

func (st *proxyHeaderState) OnReadEOF(s Stream) {
	st.fail(s, errors.New("EOF before the PROXY header"))
}
func (st *proxyHeaderState) OnDrained(Stream) {}
func (st *proxyHeaderState) OnClose(Stream, error) {
	st.done = true
	st.timer.Stop()
}

var _ Handler = (*proxyHeaderState)(nil)
