package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/internal/spec"
)

// Severities of RFC 5424 the daemon uses.
const (
	sevError   = 3
	sevWarning = 4
	sevInfo    = 6
	sevDebug   = 7
)

// syslogSink sends RFC 5424 messages to a syslog daemon over a unix
// datagram socket (/dev/log), UDP, or TCP with octet-counting framing
// (RFC 6587). One message per line. A message that cannot be sent is
// dropped and counted: logging never blocks the daemon for long (a TCP
// connection that failed is dialed again for the next message, at most
// once a second). It is safe from any goroutine.
type syslogSink struct {
	network, addr string
	facility      int
	host, app     string
	pid           string

	mu         sync.Mutex
	conn       net.Conn
	failedDial time.Time
	buf, frame []byte
	dropped    atomic.Uint64
	delivered  atomic.Uint64
}

// newSyslogSink parses target (unix:///dev/log, udp://host:port,
// tcp://host:port) and facility (a name of RFC 5424, daemon by default).
func newSyslogSink(target, facility string) (*syslogSink, error) {
	scheme, addr, ok := strings.Cut(target, "://")
	if !ok || addr == "" {
		return nil, fmt.Errorf("%q: want unix:///dev/log, udp://HOST:PORT or tcp://HOST:PORT", target)
	}
	network := ""
	switch scheme {
	case "unix":
		network = "unixgram"
	case "udp", "tcp":
		network = scheme
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %v", target, err)
		}
	default:
		return nil, fmt.Errorf("%q: unknown scheme %q (want unix, udp or tcp)", target, scheme)
	}
	code, ok := spec.SyslogFacilities[cmp.Or(facility, "daemon")]
	if !ok {
		return nil, fmt.Errorf("unknown syslog facility %q", facility)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "-"
	}
	return &syslogSink{network: network, addr: addr, facility: code, host: host, app: "penstock", pid: strconv.Itoa(os.Getpid())}, nil
}

// send sends one message of severity sev; msgid is "-" or a word such as
// "access". The message is msg without a trailing newline.
func (s *syslogSink) send(sev int, msgid string, msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := append(s.buf[:0], '<')
	b = strconv.AppendInt(b, int64(s.facility*8+sev), 10)
	b = append(b, ">1 "...)
	b = time.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, s.host...)
	b = append(b, ' ')
	b = append(b, s.app...)
	b = append(b, ' ')
	b = append(b, s.pid...)
	b = append(b, ' ')
	b = append(b, msgid...)
	b = append(b, " - "...)
	b = append(b, bytes.TrimRight(msg, "\n")...)
	s.buf = b
	out := b
	if s.network == "tcp" {
		// Octet counting (RFC 6587 3.4.1): the length, a space, the message.
		s.frame = append(strconv.AppendInt(s.frame[:0], int64(len(b)), 10), ' ')
		s.frame = append(s.frame, b...)
		out = s.frame
	}
	if s.write(out) {
		s.delivered.Add(1)
	} else {
		s.dropped.Add(1)
	}
}

// write sends b on the connection, dialing it first when there is none
// (not again within a second of a failed dial). s.mu is held.
func (s *syslogSink) write(b []byte) bool {
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn == nil {
			if time.Since(s.failedDial) < time.Second {
				return false
			}
			c, err := net.DialTimeout(s.network, s.addr, time.Second)
			if err != nil {
				s.failedDial = time.Now()
				return false
			}
			s.conn = c
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := s.conn.Write(b); err == nil {
			return true
		}
		_ = s.conn.Close()
		s.conn = nil
	}
	return false
}

func (s *syslogSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// lines is an io.Writer that sends each line written to it as one
// message of severity sev.
type syslogLines struct {
	s     *syslogSink
	sev   int
	msgid string
}

func (w syslogLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if len(line) > 0 {
			w.s.send(w.sev, w.msgid, line)
		}
	}
	return n, nil
}

// syslogHandler is a slog.Handler that writes each record as a syslog
// message whose severity is the record's level: one text (or JSON)
// handler per severity, without the time (the message's header has it).
type syslogHandler struct {
	hs [4]slog.Handler // debug, info, warn, error
}

func newSyslogHandler(s *syslogSink, level slog.Leveler, json bool) *syslogHandler {
	h := &syslogHandler{}
	for i, sev := range []int{sevDebug, sevInfo, sevWarning, sevError} {
		opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return readable(groups, a)
		}}
		var w io.Writer = syslogLines{s: s, sev: sev, msgid: "-"}
		if json {
			h.hs[i] = slog.NewJSONHandler(w, opts)
		} else {
			h.hs[i] = slog.NewTextHandler(w, opts)
		}
	}
	return h
}

func (h *syslogHandler) index(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 0
	case l < slog.LevelWarn:
		return 1
	case l < slog.LevelError:
		return 2
	}
	return 3
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.hs[h.index(l)].Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.hs[h.index(r.Level)].Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &syslogHandler{}
	for i := range h.hs {
		n.hs[i] = h.hs[i].WithAttrs(as)
	}
	return n
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	n := &syslogHandler{}
	for i := range h.hs {
		n.hs[i] = h.hs[i].WithGroup(name)
	}
	return n
}
