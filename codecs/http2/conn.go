package http2

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs"
)

// Role says which end of the connection a Conn is.
type Role uint8

const (
	// Server reads the client preface and serves the streams the client
	// opens.
	Server Role = iota
	// Client sends the preface and opens streams with OpenStream.
	Client
)

// Config is what a Conn advertises and enforces. Zero fields take the
// defaults below.
type Config struct {
	// MaxConcurrentStreams is how many streams the peer may have open at
	// once (default 128); a HEADERS beyond it is refused (REFUSED_STREAM).
	MaxConcurrentStreams uint32
	// StreamWindow is each stream's receive window (default 256 KiB):
	// what a peer may send on a stream before its consumer drains it.
	StreamWindow uint32
	// ConnWindow is the connection's receive window (default 1 MiB): the
	// most body bytes the peer can make this side hold.
	ConnWindow uint32
	// MaxFrameSize is the largest frame payload accepted (default and
	// minimum 16 KiB).
	MaxFrameSize uint32
	// MaxHeaderListSize caps a decoded header block as RFC 9113 §6.5.2
	// counts it (default 64 KiB); the encoded block may be at most this
	// plus 16 KiB.
	MaxHeaderListSize uint32
	// HeaderTableSize is the HPACK dynamic table the peer may use
	// (default 4096).
	HeaderTableSize uint32
	// MaxGlitches is the glitch points a peer may hold before the
	// connection ends with ENHANCE_YOUR_CALM (default 500).
	MaxGlitches int
	// EnableConnectProtocol advertises extended CONNECT (RFC 8441) and
	// accepts :protocol in requests.
	EnableConnectProtocol bool
}

// Defaults of Config.
const (
	DefaultMaxConcurrentStreams = 128
	DefaultStreamWindow         = 256 << 10
	DefaultConnWindow           = 1 << 20
	DefaultMaxHeaderListSize    = 64 << 10
	DefaultMaxGlitches          = 500
)

func (c Config) withDefaults() Config {
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.StreamWindow == 0 {
		c.StreamWindow = DefaultStreamWindow
	}
	c.StreamWindow = min(c.StreamWindow, maxWindow)
	if c.ConnWindow == 0 {
		c.ConnWindow = DefaultConnWindow
	}
	c.ConnWindow = min(max(c.ConnWindow, defaultWindow), maxWindow)
	c.MaxFrameSize = min(max(c.MaxFrameSize, minMaxFrameSize), maxMaxFrameSize)
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if c.HeaderTableSize == 0 {
		c.HeaderTableSize = defaultHeaderTable
	}
	if c.MaxGlitches <= 0 {
		c.MaxGlitches = DefaultMaxGlitches
	}
	return c
}

// Handler receives what a Conn reads. Its methods run inside Feed (or a
// write method, for OnWritable) on the driver's goroutine; they may call
// the Conn's write methods. Byte slices and the Header are lent for the
// call only.
type Handler interface {
	// OnHeaders delivers a stream's head (a request for a Server, a
	// response, interim ones included, for a Client) or, with
	// h.Trailers, its trailers; end says the peer's side of the stream
	// ends here.
	OnHeaders(c *Conn, id uint32, h *Header, end bool)
	// OnData delivers body bytes (possibly none when end is true). The
	// receiver must call Consumed for every byte once it has passed it
	// on: until then the bytes count against the peer's windows.
	OnData(c *Conn, id uint32, p []byte, end bool)
	// OnReset says a stream the handler knows is gone: reset by the peer
	// (remote), or by this side for the peer's error, or refused by the
	// peer's GOAWAY (ErrCodeRefusedStream: a Client may retry it
	// elsewhere). A stream this side resets with Reset is not reported.
	OnReset(c *Conn, id uint32, code ErrCode, remote bool)
	// OnGoAway says the peer will take no stream above last.
	OnGoAway(c *Conn, last uint32, code ErrCode)
	// OnWritable says a stream WriteData left blocked may send again.
	OnWritable(c *Conn, id uint32)
}

// ConnError is the error that ends a connection; its GOAWAY is already in
// the output.
type ConnError struct {
	Code   ErrCode
	Reason error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("penstock/http2: connection error %v: %v", e.Code, e.Reason)
}

func (e *ConnError) Unwrap() error { return e.Reason }

// ErrProtocol is the class of the peer's protocol errors that end the
// connection (the reasons of its *ConnError).
var ErrProtocol = errors.New("penstock/http2: protocol error")

