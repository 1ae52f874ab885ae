package main

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

// accessLogs holds the access logs of a daemon's HTTP listeners, one writer
// per destination however many listeners share it. Lines are formatted on
// the event loop into a memory buffer; a goroutine writes the buffer out
// every flushEvery, so a slow disk never stalls a loop. Reopen (on SIGUSR1)
// reopens the files, for log rotation.
type accessLogs struct {
	format string // "json" or text
	stdout io.Writer
	stderr io.Writer

	// syslog takes the lines of logs whose destination is "syslog".
	syslog *syslogSink

	mu  sync.Mutex
	all map[string]*accessLog
}

// flushEvery bounds how long a logged line waits in memory.
const flushEvery = 200 * time.Millisecond

func newAccessLogs(format string, stdout, stderr io.Writer) *accessLogs {
	return &accessLogs{format: format, stdout: stdout, stderr: stderr, all: map[string]*accessLog{}}
}

// writer returns the writer of listener's access log lines to dest
// ("stdout", "stderr" or a file path, opened for appending).
func (l *accessLogs) writer(listener, dest string) (*lineWriter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.all[dest]
	if a == nil {
		var err error
		if a, err = l.open(dest); err != nil {
			return nil, err
		}
		l.all[dest] = a
	}
	return &lineWriter{a: a, json: l.format == "json", listener: listener}, nil
}

func (l *accessLogs) open(dest string) (*accessLog, error) {
	a := &accessLog{dest: dest, done: make(chan struct{}), stopped: make(chan struct{})}
	switch dest {
	case "stdout":
		a.w = l.stdout
	case "stderr":
		a.w = l.stderr
	case "syslog":
		if l.syslog == nil {
			return nil, errors.New("access_log syslog needs log.syslog")
		}
		a.w = syslogLines{s: l.syslog, sev: sevInfo, msgid: "access"}
	default:
		f, err := openLogFile(dest)
		if err != nil {
			return nil, err
		}
		a.f, a.w = f, f
	}
	go a.run()
	return a, nil
}

func openLogFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// Reopen writes out what is buffered and reopens every file, so that a
// renamed log is left alone and a new one started. It is safe from any
// goroutine; it returns the first error and keeps the old file of a log
// that could not be reopened.
func (l *accessLogs) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for _, a := range l.all {
		if err := a.reopen(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close writes out what is buffered and closes the files. It is safe from
// any goroutine; lines logged after it are dropped.
func (l *accessLogs) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.all {
		a.close()
	}
}

// accessLog is one destination: a memory buffer the lineWriters of its
// listeners append to, and a goroutine that writes it out.
type accessLog struct {
	dest string

	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	wmu   sync.Mutex // guards w, f and spare: held while writing out
	w     io.Writer
	f     *os.File // nil for stdout and stderr
	spare []byte

	done    chan struct{}
	stopped chan struct{}
}

// maxBuffered bounds the memory a log may hold when its destination does
// not keep up; lines past it are dropped, not queued.
const maxBuffered = 4 << 20

func (a *accessLog) run() {
	defer close(a.stopped)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-a.done:
			return
		}
	}
}

// flush swaps the buffer for the spare one and writes it out.
func (a *accessLog) flush() {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	out := a.buf
	a.buf = a.spare[:0]
	a.mu.Unlock()
	if len(out) > 0 {
		_, _ = a.w.Write(out) // nowhere to report a failed log write
	}
	a.spare = out[:0]
}

func (a *accessLog) reopen() error {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return nil
	}
	a.flush()
	if a.f == nil {
		return nil
	}
	f, err := openLogFile(a.dest)
	if err != nil {
		return err
	}
	a.wmu.Lock()
	old := a.f
	a.f, a.w = f, f
	a.wmu.Unlock()
	return old.Close()
}

func (a *accessLog) close() {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if already {
		return
	}
	close(a.done)
	<-a.stopped
	a.flush()
	if a.f != nil {
		_ = a.f.Close()
	}
}

// lineWriter formats one listener's access lines straight into its log's
// buffer, in the daemon's log format: text (key=value, as log/slog's text
// handler) or JSON. It allocates nothing per line; its methods run on the
// event loops, each line under the log's lock.
type lineWriter struct {
	a        *accessLog
	json     bool
	listener string
}

// request writes a proxied request's line: who asked for what, what the
// client got, from where, and how long it took.
func (w *lineWriter) request(s *httpproxy.Session, err error) {
	r := &s.X.Req
	upstream := ""
	if s.Upstream != nil {
		upstream = s.Upstream.Addr
	}
	w.line(r.RemoteAddr, func(b []byte) []byte {
		b = appendField(w, b, "method", r.Method)
		b = appendField(w, b, "host", r.Host)
		b = appendField(w, b, "target", r.Target)
		b = w.int(b, "status", int64(s.Status))
		b = w.int(b, "request_bytes", s.RequestBytes)
		b = w.int(b, "response_bytes", s.ResponseBytes)
		b = w.key(b, "duration_ms")
		b = strconv.AppendFloat(b, float64(time.Since(s.Start))/1e6, 'f', 3, 64)
		b = appendField(w, b, "upstream", upstream)
		b = w.key(b, "reused")
		b = strconv.AppendBool(b, s.Reused)
		b = w.int(b, "retries", int64(s.Retries))
		if info := s.TLS(); info != nil {
			// Built once per connection, not per line.
			b = appendField(w, b, "tls_version", info.Version)
			b = appendField(w, b, "tls_group", info.Group)
			b = appendField(w, b, "tls_cipher", info.Cipher)
			b = appendField(w, b, "tls_sni", info.ServerName)
			b = w.key(b, "tls_resumed")
			b = strconv.AppendBool(b, info.Resumed)
			if c := info.Client; c != nil {
				b = appendField(w, b, "client_cert_subject", c.Subject)
				b = appendField(w, b, "client_cert_sha256", c.SHA256)
				if id := c.SPIFFEID(); id != "" {
					b = appendField(w, b, "client_spiffe_id", id)
				}
			}
		}
		if err != nil {
			b = appendField(w, b, "err", err.Error())
		}
		return b
	})
}

