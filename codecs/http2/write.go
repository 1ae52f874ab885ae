package http2

import (
	"strconv"

	"golang.org/x/net/http2/hpack"
)

// WriteResponse sends a response head on stream id: status, then fields
// (regular fields, lowercase names; connection-specific ones are the
// caller's to leave out). With end the response has no body. Server only.
func (c *Conn) WriteResponse(id uint32, status int, fields []hpack.HeaderField, end bool) error {
	st, err := c.writable(id)
	if err != nil {
		return err
	}
	c.encBuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	return c.writeBlock(st, fields, end)
}

// statusStrings are the status codes as strings, made once: a response
// head needs no allocation for its :status.
var statusStrings = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func statusString(status int) string {
	if status >= 100 && status < len(statusStrings) {
		return statusStrings[status]
	}
	return strconv.Itoa(status)
}

// WriteTrailers ends stream id's body with trailer fields.
func (c *Conn) WriteTrailers(id uint32, fields []hpack.HeaderField) error {
	st, err := c.writable(id)
	if err != nil {
		return err
	}
	c.encBuf.Reset()
	return c.writeBlock(st, fields, true)
}

// OpenStream opens a stream with a request head: the pseudo-header fields
// from r (Method, Scheme, Authority, Path, and Protocol for extended
// CONNECT), then fields. With end the request has no body. Client only.
func (c *Conn) OpenStream(r *Header, fields []hpack.HeaderField, end bool) (uint32, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.goAwaySent || c.goAwayRecv:
		return 0, ErrGoingAway
	case uint32(c.openLocal) >= c.peerMaxStreams:
		return 0, ErrStreamLimit
	case c.nextID > maxStreamID:
		return 0, ErrGoingAway
	}
	id := c.nextID
	c.nextID += 2
	st := c.newStream()
	*st = stream{id: id, local: true, seen: true, noBody: r.Method == "HEAD", sendWindow: c.peerWindow, recvWindow: int64(c.cfg.StreamWindow), contentLength: -1}
	c.streams[id] = st
	c.openLocal++
	c.stats.Streams++
	c.encBuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: r.Method})
	if r.Method != "CONNECT" || r.Protocol != "" {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: r.Scheme})
	}
	if r.Authority != "" {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: r.Authority})
	}
	if r.Method != "CONNECT" || r.Protocol != "" {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: r.Path})
	}
	if r.Protocol != "" {
		_ = c.enc.WriteField(hpack.HeaderField{Name: ":protocol", Value: r.Protocol})
	}
	return id, c.writeBlock(st, fields, end)
}

func (c *Conn) writable(id uint32) (*stream, error) {
	if c.err != nil {
		return nil, c.err
	}
	st := c.streams[id]
	if st == nil || st.localDone {
		return nil, ErrStreamClosed
	}
	return st, nil
}

// writeBlock encodes fields after what encBuf holds and sends the block as
// HEADERS and CONTINUATION frames within the peer's frame size.
func (c *Conn) writeBlock(st *stream, fields []hpack.HeaderField, end bool) error {
	for _, f := range fields {
		_ = c.enc.WriteField(f)
	}
	block := c.encBuf.Bytes()
	typ := FrameHeaders
	var flags uint8
	if end {
		flags = FlagEndStream
	}
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), int(c.peerMaxFrame))
		f := flags
		if n == len(block) {
			f |= FlagEndHeaders
		}
		c.out = appendFrameHeader(c.out, n, typ, f, st.id)
		c.out = append(c.out, block[:n]...)
		block = block[n:]
		typ, flags = FrameContinuation, 0
	}
	if end {
		st.localDone = true
		c.maybeClose(st)
	}
	return nil
}

// WriteData sends body bytes on stream id as far as the peer's windows
// allow, and ends the stream with end once all of p is sent. It returns
// how many bytes it took; when fewer than len(p), the stream is blocked
// and OnWritable says when to send the rest. The caller paces itself by
// what its connection's writer can take too: the Conn's output grows by
// what it sends.
func (c *Conn) WriteData(id uint32, p []byte, end bool) (int, error) {
	st, err := c.writable(id)
	if err != nil {
		return 0, err
	}
	n := 0
	for n < len(p) {
		k := min(int64(len(p)-n), c.sendWindow, st.sendWindow, int64(c.peerMaxFrame))
		if k <= 0 {
			st.blocked = true
			return n, nil
		}
		var flags uint8
		if end && n+int(k) == len(p) {
			flags = FlagEndStream
		}
		c.out = appendFrameHeader(c.out, int(k), FrameData, flags, id)
		c.out = append(c.out, p[n:n+int(k)]...)
		n += int(k)
		c.sendWindow -= k
		st.sendWindow -= k
	}
	if end {
		if len(p) == 0 {
			c.out = appendFrameHeader(c.out, 0, FrameData, FlagEndStream, id)
		}
		st.localDone = true
		c.maybeClose(st)
	}
	return n, nil
}

// SendWindow returns how many body bytes stream id may send now.
func (c *Conn) SendWindow(id uint32) int {
	st := c.streams[id]
	if st == nil || st.localDone {
		return 0
	}
	return int(max(0, min(c.sendWindow, st.sendWindow)))
}

// Reset ends stream id with RST_STREAM code (CANCEL when the response is
// no longer wanted, NO_ERROR after a complete response to a request whose
// body is not wanted). The handler is not called for it.
func (c *Conn) Reset(id uint32, code ErrCode) {
	st := c.streams[id]
	if st == nil || c.err != nil {
		return
	}
	c.out = appendRSTStream(c.out, id, code)
	c.remove(st, closedResetByUs)
}

// GoAway starts a graceful close: streams the peer opened up to now are
// served, later ones are ignored, and the connection can close once
// Active is 0. A Server's last stream is the highest the peer opened.
// GoAwaySoon starts a graceful shutdown (RFC 9113 section 6.8): a GOAWAY
// whose last stream ID is 2^31-1 tells the peer to open no more streams
// while the streams it has sent meanwhile are still served; GoAway, about
// a round trip later, sends the final one with the last stream taken.
// Server only; after GoAway it does nothing.
func (c *Conn) GoAwaySoon() {
	if c.err != nil || c.goAwaySent || c.goAwaySoon || c.role != Server {
		return
	}
	c.goAwaySoon = true
	c.out = appendGoAway(c.out, maxStreamID, ErrCodeNo, "")
}

func (c *Conn) GoAway(code ErrCode, debug string) {
	if c.err != nil || c.goAwaySent {
		return
	}
	c.goAwaySent = true
	c.out = appendGoAway(c.out, c.lastPeerID, code, debug)
}

// Ping sends a PING; its ACK is not reported (a driver may use any
// traffic as a sign of life).
func (c *Conn) Ping(data [8]byte) {
	if c.err == nil {
		c.out = appendPing(c.out, false, data[:])
	}
}