// Errors of the write methods and the reasons of connection errors.
var (
	ErrStreamClosed    = errors.New("penstock/http2: stream closed")
	ErrStreamLimit     = errors.New("penstock/http2: peer's concurrent stream limit reached")
	ErrGoingAway       = errors.New("penstock/http2: connection going away")
	ErrTooManyGlitches = errors.New("penstock/http2: too many protocol glitches (floods, resets, malformed frames)")

	errPreface          = codecs.NewError("penstock/http2: bad connection preface", ErrProtocol)
	errFirstSettings    = codecs.NewError("penstock/http2: first frame is not SETTINGS", ErrProtocol)
	errFrameTooLarge    = codecs.NewError("penstock/http2: frame larger than SETTINGS_MAX_FRAME_SIZE", codecs.ErrTooLarge)
	errFrameLength      = codecs.NewError("penstock/http2: frame length wrong for its type", ErrProtocol)
	errStreamZero       = codecs.NewError("penstock/http2: frame on stream 0 that needs a stream, or the reverse", ErrProtocol)
	errIdleStream       = codecs.NewError("penstock/http2: frame on an idle stream", ErrProtocol)
	errStreamID         = codecs.NewError("penstock/http2: stream identifier not usable by the peer", ErrProtocol)
	errClosedStream     = codecs.NewError("penstock/http2: frame on a closed stream", ErrProtocol)
	errInHeaderBlock    = codecs.NewError("penstock/http2: other frame inside a header block", ErrProtocol)
	errContinuation     = codecs.NewError("penstock/http2: CONTINUATION without a header block", ErrProtocol)
	errPadding          = codecs.NewError("penstock/http2: padding longer than the frame", ErrProtocol)
	errFlowControl      = codecs.NewError("penstock/http2: peer sent beyond the flow-control window", ErrProtocol)
	errWindowOverflow   = codecs.NewError("penstock/http2: window update beyond 2^31-1", ErrProtocol)
	errWindowZero       = codecs.NewError("penstock/http2: window update of 0", ErrProtocol)
	errSettingValue     = codecs.NewError("penstock/http2: setting with an invalid value", ErrProtocol)
	errPushPromise      = codecs.NewError("penstock/http2: PUSH_PROMISE (push is off)", ErrProtocol)
	errSelfDependency   = codecs.NewError("penstock/http2: stream depends on itself", ErrProtocol)
	errHPACK            = codecs.NewError("penstock/http2: header block does not decode (HPACK)", ErrProtocol)
	errHeaderBlockLarge = codecs.NewError("penstock/http2: header block beyond the cap (CONTINUATION flood)", codecs.ErrTooLarge)
)

// Stats counts what a Conn saw, for metrics and for the defences' tests.
type Stats struct {
	Streams            uint64 // streams opened (by the peer for a Server, by OpenStream for a Client)
	Refused            uint64 // HEADERS refused over MaxConcurrentStreams
	PeerResets         uint64 // RST_STREAM from the peer on a stream this side had not finished (Rapid Reset)
	StreamErrors       uint64 // streams this side reset for the peer's errors (MadeYouReset)
	Malformed          uint64 // malformed messages among StreamErrors
	HeaderListTooLarge uint64 // header lists beyond MaxHeaderListSize (HPACK bombs), answered 431 or reset
	HeaderBlockTooBig  uint64 // encoded blocks beyond the cap (CONTINUATION flood): connection closed
	SettingsFlood      uint64 // SETTINGS frames beyond the first few
	PingFlood          uint64 // PING frames
	EmptyData          uint64 // DATA frames with no data and no END_STREAM
	EmptyFragments     uint64 // HEADERS/CONTINUATION fragments with no bytes, not ending the block
	WindowUpdateFlood  uint64 // tiny WINDOW_UPDATEs on a window that was not exhausted
	Glitches           uint64 // all glitch points charged
	Calmed             uint64 // 1 when the connection ended for too many glitches
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Streams += o.Streams
	s.Refused += o.Refused
	s.PeerResets += o.PeerResets
	s.StreamErrors += o.StreamErrors
	s.Malformed += o.Malformed
	s.HeaderListTooLarge += o.HeaderListTooLarge
	s.HeaderBlockTooBig += o.HeaderBlockTooBig
	s.SettingsFlood += o.SettingsFlood
	s.PingFlood += o.PingFlood
	s.EmptyData += o.EmptyData
	s.EmptyFragments += o.EmptyFragments
	s.WindowUpdateFlood += o.WindowUpdateFlood
	s.Glitches += o.Glitches
	s.Calmed += o.Calmed
}

const (
	closedNormal uint8 = iota + 1
	closedResetByUs
	closedResetByPeer
)

type closedRing struct {
	ids   [64]uint32
	kinds [64]uint8
	pos   int
}

func (r *closedRing) add(id uint32, kind uint8) {
	r.ids[r.pos], r.kinds[r.pos] = id, kind
	r.pos = (r.pos + 1) % len(r.ids)
}

func (r *closedRing) kind(id uint32) uint8 {
	for i, v := range r.ids {
		if v == id {
			return r.kinds[i]
		}
	}
	return 0
}