// reject writes the line of a request the server refused itself
// (malformed, too large): the client, the status and why.
func (w *lineWriter) reject(remote net.Addr, status int, err error) {
	w.line(remote, func(b []byte) []byte {
		b = w.int(b, "status", int64(status))
		return appendField(w, b, "err", err.Error())
	})
}

// line appends one line to the log's buffer under its lock: the common
// head (time, level, message, listener, client), what fill adds, the end.
// A closed log takes nothing.
func (w *lineWriter) line(client net.Addr, fill func(b []byte) []byte) {
	a := w.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	b, start := w.begin(a.buf)
	b = fill(w.addr(b, "client", client))
	a.buf = w.end(b, start)
}

// begin starts a line at the end of b: the time, level, message and
// listener, as slog writes them.
func (w *lineWriter) begin(b []byte) ([]byte, int) {
	start := len(b)
	now := time.Now()
	if w.json {
		b = append(b, `{"time":"`...)
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, `","level":"INFO","msg":"access"`...)
	} else {
		b = append(b, "time="...)
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, " level=INFO msg=access"...)
	}
	return appendField(w, b, "listener", w.listener), start
}

// end finishes the line; a line that would take the buffer past
// maxBuffered is dropped.
func (w *lineWriter) end(b []byte, start int) []byte {
	if w.json {
		b = append(b, '}')
	}
	b = append(b, '\n')
	if len(b) > maxBuffered {
		return b[:start]
	}
	return b
}

func (w *lineWriter) key(b []byte, k string) []byte {
	if w.json {
		b = append(b, ',', '"')
		b = append(b, k...)
		return append(b, '"', ':')
	}
	b = append(b, ' ')
	b = append(b, k...)
	return append(b, '=')
}

func (w *lineWriter) int(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(w.key(b, k), v, 10)
}

// addr writes an address; a TCP one without making a string of it first.
func (w *lineWriter) addr(b []byte, k string, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		b = w.key(b, k)
		if w.json {
			b = append(b, '"')
		}
		ap := ta.AddrPort()
		b = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b) // as TCPAddr.String
		if w.json {
			b = append(b, '"')
		}
		return b
	}
	s := ""
	if a != nil {
		s = a.String()
	}
	return appendField(w, b, k, s)
}

// appendField writes k and the text v, quoted as the format needs.
func appendField[T string | []byte](w *lineWriter, b []byte, k string, v T) []byte {
	b = w.key(b, k)
	if w.json {
		return appendJSON(b, v)
	}
	return appendText(b, v)
}

// appendText writes v bare when it can be, else quoted with Go escapes (as
// slog's text handler does): when it is empty or holds a space, '=', '"',
// a control character, or bytes that are not printable UTF-8.
func appendText[T string | []byte](b []byte, v T) []byte {
	bare := len(v) > 0
	for i := 0; i < len(v) && bare; i++ {
		c := v[i]
		bare = c > ' ' && c < 0x7f && c != '=' && c != '"'
	}
	if bare {
		return append(b, v...)
	}
	return appendQuoted(b, v, false)
}

// appendJSON writes v as a JSON string; bytes that are not UTF-8 become
// U+FFFD, as encoding/json does.
func appendJSON[T string | []byte](b []byte, v T) []byte {
	return appendQuoted(b, v, true)
}

// appendQuoted writes v in double quotes with the escapes of a JSON string
// (json) or of a Go string literal: the two share quote, backslash and
// \n \r \t, and differ on control bytes (\u00XX or \xXX), DEL (Go escapes
// it) and non-UTF-8 or unprintable bytes (U+FFFD for JSON, \xXX for Go).
func appendQuoted[T string | []byte](b []byte, v T, json bool) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		n := 1
		switch {
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(string(v[i:min(i+utf8.UTFMax, len(v))]))
			switch {
			case json && r == utf8.RuneError && size == 1:
				b = append(b, `\ufffd`...)
			case json || r != utf8.RuneError && unicode.IsPrint(r):
				b = append(b, v[i:i+size]...)
				n = size
			default:
				b = appendHex(append(b, '\\', 'x'), c)
			}
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < ' ' && json:
			b = appendHex(append(b, `\u00`...), c)
		case c < ' ' || c == 0x7f && !json:
			b = appendHex(append(b, '\\', 'x'), c)
		default:
			b = append(b, c)
		}
		i += n
	}
	return append(b, '"')
}

// appendHex writes c in two hex digits.
func appendHex(b []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	return append(b, hex[c>>4], hex[c&0xf])
}
