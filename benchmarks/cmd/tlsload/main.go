// Command tlsload is the TLS client, plaintext sink and report tool of
// benchmarks/tls.sh, the side-by-side TLS benchmark. Every subcommand is
// bounded in count and time and prints at most one JSON line (or the table).
//
//	tlsload conns -addr A -c 32 -d 5s -pid P [-groups x25519|default] [-resume]
//	    one HTTPS request per new TLS 1.3 connection: connections/s, proxy
//	    CPU per connection, resumed handshakes, negotiated group and cipher
//	tlsload stream -addr A -bytes 2GiB -pid P
//	    one TLS connection streaming to a plaintext sink behind the proxy:
//	    MB/s and proxy CPU per GB
//	tlsload idle -addr A -n 3000 -pid P
//	    memory per idle TLS keep-alive connection (one request each)
//	tlsload sink -addr A
//	    the plaintext backend of `stream`: reads a length, discards that
//	    many bytes, answers one byte
//	tlsload wait -addr A -mode http|stream -cert F
//	    until the proxy answers over TLS with the certificate in F
//	tlsload cpu -pid P
//	    CPU seconds of P and its descendants
//	tlsload table -raw raw.jsonl [-machine m.md] [-out latest.md]
//
// The client side never verifies the certificate chain (InsecureSkipVerify;
// the TLS 1.3 CertificateVerify signature is still checked), so that the
// load generator, which shares its CPU with the backend, spends what it can
// on load; `wait` checks that the proxy serves the run's certificate.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/benchmarks/internal/bench"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsload conns|stream|idle|sink|wait|cpu|table [flags]")
		os.Exit(2)
	}
	bench.RaiseNoFile()
	cmds := map[string]func([]string) error{
		"conns":  conns,
		"stream": stream,
		"idle":   idle,
		"sink":   sink,
		"wait":   wait,
		"cpu":    bench.CPUCommand,
		"table":  table,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "tlsload: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "tlsload %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// ---- /proc ------------------------------------------------------------------

// ---- TLS client --------------------------------------------------------------

// clientConfig is the client side of every test: TLS 1.3 only, ALPN
// http/1.1, SNI localhost. groups "x25519" offers X25519 alone; "default"
// leaves crypto/tls's list (X25519MLKEM768 first, with an X25519 share too).
func clientConfig(groups string, cache tls.ClientSessionCache) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         "localhost",
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: cache,
	}
	switch groups {
	case "x25519":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	case "default", "":
	default:
		return nil, fmt.Errorf("unknown -groups %q (x25519 or default)", groups)
	}
	return cfg, nil
}