type stream struct {
	id            uint32
	sendWindow    int64
	recvWindow    int64
	recvUnacked   uint32
	contentLength int64
	received      int64
	localDone     bool
	remoteDone    bool
	final         bool // a final head was received (the next HEADERS is trailers)
	blocked       bool
	gone          bool
	local         bool // opened by this side
	seen          bool // the handler knows the stream
	noBody        bool // a HEAD request's: its response's content-length is not its body's
}

// What the header block in progress is for.
const (
	blockNone uint8 = iota
	blockRequest
	blockResponse
	blockTrailers
	blockDiscard        // decode for the HPACK state only
	blockRefuse         // then RST_STREAM REFUSED_STREAM
	blockStreamClosed   // then RST_STREAM STREAM_CLOSED
	blockSelfDependency // then RST_STREAM PROTOCOL_ERROR
)

// Conn is one HTTP/2 connection's state. See the package documentation.
type Conn struct {
	role Role
	cfg  Config
	h    Handler

	out         []byte
	prefaceLeft int
	gotSettings bool
	settings    int
	err         *ConnError
	goAwaySent  bool
	goAwaySoon  bool // GoAwaySoon's GOAWAY went out
	goAwayRecv  bool
	goAwayLast  uint32

	peerMaxFrame      uint32
	peerWindow        int64
	peerMaxStreams    uint32
	peerMaxHeaderList uint32
	peerConnect       bool

	sendWindow  int64
	recvWindow  int64
	recvUnacked uint32

	streams map[uint32]*stream
	// dead holds the streams closed since Feed was last entered, free
	// those closed before: a stream record is reused only once no code of
	// the call that closed it can still hold it.
	dead, free []*stream
	lastPeerID uint32
	nextID     uint32
	open       int // streams the peer opened, open now
	openLocal  int // streams this side opened, open now
	closed     closedRing

	dec    *hpack.Decoder
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	hb     headerBuilder

	hdrStream  uint32
	hdrKind    uint8
	hdrEnd     bool
	hdrEncoded uint32

	glitches int
	stats    Stats
}

// NewConn makes a Conn for role; its output starts with what that role
// sends first (a Client's preface, then SETTINGS and the connection window).
func NewConn(role Role, cfg Config, h Handler) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		role:           role,
		cfg:            cfg,
		h:              h,
		peerMaxFrame:   defaultFrameSize,
		peerWindow:     defaultWindow,
		peerMaxStreams: ^uint32(0),
		sendWindow:     defaultWindow,
		recvWindow:     defaultWindow,
		streams:        make(map[uint32]*stream),
		nextID:         1,
	}
	c.dec = hpack.NewDecoder(cfg.HeaderTableSize, func(f hpack.HeaderField) {
		c.hb.add(f, c.cfg.MaxHeaderListSize)
	})
	c.dec.SetMaxStringLength(int(cfg.MaxHeaderListSize))
	c.enc = hpack.NewEncoder(&c.encBuf)
	if role == Server {
		c.prefaceLeft = len(Preface)
	} else {
		c.out = append(c.out, Preface...)
	}
	kv := []uint32{
		uint32(SettingMaxConcurrentStreams), cfg.MaxConcurrentStreams,
		uint32(SettingInitialWindowSize), cfg.StreamWindow,
		uint32(SettingMaxHeaderListSize), cfg.MaxHeaderListSize,
		uint32(SettingNoRFC7540Priorities), 1,
	}
	if cfg.MaxFrameSize != defaultFrameSize {
		kv = append(kv, uint32(SettingMaxFrameSize), cfg.MaxFrameSize)
	}
	if cfg.HeaderTableSize != defaultHeaderTable {
		kv = append(kv, uint32(SettingHeaderTableSize), cfg.HeaderTableSize)
	}
	if role == Client {
		kv = append(kv, uint32(SettingEnablePush), 0)
	} else if cfg.EnableConnectProtocol {
		kv = append(kv, uint32(SettingEnableConnectProtocol), 1)
	}
	c.out = appendSettings(c.out, false, kv...)
	if d := cfg.ConnWindow - defaultWindow; d > 0 {
		c.out = appendWindowUpdate(c.out, 0, d)
		c.recvWindow = int64(cfg.ConnWindow)
	}
	return c
}

// Output returns the frames to send. The caller writes them and then calls
// ClearOutput; until then the write methods append to the same bytes.
func (c *Conn) Output() []byte { return c.out }

// ClearOutput says the output has been taken.
func (c *Conn) ClearOutput() {
	if cap(c.out) > 256<<10 {
		c.out = nil // a burst's buffer is not kept by an idle connection
		return
	}
	c.out = c.out[:0]
}

