package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

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

	mu  sync.Mutex
	all map[string]*accessLog
}

// flushEvery bounds how long a logged line waits in memory.
const flushEvery = 200 * time.Millisecond

func newAccessLogs(format string, stdout, stderr io.Writer) *accessLogs {
	return &accessLogs{format: format, stdout: stdout, stderr: stderr, all: map[string]*accessLog{}}
}

// logger returns the logger of listener's access log lines to dest
// ("stdout", "stderr" or a file path, opened for appending).
func (l *accessLogs) logger(listener, dest string) (*slog.Logger, error) {
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
	h := slog.Handler(slog.NewTextHandler(a, nil))
	if l.format == "json" {
		h = slog.NewJSONHandler(a, nil)
	}
	return slog.New(h.WithAttrs([]slog.Attr{slog.String("listener", listener)})), nil
}

func (l *accessLogs) open(dest string) (*accessLog, error) {
	a := &accessLog{dest: dest, done: make(chan struct{}), stopped: make(chan struct{})}
	switch dest {
	case "stdout":
		a.w = l.stdout
	case "stderr":
		a.w = l.stderr
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

// accessLog is one destination: an io.Writer for slog handlers that only
// appends to memory, and a goroutine that writes it out.
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

// Write appends p to the buffer. It is what the slog handler calls, on the
// event loop, and never blocks on I/O.
func (a *accessLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	if !a.closed && len(a.buf)+len(p) <= maxBuffered {
		a.buf = append(a.buf, p...)
	}
	a.mu.Unlock()
	return len(p), nil
}

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

// logReject writes the line of a request the server refused itself
// (malformed, too large): the client and the status, no request fields.
func logReject(lg *slog.Logger, remote net.Addr, status int, err error) {
	client := ""
	if remote != nil {
		client = remote.String()
	}
	lg.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("client", client), slog.Int("status", status), slog.String("err", err.Error()))
}

// logRequest writes a proxied request's line: who asked for what, what the
// client got, from where, and how long it took.
func logRequest(lg *slog.Logger, s *httpproxy.Session, err error) {
	r := &s.X.Req
	attrs := make([]slog.Attr, 0, 14)
	client := ""
	if r.RemoteAddr != nil {
		client = r.RemoteAddr.String()
	}
	upstream := ""
	if s.Upstream != nil {
		upstream = s.Upstream.Addr
	}
	attrs = append(attrs,
		slog.String("client", client),
		slog.String("method", string(r.Method)),
		slog.String("host", string(r.Host)),
		slog.String("target", string(r.Target)),
		slog.Int("status", s.Status),
		slog.Int64("request_bytes", s.RequestBytes),
		slog.Int64("response_bytes", s.ResponseBytes),
		slog.Duration("duration", time.Since(s.Start)),
		slog.String("upstream", upstream),
		slog.Bool("reused", s.Reused),
		slog.Int("retries", s.Retries),
	)
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	lg.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}