func dialTLS(addr string, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	c.SetDeadline(time.Now().Add(timeout))
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func request(close bool) []byte {
	s := "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tlsload\r\nAccept: */*\r\n"
	if close {
		s += "Connection: close\r\n"
	}
	return []byte(s + "\r\n")
}

// get sends req and reads one response, which must be 200 "hello world\n";
// keep says it must not announce the connection's close.
func get(c net.Conn, br *bufio.Reader, req []byte, keep bool, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(b) != "hello world\n" {
		return fmt.Errorf("unexpected response: %d %q", resp.StatusCode, b)
	}
	if keep && resp.Close {
		return errors.New("the proxy closes the connection after the response")
	}
	return nil
}

// ---- conns: a new TLS connection per request ---------------------------------

type connStats struct {
	ok, resumed, errs atomic.Int64
	mu                sync.Mutex
	groups, ciphers   map[string]int64
	firstErr          atomic.Value
}

func (s *connStats) note(cs tls.ConnectionState) {
	s.mu.Lock()
	s.groups[cs.CurveID.String()]++
	s.ciphers[tls.CipherSuiteName(cs.CipherSuite)]++
	s.mu.Unlock()
}

func conns(args []string) error {
	fs := flag.NewFlagSet("conns", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:28013", "HTTPS proxy address")
	conc := fs.Int("c", 32, "concurrent clients")
	dur := fs.Duration("d", 5*time.Second, "measured duration")
	warm := fs.Duration("warm", time.Second, "unmeasured warm-up before it")
	maxConns := fs.Int64("n", 2_000_000, "stop after this many connections in all")
	pid := fs.Int("pid", 0, "proxy PID: its CPU (with descendants') is read around the measured part")
	groups := fs.String("groups", "x25519", "key exchange groups the client offers: x25519 or default")
	resume := fs.Bool("resume", false, "resume sessions: each client keeps the tickets it gets (ClientSessionCache)")
	fs.Parse(args)
	if *conc < 1 || *dur <= 0 {
		return errors.New("bad -c or -d")
	}
	req := request(true)
	st := &connStats{groups: map[string]int64{}, ciphers: map[string]int64{}}
	var counting atomic.Bool
	var stop atomic.Bool
	var started atomic.Int64
	var wg sync.WaitGroup
	hardStop := time.Now().Add(*warm + *dur + 30*time.Second)
	for w := 0; w < *conc; w++ {
		var cache tls.ClientSessionCache
		if *resume {
			cache = tls.NewLRUClientSessionCache(4)
		}
		cfg, err := clientConfig(*groups, cache)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(nil, 1024)
			for !stop.Load() && started.Add(1) <= *maxConns && time.Now().Before(hardStop) {
				c, err := dialTLS(*addr, cfg, 5*time.Second)
				if err == nil {
					br.Reset(c)
					err = get(c, br, req, false, 5*time.Second)
					cs := c.ConnectionState()
					c.Close()
					if err == nil && counting.Load() {
						st.ok.Add(1)
						if cs.DidResume {
							st.resumed.Add(1)
						}
						st.note(cs)
					}
				}
				if err != nil && counting.Load() {
					st.errs.Add(1)
					st.firstErr.CompareAndSwap(nil, err.Error())
				}
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(*warm)
	counting.Store(true)
	c0, cerr := bench.TreeCPU(*pid)
	t0 := time.Now()
	n0 := st.ok.Load()
	time.Sleep(*dur)
	n1 := st.ok.Load()
	el := time.Since(t0).Seconds()
	c1, cerr1 := bench.TreeCPU(*pid)
	stop.Store(true)
	wg.Wait()
	n := n1 - n0
	out := map[string]any{
		"conns":         n,
		"seconds":       bench.Round(el, 3),
		"conns_per_s":   bench.Round(float64(n)/el, 1),
		"errors":        st.errs.Load(),
		"resumed":       st.resumed.Load(),
		"clients":       *conc,
		"groups_offer":  *groups,
		"resume_tried":  *resume,
		"group":         top(st.groups),
		"cipher":        top(st.ciphers),
		"all_completed": st.ok.Load(),
	}
	if ok := st.ok.Load(); ok > 0 {
		out["resumed_pct"] = bench.Round(100*float64(st.resumed.Load())/float64(ok), 1)
	}
	if *pid > 0 && cerr == nil && cerr1 == nil && n > 0 {
		out["proxy_cpu_s"] = bench.Round(c1-c0, 2)
		out["proxy_cpu_us_per_conn"] = bench.Round((c1-c0)*1e6/float64(n), 1)
	}
	if e := st.firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	bench.Emit(os.Stdout, out)
	if n == 0 {
		return errors.New("no connection completed")
	}
	return nil
}

// top names the most frequent key, with the others' counts if there are any.
func top(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	if len(l) == 0 {
		return ""
	}
	if len(l) == 1 {
		return l[0].k
	}
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%s x%d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}

// ---- stream: TLS in, plaintext out --------------------------------------------

// streamOnce sends n bytes over c (an 8-byte length, then the bytes) and
// waits for the sink's one-byte answer.
func streamOnce(c net.Conn, n int64, chunk []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(n))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	for left := n; left > 0; {
		b := chunk
		if int64(len(b)) > left {
			b = b[:left]
		}
		w, err := c.Write(b)
		left -= int64(w)
		if err != nil {
			return err
		}
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return fmt.Errorf("waiting for the sink's answer: %w", err)
	}
	if ack[0] != 'k' {
		return fmt.Errorf("the sink answered %q", ack[0])
	}
	return nil
}

func stream(args []string) error {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:28013", "TLS-terminating TCP proxy in front of `tlsload sink`")
	size := fs.String("bytes", "2GiB", "bytes to stream (suffix GiB, MiB, KiB, GB, MB)")
	chunkSize := fs.Int("chunk", 256<<10, "bytes per Write")
	pid := fs.Int("pid", 0, "proxy PID")
	limit := fs.Duration("timeout", 120*time.Second, "give up after this long")
	fs.Parse(args)
	n, err := bench.ParseSize(*size)
	if err != nil || n <= 0 {
		return fmt.Errorf("bad -bytes %q", *size)
	}
	cfg, _ := clientConfig("x25519", nil)
	c, err := dialTLS(*addr, cfg, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*limit))
	chunk := make([]byte, *chunkSize)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	c0, cerr := bench.TreeCPU(*pid)
	t0 := time.Now()
	err = streamOnce(c, n, chunk)
	el := time.Since(t0).Seconds()
	c1, cerr1 := bench.TreeCPU(*pid)
	if err != nil {
		return err
	}
	cs := c.ConnectionState()
	out := map[string]any{
		"bytes":   n,
		"seconds": bench.Round(el, 3),
		"mb_s":    bench.Round(float64(n)/el/1e6, 1),
		"group":   cs.CurveID.String(),
		"cipher":  tls.CipherSuiteName(cs.CipherSuite),
	}
	if *pid > 0 && cerr == nil && cerr1 == nil {
		out["proxy_cpu_s"] = bench.Round(c1-c0, 2)
		out["proxy_cpu_ms_per_gb"] = bench.Round((c1-c0)*1e3/(float64(n)/1e9), 1)
	}
	bench.Emit(os.Stdout, out)
	return nil
}

// sink serves `stream`: per connection, any number of (8-byte length, that
// many bytes) messages, each answered with "k" once read whole.
func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:28003", "listen address")
	life := fs.Duration("life", 4*time.Hour, "exit after this long")
	connIdle := fs.Duration("conn-idle", 2*time.Minute, "close a connection idle this long")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	time.AfterFunc(*life, func() { os.Exit(0) })
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 256<<10)
			var hdr [8]byte
			for {
				c.SetReadDeadline(time.Now().Add(*connIdle))
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				left := int64(binary.BigEndian.Uint64(hdr[:]))
				for left > 0 {
					c.SetReadDeadline(time.Now().Add(*connIdle))
					b := buf
					if int64(len(b)) > left {
						b = b[:left]
					}
					r, err := c.Read(b)
					left -= int64(r)
					if err != nil {
						return
					}
				}
				if _, err := c.Write([]byte{'k'}); err != nil {
					return
				}
			}
		}()
	}
}