// Release drops the buffers an idle connection need not keep (output,
// the encoder's scratch, the decoded-header scratch); they grow again when
// used. Call it when the connection has no open stream and its output has
// been sent.
func (c *Conn) Release() {
	if len(c.out) == 0 {
		c.out = nil
	}
	c.encBuf = bytes.Buffer{}
	c.hb.h.Fields = nil
	c.free = nil
}

// Stats returns the counts so far.
func (c *Conn) Stats() Stats { return c.stats }

// Err returns the error that ended the connection, or nil.
func (c *Conn) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Active returns the number of open streams, both sides'.
func (c *Conn) Active() int { return c.open + c.openLocal }

// GoingAway reports whether either side has sent GOAWAY.
func (c *Conn) GoingAway() bool { return c.goAwaySent || c.goAwayRecv }

// InHeaderBlock reports whether a header block has begun and not ended: a
// driver bounds how long that may last (no other frame can come
// meanwhile).
func (c *Conn) InHeaderBlock() bool { return c.hdrStream != 0 }

// PeerMaxConcurrentStreams returns the peer's stream limit (^0 until it
// says one).
func (c *Conn) PeerMaxConcurrentStreams() uint32 { return c.peerMaxStreams }

// Tick halves the glitch points: a driver calls it at a fixed interval
// (say every 10 s) so that a long-lived connection's occasional glitches
// (a keep-alive PING, a cancelled request) never add up.
func (c *Conn) Tick() { c.glitches /= 2 }

// Feed takes bytes the peer sent and handles every whole frame in them. It
// returns how many bytes it consumed: the rest (an incomplete frame, at
// most 9 + MaxFrameSize bytes) must be fed again with what follows. An
// error ends the connection: its GOAWAY is in the output, and the caller
// sends it and closes.
func (c *Conn) Feed(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for i, st := range c.dead {
		*st = stream{}
		c.free = append(c.free, st)
		c.dead[i] = nil
	}
	c.dead = c.dead[:0]
	n := 0
	if c.prefaceLeft > 0 {
		k := min(len(p), c.prefaceLeft)
		off := len(Preface) - c.prefaceLeft
		if string(p[:k]) != Preface[off:off+k] {
			return 0, c.connError(ErrCodeProtocol, errPreface)
		}
		c.prefaceLeft -= k
		n, p = k, p[k:]
	}
	for len(p) >= FrameHeaderLen {
		fh := parseFrameHeader(p)
		if fh.length > c.cfg.MaxFrameSize {
			return n, c.connError(ErrCodeFrameSize, errFrameTooLarge)
		}
		end := FrameHeaderLen + int(fh.length)
		if len(p) < end {
			break
		}
		if err := c.frame(fh, p[FrameHeaderLen:end]); err != nil {
			return n + end, err
		}
		n, p = n+end, p[end:]
	}
	return n, nil
}

// connError ends the connection with code; it returns the *ConnError.
func (c *Conn) connError(code ErrCode, reason error) error {
	if c.err != nil {
		return c.err
	}
	c.err = &ConnError{Code: code, Reason: reason}
	c.out = appendGoAway(c.out, c.lastPeerID, code, reason.Error())
	c.goAwaySent = true
	return c.err
}

// glitch charges the peer a point, counted in *kind.
func (c *Conn) glitch(kind *uint64) error {
	*kind++
	c.stats.Glitches++
	c.glitches++
	if c.glitches > c.cfg.MaxGlitches {
		c.stats.Calmed = 1
		return c.connError(ErrCodeEnhanceYourCalm, ErrTooManyGlitches)
	}
	return nil
}

func (c *Conn) frame(fh frameHeader, p []byte) error {
	if c.hdrStream != 0 && (fh.typ != FrameContinuation || fh.stream != c.hdrStream) {
		return c.connError(ErrCodeProtocol, errInHeaderBlock)
	}
	if !c.gotSettings && (fh.typ != FrameSettings || fh.has(FlagAck)) {
		return c.connError(ErrCodeProtocol, errFirstSettings)
	}
	switch fh.typ {
	case FrameData:
		return c.onData(fh, p)
	case FrameHeaders:
		return c.onHeaders(fh, p)
	case FramePriority:
		return c.onPriority(fh, p)
	case FrameRSTStream:
		return c.onRSTStream(fh, p)
	case FrameSettings:
		return c.onSettings(fh, p)
	case FramePushPromise:
		return c.connError(ErrCodeProtocol, errPushPromise)
	case FramePing:
		return c.onPing(fh, p)
	case FrameGoAway:
		return c.onGoAway(fh, p)
	case FrameWindowUpdate:
		return c.onWindowUpdate(fh, p)
	case FrameContinuation:
		if c.hdrStream == 0 {
			return c.connError(ErrCodeProtocol, errContinuation)
		}
		return c.fragment(p, fh.has(FlagEndHeaders))
	}
	return nil // unknown frame types are ignored (RFC 9113 §5.5)
}

