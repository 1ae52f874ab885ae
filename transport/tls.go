package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/clienthello"
	"github.com/penstock-proxy/penstock/internal/ratelog"
)

// Defaults of TLS.
const (
	// DefaultHandshakeTimeout bounds a TLS handshake, from the first byte
	// of the ClientHello to the Finished (and, for a client, from the
	// connect to the server's Finished).
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxHandshakes is how many server handshakes one TLS runs at
	// once, across all loops.
	DefaultMaxHandshakes = 1024
	// maxHelloBytes bounds the ClientHello a TLS buffers before its
	// handshake starts (a post-quantum hello is about 1.3 KB; crypto/tls
	// itself takes handshake messages up to 64 KB).
	maxHelloBytes = 64 << 10
	// tlsCarryKeep is the most plaintext a stream keeps buffer capacity
	// for once its handler has consumed what it held.
	tlsCarryKeep = 64 << 10
)

// TLSOutcome says how a TLS connection ended before or at its handshake.
type TLSOutcome uint8

// The outcomes a TLS counts, by Stats.
const (
	// TLSHandshake: a completed handshake (full or resumed).
	TLSHandshake TLSOutcome = iota
	// TLSResumed: a completed handshake that resumed a session (counted
	// in TLSHandshake too).
	TLSResumed
	// TLSBadHello: the first bytes are not a TLS ClientHello.
	TLSBadHello
	// TLSNoPostQuantum: RequirePostQuantum refused a ClientHello with no
	// post-quantum key share, before any TLS work.
	TLSNoPostQuantum
	// TLSHandshakeCap: MaxHandshakes were running; refused.
	TLSHandshakeCap
	// TLSTimeout: the handshake did not finish within HandshakeTimeout.
	TLSTimeout
	// TLSFailed: the handshake failed (no common version or cipher, a bad
	// or missing client certificate, a closed connection...).
	TLSFailed
	// TLSRecordError: a record after the handshake was bad (a forged or
	// corrupt record, a renegotiation attempt, an unexpected message):
	// the connection got an alert and was closed.
	TLSRecordError
	numTLSOutcomes
)

var tlsOutcomeNames = [numTLSOutcomes]string{"handshake", "resumed", "bad_hello", "no_post_quantum",
	"handshake_cap", "handshake_timeout", "handshake_failed", "record_error"}

// String returns the outcome's metric label. Safe from any goroutine.
func (o TLSOutcome) String() string {
	if o < numTLSOutcomes {
		return tlsOutcomeNames[o]
	}
	return fmt.Sprintf("tls_outcome(%d)", uint8(o))
}

// TLS terminates TLS on the streams it accepts and hands each one,
// decrypted, to Next, or to NextProto's entry for the protocol ALPN chose.
// Its Accept method is a Listener's Accept func (or a PeekRoute's), so the
// listener's filters and any peek matcher run before it: a refused source
// costs no handshake.
//
// It runs stock crypto/tls without a goroutine per connection. A stream's
// bytes are buffered on its loop until its ClientHello is whole (a client
// that trickles its hello costs no goroutine); then the handshake runs on a
// short-lived goroutine fed from the loop, bounded by HandshakeTimeout and
// MaxHandshakes. Once it is done, every record is read and written on the
// stream's loop: the decrypted stream is a Stream like any other, with the
// same backpressure (PauseRead, Writable, OnDrained) as the connection
// under it. ConnectionState gives the TLS state of such a stream.
//
// A TLS is safe from any goroutine; its fields must not change once it
// serves (SetConfig swaps the configuration).
type TLS struct {
	// Config is the server configuration: certificates (or
	// GetCertificate / GetConfigForClient), client authentication, ALPN
	// (NextProtos), session tickets, ECH keys. MinVersion below TLS 1.2 is
	// raised to 1.2. crypto/tls's defaults negotiate X25519MLKEM768 with
	// clients that offer it.
	Config *tls.Config
	// HandshakeTimeout bounds each handshake, ClientHello included
	// (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the handshakes in flight; a connection past it
	// is refused (TLSHandshakeCap). Default DefaultMaxHandshakes.
	MaxHandshakes int
	// RequirePostQuantum refuses, before any TLS work, a ClientHello that
	// carries no post-quantum key share (X25519MLKEM768 and its kin): the
	// client gets a handshake_failure alert.
	RequirePostQuantum bool
	// Next takes each stream once its handshake is done. It must set the
	// stream's handler.
	Next func(s Stream)
	// NextProto, when it has an entry for the protocol ALPN negotiated,
	// takes the stream instead of Next (as net/http's TLSNextProto).
	NextProto map[string]func(s Stream)
	// OnHello, when set, sees the parsed ClientHello (borrowed for the
	// call) before the handshake starts; an error refuses the connection
	// (counted as TLSBadHello). It runs on the stream's loop.
	OnHello func(s Stream, h *clienthello.Hello) error
	// TicketRotation, when set, replaces the session ticket keys on that
	// schedule: a new key seals new tickets and the two before it still
	// open older ones, so a ticket resumes for up to three periods. Every
	// loop shares the keys (one tls.Config), so a client resumes whichever
	// loop takes it. 0 leaves crypto/tls's own keys, rotated daily.
	TicketRotation time.Duration
	Logger         *slog.Logger

	tickets  ticketKeys
	cfg      atomic.Pointer[tls.Config]
	prepOnce sync.Once
	inflight atomic.Int64
	counts   [numTLSOutcomes]atomic.Uint64
	logs     ratelog.Limiter
}