// ---- idle: memory per idle TLS keep-alive connection ---------------------------

type idleConn struct {
	c  *tls.Conn
	br *bufio.Reader
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:28013", "HTTPS proxy address")
	n := fs.Int("n", 3000, "idle client connections to hold")
	pid := fs.Int("pid", 0, "proxy PID: VmRSS of it and its descendants is read (required)")
	conc := fs.Int("c", 64, "concurrent connections while warming up and opening")
	warmReqs := fs.Int("warm", 8, "requests per warm-up connection")
	settle := fs.Duration("settle", time.Second, "wait before each RSS reading")
	limit := fs.Duration("timeout", 90*time.Second, "time limit to open the connections")
	fs.Parse(args)
	if *pid <= 0 || *n < 1 || *conc < 1 {
		return errors.New("-pid, -n and -c are required")
	}
	cfg, _ := clientConfig("x25519", nil)
	req := request(false)
	open1 := func() (*idleConn, error) {
		c, err := dialTLS(*addr, cfg, 5*time.Second)
		if err != nil {
			return nil, err
		}
		h := &idleConn{c: c, br: bufio.NewReaderSize(c, 1024)}
		if err := get(c, h.br, req, true, 5*time.Second); err != nil {
			c.Close()
			return nil, err
		}
		return h, nil
	}
	// Warm-up: conc connections at once, a few requests each, closed.
	var wg sync.WaitGroup
	var warmErr atomic.Value
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := open1()
			for i := 1; err == nil && i < *warmReqs; i++ {
				err = get(h.c, h.br, req, true, 5*time.Second)
			}
			if h != nil {
				h.c.Close()
			}
			if err != nil {
				warmErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	if e := warmErr.Load(); e != nil {
		return fmt.Errorf("warm-up: %v", e)
	}
	time.Sleep(*settle)
	before, nproc, err := bench.TreeRSS(*pid)
	if err != nil {
		return err
	}
	cs := make([]*idleConn, *n)
	var next, fails atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(*limit)
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || time.Now().After(deadline) {
					return
				}
				h, err := open1()
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				cs[i] = h
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, h := range cs {
		if h != nil {
			open++
		}
	}
	time.Sleep(*settle)
	after, _, err := bench.TreeRSS(*pid)
	if err != nil {
		return err
	}
	// Did the proxy keep them? One more request on each.
	var alive atomic.Int64
	next.Store(0)
	aliveDeadline := time.Now().Add(*limit)
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || time.Now().After(aliveDeadline) {
					return
				}
				if h := cs[i]; h != nil && get(h.c, h.br, req, true, 5*time.Second) == nil {
					alive.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for _, h := range cs {
		if h != nil {
			h.c.Close()
		}
	}
	out := map[string]any{
		"conns":      open,
		"errors":     fails.Load(),
		"rss_before": before,
		"rss_after":  after,
		"processes":  nproc,
		"alive":      alive.Load(),
	}
	if open > 0 {
		out["bytes_per_conn"] = bench.Round(float64(after-before)/float64(open), 0)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	if a := alive.Load(); a < int64(open) {
		out["note"] = fmt.Sprintf("only %d of %d idle connections answered a second request after the measurement", a, open)
	}
	bench.Emit(os.Stdout, out)
	if open == 0 {
		return errors.New("no connection could be opened")
	}
	return nil
}

// ---- wait ------------------------------------------------------------------------

func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:28013", "proxy address")
	mode := fs.String("mode", "http", "http: GET / answers \"hello world\\n\"; stream: 1 KiB reaches the sink")
	certFile := fs.String("cert", "", "the certificate (PEM) the proxy must serve")
	limit := fs.Duration("t", 5*time.Second, "give up after this long")
	fs.Parse(args)
	var want []byte
	if *certFile != "" {
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return fmt.Errorf("%s: no PEM block", *certFile)
		}
		want = blk.Bytes
	}
	cfg, _ := clientConfig("x25519", nil)
	deadline := time.Now().Add(*limit)
	var last error
	for time.Now().Before(deadline) {
		c, err := dialTLS(*addr, cfg, time.Second)
		if err == nil {
			cs := c.ConnectionState()
			switch {
			case want != nil && (len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want)):
				err = errors.New("the proxy serves another certificate")
			case *mode == "stream":
				c.SetDeadline(time.Now().Add(2 * time.Second))
				err = streamOnce(c, 1024, make([]byte, 1024))
			default:
				err = get(c, bufio.NewReader(c), request(false), false, 2*time.Second)
			}
			c.Close()
			if err == nil {
				return nil
			}
			if want != nil && err.Error() == "the proxy serves another certificate" {
				return err
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", *addr, *limit, last)
}