// peerStream reports whether the peer may open stream id.
func (c *Conn) peerStream(id uint32) bool {
	if c.role == Server {
		return id%2 == 1
	}
	return false // no push
}

// idle reports whether id names a stream in the idle state.
func (c *Conn) idle(id uint32) bool {
	if id%2 == 1 == (c.role == Server) {
		return id > c.lastPeerID
	}
	return id >= c.nextID
}

// unpad strips a padded frame's padding; it reports the data.
func (c *Conn) unpad(fh frameHeader, p []byte) ([]byte, error) {
	if !fh.has(FlagPadded) {
		return p, nil
	}
	if len(p) == 0 {
		return nil, c.connError(ErrCodeFrameSize, errFrameLength)
	}
	pad := int(p[0])
	if pad >= len(p) {
		return nil, c.connError(ErrCodeProtocol, errPadding)
	}
	return p[1 : len(p)-pad], nil
}

func (c *Conn) onData(fh frameHeader, p []byte) error {
	id := fh.stream
	if id == 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	data, err := c.unpad(fh, p)
	if err != nil {
		return err
	}
	flow := int64(fh.length)
	if flow > c.recvWindow {
		return c.connError(ErrCodeFlowControl, errFlowControl)
	}
	c.recvWindow -= flow
	st := c.streams[id]
	if st == nil {
		if c.idle(id) {
			return c.connError(ErrCodeProtocol, errIdleStream)
		}
		c.returnConn(uint32(flow))
		switch c.closed.kind(id) {
		case closedResetByUs:
			return nil // in flight when we reset it
		case closedResetByPeer:
			c.out = appendRSTStream(c.out, id, ErrCodeStreamClosed)
			return c.glitch(&c.stats.StreamErrors)
		}
		return c.connError(ErrCodeStreamClosed, errClosedStream)
	}
	if st.remoteDone {
		c.returnConn(uint32(flow))
		return c.streamError(st, ErrCodeStreamClosed, nil)
	}
	if flow > st.recvWindow {
		c.returnConn(uint32(flow))
		return c.streamError(st, ErrCodeFlowControl, nil)
	}
	st.recvWindow -= flow
	if pad := uint32(flow) - uint32(len(data)); pad > 0 {
		c.consumed(st, pad)
	}
	end := fh.has(FlagEndStream)
	st.received += int64(len(data))
	if st.contentLength >= 0 && (st.received > st.contentLength || end && st.received != st.contentLength) {
		c.returnConn(uint32(len(data)))
		return c.streamError(st, ErrCodeProtocol, errBodyLength)
	}
	if len(data) == 0 && !end {
		if err := c.glitch(&c.stats.EmptyData); err != nil {
			return err
		}
		return nil
	}
	if end {
		st.remoteDone = true
	}
	c.h.OnData(c, id, data, end)
	c.maybeClose(st)
	return nil
}

func (c *Conn) onHeaders(fh frameHeader, p []byte) error {
	id := fh.stream
	if id == 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	frag, err := c.unpad(fh, p)
	if err != nil {
		return err
	}
	selfDep := false
	if fh.has(FlagPriority) {
		if len(frag) < 5 {
			return c.connError(ErrCodeFrameSize, errFrameLength)
		}
		dep := (uint32(frag[0])<<24 | uint32(frag[1])<<16 | uint32(frag[2])<<8 | uint32(frag[3])) & maxStreamID
		selfDep = dep == id
		frag = frag[5:]
	}
	kind := blockNone
	st := c.streams[id]
	switch {
	case st != nil && st.remoteDone:
		kind = blockStreamClosed
	case st != nil && c.role == Server, st != nil && st.final:
		kind = blockTrailers
	case st != nil:
		kind = blockResponse
	case c.idle(id):
		if !c.peerStream(id) {
			return c.connError(ErrCodeProtocol, errStreamID)
		}
		c.lastPeerID = id
		switch {
		case c.goAwaySent:
			kind = blockDiscard
		case c.open >= int(c.cfg.MaxConcurrentStreams):
			kind = blockRefuse
		default:
			kind = blockRequest
		}
	default:
		switch c.closed.kind(id) {
		case closedResetByUs:
			kind = blockDiscard
		case closedResetByPeer:
			kind = blockStreamClosed
		case closedNormal:
			return c.connError(ErrCodeStreamClosed, errClosedStream)
		default:
			return c.connError(ErrCodeProtocol, errStreamID)
		}
	}
	if selfDep {
		kind = blockSelfDependency
	}
	c.hb.reset()
	c.hdrStream, c.hdrKind, c.hdrEnd, c.hdrEncoded = id, kind, fh.has(FlagEndStream), 0
	return c.fragment(frag, fh.has(FlagEndHeaders))
}