// SetConfig makes cfg serve every handshake from now on; handshakes
// already started and connections already open keep theirs. cfg must not
// change afterwards. It is safe from any goroutine (a certificate or
// config reload calls it).
func (t *TLS) SetConfig(cfg *tls.Config) {
	c := prepareTLS(cfg)
	t.tickets.apply(c)
	t.cfg.Store(c)
}

// ticketKeys are the session ticket keys a TLS rotates itself.
type ticketKeys struct {
	mu   sync.Mutex
	keys [][32]byte
	next atomic.Int64 // Clock() reading of the next rotation; 0 before the first
}

// apply sets the keys on cfg, when there are any. Safe from any goroutine.
func (k *ticketKeys) apply(cfg *tls.Config) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) > 0 {
		cfg.SetSessionTicketKeys(k.keys)
	}
}

// maybeRotate rotates the keys when they are due. It costs an atomic
// load per handshake when they are not. Safe from any goroutine.
func (t *TLS) maybeRotate() {
	every := t.TicketRotation
	if every <= 0 {
		return
	}
	now := int64(Clock())
	if next := t.tickets.next.Load(); next != 0 && now < next {
		return
	}
	k := &t.tickets
	k.mu.Lock()
	defer k.mu.Unlock()
	if next := k.next.Load(); next != 0 && now < next {
		return
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return
	}
	k.keys = append([][32]byte{key}, k.keys...)
	if len(k.keys) > 3 {
		k.keys = k.keys[:3]
	}
	t.config().SetSessionTicketKeys(k.keys)
	k.next.Store(now + int64(every))
}

// TicketKeys returns the session ticket keys in force, the sealing one
// first, when the TLS rotates its own (TicketRotation), so that a process
// taking over the listener (an upgrade) can resume the old one's sessions.
// Safe from any goroutine.
func (t *TLS) TicketKeys() [][32]byte {
	t.tickets.mu.Lock()
	defer t.tickets.mu.Unlock()
	return append([][32]byte(nil), t.tickets.keys...)
}

// SetTicketKeys installs keys (the sealing one first), as TicketKeys
// returned them; the rotation schedule starts again from now. Safe from
// any goroutine.
func (t *TLS) SetTicketKeys(keys [][32]byte) {
	if len(keys) == 0 {
		return
	}
	k := &t.tickets
	k.mu.Lock()
	k.keys = append([][32]byte(nil), keys...)
	k.mu.Unlock()
	t.config().SetSessionTicketKeys(keys)
	if t.TicketRotation > 0 {
		k.next.Store(int64(Clock()) + int64(t.TicketRotation))
	}
}

// config returns the configuration in force.
func (t *TLS) config() *tls.Config {
	t.prepOnce.Do(func() {
		if t.cfg.Load() == nil {
			t.cfg.CompareAndSwap(nil, prepareTLS(t.Config))
		}
	})
	return t.cfg.Load()
}

// prepareTLS copies cfg with TLS 1.2 as its floor and, unless cfg names
// its own, only AEAD cipher suites with forward secrecy for TLS 1.2
// (TLS 1.3's are all such): crypto/tls's defaults still offer CBC suites
// to TLS 1.2 clients, which testssl.sh flags (LUCKY13) and Mozilla's
// intermediate profile leaves out.
func prepareTLS(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.CipherSuites == nil {
		c.CipherSuites = aeadSuites
	}
	return c
}