// maxBlock is the encoded header block cap.
func (c *Conn) maxBlock() uint32 { return c.cfg.MaxHeaderListSize + 16<<10 }

func (c *Conn) fragment(b []byte, endHeaders bool) error {
	c.hdrEncoded += uint32(len(b))
	if c.hdrEncoded > c.maxBlock() {
		c.stats.HeaderBlockTooBig++
		return c.connError(ErrCodeEnhanceYourCalm, errHeaderBlockLarge)
	}
	if len(b) == 0 && !endHeaders {
		if err := c.glitch(&c.stats.EmptyFragments); err != nil {
			return err
		}
	}
	if _, err := c.dec.Write(b); err != nil {
		if errors.Is(err, hpack.ErrStringLength) {
			c.stats.HeaderListTooLarge++
		}
		return c.connError(ErrCodeCompression, errHPACK)
	}
	if !endHeaders {
		return nil
	}
	if err := c.dec.Close(); err != nil {
		return c.connError(ErrCodeCompression, errHPACK)
	}
	id := c.hdrStream
	c.hdrStream = 0
	return c.endBlock(id)
}

func (c *Conn) endBlock(id uint32) error {
	end, hb := c.hdrEnd, &c.hb
	switch c.hdrKind {
	case blockDiscard:
		return nil
	case blockRefuse:
		c.stats.Refused++
		c.closed.add(id, closedResetByUs)
		c.out = appendRSTStream(c.out, id, ErrCodeRefusedStream)
		return nil
	case blockStreamClosed:
		if st := c.streams[id]; st != nil {
			return c.streamError(st, ErrCodeStreamClosed, nil)
		}
		c.out = appendRSTStream(c.out, id, ErrCodeStreamClosed)
		return c.glitch(&c.stats.StreamErrors)
	case blockSelfDependency:
		if st := c.streams[id]; st != nil {
			return c.streamError(st, ErrCodeProtocol, errSelfDependency)
		}
		c.closed.add(id, closedResetByUs)
		c.out = appendRSTStream(c.out, id, ErrCodeProtocol)
		return c.glitch(&c.stats.StreamErrors)
	case blockRequest:
		return c.endRequest(id, end)
	case blockResponse:
		return c.endResponse(c.streams[id], end)
	case blockTrailers:
		st := c.streams[id]
		if hb.tooBig {
			c.stats.HeaderListTooLarge++
			return c.streamError(st, ErrCodeProtocol, nil)
		}
		err := hb.finishTrailers()
		if err == nil && !end {
			err = errTrailersNoEnd
		}
		if err == nil && st.contentLength >= 0 && st.received != st.contentLength {
			err = errBodyLength
		}
		if err != nil {
			return c.streamError(st, ErrCodeProtocol, err)
		}
		st.remoteDone = true
		c.h.OnHeaders(c, id, &hb.h, true)
		c.maybeClose(st)
	}
	return nil
}

func (c *Conn) endRequest(id uint32, end bool) error {
	hb := &c.hb
	st := c.newStream()
	*st = stream{
		id:            id,
		sendWindow:    c.peerWindow,
		recvWindow:    int64(c.cfg.StreamWindow),
		contentLength: hb.h.ContentLength,
		remoteDone:    end,
	}
	c.streams[id] = st
	c.open++
	c.stats.Streams++
	if hb.tooBig {
		// An HPACK bomb or a plain oversized head: 431, and the
		// request's body, if any, is not wanted.
		c.stats.HeaderListTooLarge++
		if err := c.glitch(&c.stats.StreamErrors); err != nil {
			return err
		}
		_ = c.WriteResponse(id, 431, nil, true)
		if st := c.streams[id]; st != nil {
			c.Reset(id, ErrCodeNo)
		}
		return nil
	}
	err := hb.finishRequest(c.cfg.EnableConnectProtocol)
	if err == nil && end && st.contentLength > 0 {
		err = errBodyLength
	}
	if err != nil {
		return c.streamError(st, ErrCodeProtocol, err)
	}
	st.seen = true
	c.h.OnHeaders(c, id, &hb.h, end)
	c.maybeClose(st)
	return nil
}

func (c *Conn) endResponse(st *stream, end bool) error {
	hb := &c.hb
	if hb.tooBig {
		c.stats.HeaderListTooLarge++
		return c.streamError(st, ErrCodeProtocol, nil)
	}
	err := hb.finishResponse()
	if err == nil && hb.h.Status < 200 && (end || hb.h.Status == 101) {
		err = errBadStatus
	}
	if err != nil {
		return c.streamError(st, ErrCodeProtocol, err)
	}
	if hb.h.Status >= 200 {
		st.final = true
		st.contentLength = hb.h.ContentLength
		if st.noBody || hb.h.Status == 204 || hb.h.Status == 304 {
			st.contentLength = -1 // the field describes the resource, not this body
		}
		if end && st.contentLength > 0 {
			return c.streamError(st, ErrCodeProtocol, errBodyLength)
		}
		st.remoteDone = end
	}
	c.h.OnHeaders(c, st.id, &hb.h, end)
	c.maybeClose(st)
	return nil
}

func (c *Conn) onPriority(fh frameHeader, p []byte) error {
	if fh.stream == 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	if len(p) != 5 {
		if st := c.streams[fh.stream]; st != nil {
			return c.streamError(st, ErrCodeFrameSize, nil)
		}
		c.out = appendRSTStream(c.out, fh.stream, ErrCodeFrameSize)
		return c.glitch(&c.stats.StreamErrors)
	}
	dep := (uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])) & maxStreamID
	if dep == fh.stream {
		if st := c.streams[fh.stream]; st != nil {
			return c.streamError(st, ErrCodeProtocol, errSelfDependency)
		}
		c.out = appendRSTStream(c.out, fh.stream, ErrCodeProtocol)
		return c.glitch(&c.stats.StreamErrors)
	}
	return nil // priorities are advisory; RFC 9218 replaced them
}

func (c *Conn) onRSTStream(fh frameHeader, p []byte) error {
	if len(p) != 4 {
		return c.connError(ErrCodeFrameSize, errFrameLength)
	}
	id := fh.stream
	if id == 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	if c.idle(id) {
		return c.connError(ErrCodeProtocol, errIdleStream)
	}
	st := c.streams[id]
	if st == nil {
		return nil
	}
	code := ErrCode(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))
	unfinished := !st.localDone
	c.remove(st, closedResetByPeer)
	c.h.OnReset(c, id, code, true)
	if unfinished {
		return c.glitch(&c.stats.PeerResets)
	}
	return nil
}

func (c *Conn) onSettings(fh frameHeader, p []byte) error {
	if fh.stream != 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	if fh.has(FlagAck) {
		if len(p) != 0 {
			return c.connError(ErrCodeFrameSize, errFrameLength)
		}
		return nil
	}
	if len(p)%settingsEntryLength != 0 {
		return c.connError(ErrCodeFrameSize, errFrameLength)
	}
	c.gotSettings = true
	var grew bool
	for ; len(p) > 0; p = p[settingsEntryLength:] {
		id := uint16(p[0])<<8 | uint16(p[1])
		v := uint32(p[2])<<24 | uint32(p[3])<<16 | uint32(p[4])<<8 | uint32(p[5])
		switch id {
		case SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(min(v, 1<<16))
		case SettingEnablePush:
			if v > 1 || (v == 1 && c.role == Client) {
				return c.connError(ErrCodeProtocol, errSettingValue)
			}
		case SettingMaxConcurrentStreams:
			c.peerMaxStreams = v
		case SettingInitialWindowSize:
			if v > maxWindow {
				return c.connError(ErrCodeFlowControl, errSettingValue)
			}
			delta := int64(v) - c.peerWindow
			c.peerWindow = int64(v)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return c.connError(ErrCodeFlowControl, errWindowOverflow)
				}
			}
			grew = grew || delta > 0
		case SettingMaxFrameSize:
			if v < minMaxFrameSize || v > maxMaxFrameSize {
				return c.connError(ErrCodeProtocol, errSettingValue)
			}
			c.peerMaxFrame = v
		case SettingMaxHeaderListSize:
			c.peerMaxHeaderList = v
		case SettingEnableConnectProtocol:
			if v > 1 {
				return c.connError(ErrCodeProtocol, errSettingValue)
			}
			c.peerConnect = v == 1
		}
	}
	c.out = appendSettings(c.out, true)
	c.settings++
	if c.settings > 4 {
		if err := c.glitch(&c.stats.SettingsFlood); err != nil {
			return err
		}
	}
	if grew {
		c.wakeBlocked()
	}
	return nil
}

func (c *Conn) onPing(fh frameHeader, p []byte) error {
	if fh.stream != 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	if len(p) != 8 {
		return c.connError(ErrCodeFrameSize, errFrameLength)
	}
	if fh.has(FlagAck) {
		return nil
	}
	c.out = appendPing(c.out, true, p)
	return c.glitch(&c.stats.PingFlood)
}

func (c *Conn) onGoAway(fh frameHeader, p []byte) error {
	if fh.stream != 0 {
		return c.connError(ErrCodeProtocol, errStreamZero)
	}
	if len(p) < 8 {
		return c.connError(ErrCodeFrameSize, errFrameLength)
	}
	last := (uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])) & maxStreamID
	code := ErrCode(uint32(p[4])<<24 | uint32(p[5])<<16 | uint32(p[6])<<8 | uint32(p[7]))
	c.goAwayRecv = true
	c.goAwayLast = last
	// Streams this side opened above last were not processed: refused,
	// so a client may send them again elsewhere.
	for id, st := range c.streams {
		if st.local && id > last {
			c.remove(st, closedResetByPeer)
			c.h.OnReset(c, id, ErrCodeRefusedStream, true)
		}
	}
	c.h.OnGoAway(c, last, code)
	return nil
}