// aeadSuites are the TLS 1.2 suites a TLS offers by default, in crypto/tls's
// order of preference (which it applies itself, by hardware support).
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSStats are a TLS's counts by outcome, with the handshakes running now.
type TLSStats struct {
	Outcomes map[string]uint64 // by TLSOutcome.String, only non-zero entries
	InFlight int64
}

// Stats returns the counters. It is safe from any goroutine.
func (t *TLS) Stats() TLSStats {
	st := TLSStats{Outcomes: map[string]uint64{}, InFlight: t.inflight.Load()}
	for i := range t.counts {
		if n := t.counts[i].Load(); n > 0 {
			st.Outcomes[TLSOutcome(i).String()] = n
		}
	}
	return st
}

func (t *TLS) log() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

func (t *TLS) timeout() time.Duration {
	if t.HandshakeTimeout > 0 {
		return t.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (t *TLS) maxHandshakes() int64 {
	if t.MaxHandshakes > 0 {
		return int64(t.MaxHandshakes)
	}
	return DefaultMaxHandshakes
}

// Accept takes a new stream: it waits for the ClientHello, then
// handshakes, then hands the decrypted stream to Next (or NextProto's).
// It runs on s's loop.
func (t *TLS) Accept(s Stream) { t.accept(s, nil) }

// Then returns an Accept func that terminates TLS as Accept does but
// hands the decrypted stream to next: for the routes of a PeekRouter that
// share one TLS (its configuration, ticket keys and counts) and differ
// in where their streams go. Safe from any goroutine.
func (t *TLS) Then(next func(Stream)) func(Stream) {
	return func(s Stream) { t.accept(s, next) }
}

func (t *TLS) accept(s Stream, next func(Stream)) {
	ts := &tlsStream{t: t, raw: s, phase: tlsHello, next: next}
	ts.timer = AfterFunc(s.Loop(), t.timeout(), ts.onTimeout)
	s.SetHandler(ts)
}

// The phases of a tlsStream.
const (
	tlsHello   uint8 = iota // server: buffering the ClientHello
	tlsShaking              // the handshake goroutine runs
	tlsLive                 // records on the loop
	tlsDone                 // closed or failed
)

// tlsStream is a TLS connection over a stream (raw): the handler of raw,
// and the decrypted Stream it hands on. Everything but the handshake
// goroutine's use of the wire runs on raw's loop.
type tlsStream struct {
	t      *TLS                // server side; nil for a client
	done   func(Stream, error) // client side: the handshake's result
	next   func(Stream)        // server side: where Then sends the stream (nil: Next)
	raw    Stream
	w      *tlsWire
	tc     *tls.Conn
	h      Handler
	timer  *Timer
	info   *TLSInfo // built by TLSInfo on first use
	hello  []byte   // tlsHello: the ClientHello so far
	carry  []byte   // plaintext the handler left unconsumed
	phase  uint8
	paused bool
	eof    bool // OnReadEOF delivered
	// unsure says crypto/tls may hold whole records that no read has
	// returned and that the wire's count does not tell (those read ahead
	// in the handshake, or after a pause): only a read that would block
	// settles it.
	unsure bool
	queued bool // a pump task is queued
}

// ConnectionState returns the TLS state of s, and false when s is not a
// TLS stream (nor wraps one). Loop only.
func ConnectionState(s Stream) (tls.ConnectionState, bool) {
	if ts, ok := s.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return ts.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// ConnectionState returns the connection's TLS state. Loop only.
func (ts *tlsStream) ConnectionState() tls.ConnectionState { return ts.tc.ConnectionState() }

// --- the raw stream's handler ---

func (ts *tlsStream) OnData(s Stream, p []byte) int {
	switch ts.phase {
	case tlsHello:
		ts.hello = append(ts.hello, p...)
		ts.onHello()
		return len(p)
	case tlsShaking:
		ts.w.feed(p, false)
		return len(p)
	case tlsLive:
		w := ts.w
		borrowed := len(w.in) == 0
		if borrowed {
			w.in = p
		} else {
			w.own = append(append(w.own[:0], w.in...), p...)
			w.in = w.own
		}
		ts.pump()
		if borrowed {
			// What crypto/tls did not take (the stream paused) stays
			// with raw, which delivers it again on resume.
			left := len(w.in)
			w.in = nil
			return len(p) - left
		}
		return len(p)
	}
	return len(p)
}

func (ts *tlsStream) OnReadEOF(s Stream) {
	switch ts.phase {
	case tlsHello:
		ts.fail(TLSBadHello, errors.New("EOF before a whole ClientHello"))
	case tlsShaking:
		ts.w.feed(nil, true)
	case tlsLive:
		ts.w.eof = true
		ts.pump()
	}
}

func (ts *tlsStream) OnDrained(s Stream) {
	if ts.phase == tlsLive && ts.h != nil {
		ts.h.OnDrained(ts)
	}
}

func (ts *tlsStream) OnClose(s Stream, err error) {
	phase := ts.phase
	ts.phase = tlsDone
	ts.timer.Stop()
	switch phase {
	case tlsHello, tlsShaking:
		if err == nil {
			err = net.ErrClosed
		}
		if ts.w != nil {
			ts.w.kill(err)
		}
		if ts.done != nil {
			ts.done(nil, err)
		}
	case tlsLive:
		if ts.h != nil {
			ts.h.OnClose(ts, err)
		}
	}
}

// onHello starts the handshake once the ClientHello is whole.
func (ts *tlsStream) onHello() {
	t := ts.t
	h := helloPool.Get().(*clienthello.Hello)
	defer helloPool.Put(h)
	_, err := clienthello.Parse(ts.hello, h)
	switch {
	case errors.Is(err, codecs.ErrNeedMore):
		if len(ts.hello) > maxHelloBytes {
			ts.fail(TLSBadHello, clienthello.ErrTooLarge)
		}
		return
	case err != nil:
		ts.fail(TLSBadHello, err)
		return
	case t.RequirePostQuantum && !h.KeySharePostQuantum():
		ts.fail(TLSNoPostQuantum, errors.New("ClientHello has no post-quantum key share"), alertHandshakeFailure...)
		return
	}
	if t.OnHello != nil {
		if err := t.OnHello(ts.raw, h); err != nil {
			ts.fail(TLSBadHello, err)
			return
		}
		if ts.phase != tlsHello {
			return
		}
	}
	t.maybeRotate()
	if t.inflight.Add(1) > t.maxHandshakes() {
		t.inflight.Add(-1)
		ts.fail(TLSHandshakeCap, errors.New("too many TLS handshakes in flight"))
		return
	}
	ts.w = newTLSWire(ts.raw)
	ts.w.onFlush = ts.onFlush
	ts.tc = tls.Server(ts.w, t.config())
	ts.w.feed(ts.hello, false)
	ts.hello = nil
	ts.phase = tlsShaking
	go ts.handshake()
}

// handshake runs on its own goroutine; posting its result is its last
// touch of the stream.
func (ts *tlsStream) handshake() {
	err := ts.tc.HandshakeContext(context.Background())
	if ts.t != nil {
		ts.t.inflight.Add(-1)
	}
	ts.w.post(err)
}

// onFlush writes the handshake's records and, once it has posted, goes
// live or fails. It runs on the loop.
func (ts *tlsStream) onFlush(out []byte, posted bool, result error) {
	if ts.phase != tlsShaking {
		return
	}
	if len(out) > 0 {
		_, _ = ts.raw.Write(out)
	}
	if !posted {
		return
	}
	ts.timer.Stop()
	if result != nil {
		ts.fail(TLSFailed, result)
		return
	}
	ts.w.goLive()
	ts.phase = tlsLive
	ts.unsure = true
	if ts.done != nil {
		done := ts.done
		ts.done = nil
		done(ts, nil)
	} else {
		t := ts.t
		t.counts[TLSHandshake].Add(1)
		if ts.tc.ConnectionState().DidResume {
			t.counts[TLSResumed].Add(1)
		}
		next := ts.next
		if next == nil {
			next = t.Next
		}
		if np := t.NextProto[ts.tc.ConnectionState().NegotiatedProtocol]; np != nil {
			next = np
		}
		ts.next = nil
		next(ts)
	}
	// crypto/tls reads ahead: the peer's first bytes after its Finished
	// may be inside the tls.Conn already, and no more input may come.
	ts.pump()
}

func (ts *tlsStream) onTimeout() {
	switch ts.phase {
	case tlsHello, tlsShaking:
		ts.fail(TLSTimeout, fmt.Errorf("TLS handshake not done within %v", ts.timeout()))
	}
}

func (ts *tlsStream) timeout() time.Duration {
	if ts.t != nil {
		return ts.t.timeout()
	}
	return DefaultHandshakeTimeout
}

// alertHandshakeFailure is a fatal handshake_failure alert in a TLS 1.2
// record, as a server answers a hello it refuses.
var alertHandshakeFailure = []byte{21, 3, 3, 0, 2, 2, 40}

// fail ends the connection on err: a server's failure is counted (o) and
// logged, alert (if any) written; then the stream under it closes, and
// whoever waits hears of it (a client's done, or the handler of a live
// stream).
func (ts *tlsStream) fail(o TLSOutcome, err error, alert ...byte) {
	if ts.phase == tlsDone {
		return
	}
	live := ts.phase == tlsLive
	ts.phase = tlsDone
	ts.timer.Stop()
	if ts.w != nil {
		ts.w.kill(err)
	}
	if t := ts.t; t != nil {
		t.counts[o].Add(1)
		t.logs.Log(t.log(), slog.LevelInfo, "TLS connection closed", "reason", o.String(),
			"remote", ts.raw.RemoteAddr().String(), "err", err)
	}
	if len(alert) > 0 {
		_, _ = ts.raw.Write(alert)
	}
	_ = ts.raw.Close()
	switch {
	case ts.done != nil: // a client's handshake ended
		done := ts.done
		ts.done = nil
		done(nil, err)
	case live && ts.h != nil:
		ts.h.OnClose(ts, err)
	}
}

// pump reads and delivers plaintext until crypto/tls would block, the
// handler pauses, or the stream ends. Loop only.
func (ts *tlsStream) pump() {
	if ts.phase != tlsLive || ts.paused || ts.h == nil {
		return
	}
	if len(ts.carry) > 0 {
		ts.deliver(nil)
	}
	el, _ := ts.raw.Loop().(*EventLoop)
	w := ts.w
	for ts.phase == tlsLive && !ts.paused {
		if ts.quiet() {
			return
		}
		// Fill the buffer with as many records as are in, and deliver
		// them at once: a relay then writes 64 KB at a time, not a record.
		buf, release := tlsReadBuf(el)
		off := 0
		var err error
		for {
			var n int
			n, err = ts.tc.Read(buf[off:])
			if n > 0 {
				// A read that returns data has consumed at least one
				// record, whole: there is room for the largest (it may
				// have consumed more, a KeyUpdate or a close_notify with
				// it, which only makes the count high and costs one more
				// read).
				off += n
				w.records--
			}
			if err != nil || len(buf)-off < maxPlaintext || ts.quiet() {
				break
			}
		}
		if off > 0 {
			ts.deliver(buf[:off])
		}
		release()
		if err == nil {
			continue
		}
		switch {
		case isWouldBlock(err):
			w.records, ts.unsure = 0, false
			return
		case errors.Is(err, io.EOF):
			if !ts.eof && ts.phase == tlsLive {
				ts.eof = true
				ts.carry = nil
				ts.h.OnReadEOF(ts)
			}
			return
		case ts.phase == tlsLive:
			ts.fail(TLSRecordError, err)
		}
		return
	}
}

// quiet reports that crypto/tls has taken every record it was given and
// each gave a read: a read now could only say "would block", and
// crypto/tls allocates for every read it takes from the wire.
func (ts *tlsStream) quiet() bool {
	w := ts.w
	return !ts.unsure && w.records <= 0 && len(w.in) == 0 && !w.eof
}

// maxPlaintext is the most plaintext one record carries (TLS 1.2 and
// 1.3): a read with room for it takes a whole record.
const maxPlaintext = 16384

// tlsReadSize is the loop's plaintext buffer: four whole records.
const tlsReadSize = 4 * maxPlaintext

// isWouldBlock reports whether crypto/tls's error is the wire's "no more
// input now", which it returns as it is (no errors.As: it allocates).
func isWouldBlock(err error) bool {
	if err == errWouldBlock {
		return true
	}
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// deliver hands p, behind any carry, to the handler and keeps what it
// leaves.
func (ts *tlsStream) deliver(p []byte) {
	if len(ts.carry) > 0 {
		ts.carry = append(ts.carry, p...)
		p = ts.carry
	}
	if ts.eof {
		return
	}
	m := ts.h.OnData(ts, p)
	if ts.phase != tlsLive {
		ts.carry = nil
		return
	}
	ts.carry = append(ts.carry[:0], p[m:]...)
	if len(ts.carry) == 0 && cap(ts.carry) > tlsCarryKeep {
		ts.carry = nil
	}
}

// tlsReadBuf lends the loop's plaintext buffer, or a new one when the
// loop's is lent out (TLS inside TLS) or the loop is not an EventLoop.
func tlsReadBuf(el *EventLoop) (buf []byte, release func()) {
	if el == nil || el.tlsBusy {
		return make([]byte, tlsReadSize), func() {}
	}
	if el.tlsBuf == nil {
		el.tlsBuf = make([]byte, tlsReadSize)
		el.tlsRelease = func() { el.tlsBusy = false }
	}
	el.tlsBusy = true
	return el.tlsBuf, el.tlsRelease
}

// --- the decrypted Stream ---

// Loop returns the loop of the stream under it. Safe from any goroutine.
func (ts *tlsStream) Loop() Loop { return ts.raw.Loop() }

// SetHandler sets the plaintext handler. Loop only.
func (ts *tlsStream) SetHandler(h Handler) { ts.h = h }

// Handler returns the plaintext handler (for HandlerOf). Loop only.
func (ts *tlsStream) Handler() Handler { return ts.h }

// Write encrypts p into records and writes them. Loop only.
func (ts *tlsStream) Write(p []byte) (int, error) {
	if ts.phase != tlsLive {
		return 0, ErrClosed
	}
	return ts.tc.Write(p)
}

// Queued reports the ciphertext queued on the stream under it. Loop only.
func (ts *tlsStream) Queued() int { return ts.raw.Queued() }

// Writable reports the stream under it's. Loop only.
func (ts *tlsStream) Writable() bool { return ts.raw.Writable() }

// PauseRead stops delivering plaintext and reading. Loop only.
func (ts *tlsStream) PauseRead() {
	if !ts.paused {
		ts.paused = true
		ts.raw.PauseRead()
	}
}

// ResumeRead delivers again: first what the handler left and what
// crypto/tls holds decrypted, in a loop task, then new input. Loop only.
func (ts *tlsStream) ResumeRead() {
	if !ts.paused || ts.phase != tlsLive {
		return
	}
	ts.paused = false
	ts.unsure = true
	ts.raw.ResumeRead()
	if !ts.queued {
		ts.queued = true
		ts.raw.Loop().Execute(func() {
			ts.queued = false
			ts.pump()
		})
	}
}

// CloseWrite sends close_notify, then EOF. Loop only.
func (ts *tlsStream) CloseWrite() error {
	if ts.phase != tlsLive {
		return ErrClosed
	}
	_ = ts.tc.CloseWrite()
	return ts.raw.CloseWrite()
}

// Close closes the connection under it at once (no close_notify: queued
// output is dropped, as with any Stream's Close). Loop only.
func (ts *tlsStream) Close() error { return ts.raw.Close() }

// LocalAddr returns the stream under it's. Loop only.
func (ts *tlsStream) LocalAddr() net.Addr { return ts.raw.LocalAddr() }

// RemoteAddr returns the stream under it's. Loop only.
func (ts *tlsStream) RemoteAddr() net.Addr { return ts.raw.RemoteAddr() }

// TLSClient runs a TLS client handshake over s with cfg and calls done on
// s's loop with the decrypted stream, or with the error that ended the
// handshake (s is then closed). done sets the stream's handler. timeout
// bounds the handshake (0: DefaultHandshakeTimeout). It runs on s's loop.
func TLSClient(s Stream, cfg *tls.Config, timeout time.Duration, done func(Stream, error)) {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ts := &tlsStream{raw: s, done: done, phase: tlsShaking}
	ts.w = newTLSWire(s)
	ts.w.onFlush = ts.onFlush
	ts.tc = tls.Client(ts.w, cfg)
	ts.timer = AfterFunc(s.Loop(), timeout, ts.onTimeout)
	s.SetHandler(ts)
	go ts.handshake()
}

var (
	_ Handler = (*tlsStream)(nil)
	_ Stream  = (*tlsStream)(nil)
)