func (c *Conn) onWindowUpdate(fh frameHeader, p []byte) error {
	if len(p) != 4 {
		return c.connError(ErrCodeFrameSize, errFrameLength)
	}
	incr := int64((uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])) & maxWindow)
	if fh.stream == 0 {
		if incr == 0 {
			return c.connError(ErrCodeProtocol, errWindowZero)
		}
		was := c.sendWindow
		c.sendWindow += incr
		if c.sendWindow > maxWindow {
			return c.connError(ErrCodeFlowControl, errWindowOverflow)
		}
		if was > 0 && incr < 128 {
			if err := c.glitch(&c.stats.WindowUpdateFlood); err != nil {
				return err
			}
		}
		if was <= 0 && c.sendWindow > 0 {
			c.wakeBlocked()
		}
		return nil
	}
	if c.idle(fh.stream) {
		return c.connError(ErrCodeProtocol, errIdleStream)
	}
	st := c.streams[fh.stream]
	if st == nil {
		return nil
	}
	if incr == 0 {
		return c.streamError(st, ErrCodeProtocol, errWindowZero)
	}
	was := st.sendWindow
	st.sendWindow += incr
	if st.sendWindow > maxWindow {
		return c.streamError(st, ErrCodeFlowControl, errWindowOverflow)
	}
	if was > 0 && incr < 128 && !st.blocked {
		if err := c.glitch(&c.stats.WindowUpdateFlood); err != nil {
			return err
		}
	}
	if st.blocked && st.sendWindow > 0 && c.sendWindow > 0 {
		st.blocked = false
		c.h.OnWritable(c, st.id)
	}
	return nil
}

// wakeBlocked tells the handler about every blocked stream that may send.
func (c *Conn) wakeBlocked() {
	if c.sendWindow <= 0 {
		return
	}
	for _, st := range c.streams {
		if st.blocked && st.sendWindow > 0 {
			st.blocked = false
			c.h.OnWritable(c, st.id)
		}
	}
}

// streamError resets st for the peer's error (a stream error, RFC 9113
// §5.4.2), tells the handler and charges a glitch (MadeYouReset).
func (c *Conn) streamError(st *stream, code ErrCode, reason error) error {
	if reason != nil && errors.Is(reason, ErrMalformed) {
		c.stats.Malformed++
	}
	c.out = appendRSTStream(c.out, st.id, code)
	c.remove(st, closedResetByUs)
	if st.seen {
		c.h.OnReset(c, st.id, code, false)
	}
	return c.glitch(&c.stats.StreamErrors)
}

func (c *Conn) remove(st *stream, kind uint8) {
	if st.gone {
		return
	}
	st.gone = true
	delete(c.streams, st.id)
	c.closed.add(st.id, kind)
	if st.local {
		c.openLocal--
	} else {
		c.open--
	}
	c.dead = append(c.dead, st)
}

// newStream returns a stream record, a reused one when there is one.
func (c *Conn) newStream() *stream {
	if n := len(c.free); n > 0 {
		st := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		return st
	}
	return &stream{}
}

// maybeClose closes a stream both sides have finished.
func (c *Conn) maybeClose(st *stream) {
	if st.gone || !st.localDone || !st.remoteDone {
		return
	}
	c.remove(st, closedNormal)
	if c.glitches > 0 {
		c.glitches--
	}
}

// Consumed gives back n bytes of stream id's body, received through
// OnData and now passed on, to the stream's and the connection's windows.
// Bytes delivered before the stream was reset are given back the same way
// (to the connection's window).
func (c *Conn) Consumed(id uint32, n int) {
	if n <= 0 || c.err != nil {
		return
	}
	st := c.streams[id]
	if st == nil {
		c.returnConn(uint32(n))
		return
	}
	c.consumed(st, uint32(n))
}

func (c *Conn) consumed(st *stream, n uint32) {
	c.returnConn(n)
	if st.remoteDone {
		return
	}
	st.recvUnacked += n
	if st.recvUnacked >= c.cfg.StreamWindow/2 {
		c.out = appendWindowUpdate(c.out, st.id, st.recvUnacked)
		st.recvWindow += int64(st.recvUnacked)
		st.recvUnacked = 0
	}
}

func (c *Conn) returnConn(n uint32) {
	c.recvUnacked += n
	if c.recvUnacked >= c.cfg.ConnWindow/2 {
		c.out = appendWindowUpdate(c.out, 0, c.recvUnacked)
		c.recvWindow += int64(c.recvUnacked)
		c.recvUnacked = 0
	}
}
