// Command l4load is the load generator and backend set for Penstock's L4 relay
// benchmarks (see benchmarks/README.md). Each subcommand prints at most one
// JSON line on stdout; diagnostics go to stderr. Every loop is bounded both by
// a count and by time, so nothing runs forever even if a proxy misbehaves.
//
//	l4load echo-server -tcp ADDR -udp ADDR     TCP and UDP echo backend
//	l4load slowsink -addr ADDR -rate 4MiB      TCP backend that reads slowly
//	l4load connrate -addr ADDR -c 32 -d 5s     connect, 16 B echo, close
//	l4load idle -addr ADDR -n 3000 -pid PID    proxy RSS per idle relayed conn
//	l4load udp -addr ADDR -size 64 -d 5s       echoed datagrams per second
//	l4load push -addr ADDR -d 8s -pid PID      push into a slow sink, max RSS
//	l4load wait -tcp ADDR | -udp ADDR          wait until a relay answers
//	l4load othercpu                            CPU ticks used by other processes
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/penstock-proxy/penstock/benchmarks/internal/bench"
)

const usage = `usage: l4load <subcommand> [flags]
subcommands: echo-server, slowsink, connrate, idle, udp, push, wait, othercpu
run "l4load <subcommand> -h" for flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	bench.RaiseNoFile()
	cmds := map[string]func([]string) error{
		"echo-server": echoServer,
		"slowsink":    slowSink,
		"connrate":    connRate,
		"idle":        idle,
		"udp":         udpLoad,
		"push":        push,
		"wait":        waitReady,
		"othercpu":    otherCPU,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "l4load: unknown subcommand %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "l4load %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "l4load: "+format+"\n", args...)
}

// ---- /proc helpers -------------------------------------------------------

// cpuMeter measures the CPU a process used between start and stop; a zero pid
// disables it.
type cpuMeter struct {
	pid   int
	start float64
	ok    bool
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	if pid > 0 {
		v, err := bench.ProcCPU(pid)
		m.start, m.ok = v, err == nil
		if err != nil {
			logf("cannot read CPU of pid %d: %v", pid, err)
		}
	}
	return m
}

func (m *cpuMeter) stop() (float64, bool) {
	if !m.ok {
		return 0, false
	}
	v, err := bench.ProcCPU(m.pid)
	if err != nil {
		return 0, false
	}
	return v - m.start, true
}

// ---- backends ------------------------------------------------------------

func echoServer(args []string) error {
	fs := flag.NewFlagSet("echo-server", flag.ExitOnError)
	tcpAddr := fs.String("tcp", "127.0.0.1:20001", "TCP echo listen address (empty: none)")
	udpAddr := fs.String("udp", "127.0.0.1:20001", "UDP echo listen address (empty: none)")
	life := fs.Duration("life", 4*time.Hour, "exit after this long")
	connIdle := fs.Duration("conn-idle", 10*time.Minute, "close a TCP connection idle this long")
	maxConns := fs.Int64("max-conns", 1<<40, "exit after accepting this many TCP connections")
	fs.Parse(args)

	if *tcpAddr != "" {
		ln, err := net.Listen("tcp", *tcpAddr)
		if err != nil {
			return err
		}
		go func() {
			for n := int64(0); n < *maxConns; n++ {
				c, err := ln.Accept()
				if err != nil {
					if isTemporary(err) {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					logf("echo accept: %v", err)
					os.Exit(1)
				}
				go echoConn(c, *connIdle)
			}
			logf("echo-server: accepted %d connections, exiting", *maxConns)
			os.Exit(0)
		}()
	}
	if *udpAddr != "" {
		ua, err := net.ResolveUDPAddr("udp", *udpAddr)
		if err != nil {
			return err
		}
		pc, err := net.ListenUDP("udp", ua)
		if err != nil {
			return err
		}
		pc.SetReadBuffer(4 << 20)
		pc.SetWriteBuffer(4 << 20)
		// Up to 64 datagrams per recvmmsg and sendmmsg: the echo shares
		// the load core, and must not be what limits the UDP measure.
		b, err := newDgramBatch(pc, 64, 65536, true)
		if err != nil {
			return err
		}
		go func() {
			for {
				n, err := b.recv()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				_ = b.send(n, func(i int) int { return int(b.hdrs[i].n) })
			}
		}()
	}
	return waitLife(*life)
}

// waitLife blocks until the lifetime is over or the process is signalled.
func waitLife(life time.Duration) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(life):
		logf("lifetime %v over, exiting", life)
	}
	return nil
}

func isTemporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EAGAIN)
}

func echoConn(c net.Conn, idle time.Duration) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	lastDeadline := time.Time{}
	for {
		// Refresh the idle deadline at most once a second: no timer work
		// per read on the hot path.
		if now := time.Now(); now.Sub(lastDeadline) > time.Second {
			c.SetDeadline(now.Add(idle))
			lastDeadline = now
		}
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

func slowSink(args []string) error {
	fs := flag.NewFlagSet("slowsink", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20003", "listen address")
	rateS := fs.String("rate", "4MiB", "read rate per connection, bytes/s (suffix KiB, MiB)")
	life := fs.Duration("life", 4*time.Hour, "exit after this long")
	connLife := fs.Duration("conn-life", 5*time.Minute, "close a connection after this long")
	fs.Parse(args)
	rate, err := bench.ParseSize(*rateS)
	if err != nil || rate <= 0 {
		return fmt.Errorf("bad -rate %q", *rateS)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if isTemporary(err) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				logf("slowsink accept: %v", err)
				os.Exit(1)
			}
			go func() {
				defer c.Close()
				start := time.Now()
				end := start.Add(*connLife)
				c.SetDeadline(end)
				buf := make([]byte, 64<<10)
				var total int64
				for time.Now().Before(end) {
					n, err := c.Read(buf)
					total += int64(n)
					if err != nil {
						return
					}
					// Pace: sleep until the time this many bytes are due.
					due := start.Add(time.Duration(float64(total) / float64(rate) * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
			}()
		}
	}()
	return waitLife(*life)
}

// ---- load generators -----------------------------------------------------

var payload16 = []byte("penstock-l4load!") // 16 bytes

func echoOnce(c net.Conn) error {
	if _, err := c.Write(payload16); err != nil {
		return err
	}
	var buf [16]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return err
	}
	if !bytes.Equal(buf[:], payload16) {
		return errors.New("echo mismatch")
	}
	return nil
}

func connRate(args []string) error {
	fs := flag.NewFlagSet("connrate", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20101", "relay address")
	conc := fs.Int("c", 32, "concurrent connections")
	dur := fs.Duration("d", 5*time.Second, "duration")
	maxN := fs.Int64("n", 50_000_000, "stop after this many connections")
	timeout := fs.Duration("timeout", 2*time.Second, "per-connection timeout")
	pid := fs.Int("pid", 0, "proxy PID, to report proxy CPU per connection")
	fs.Parse(args)

	var ok, fails, started atomic.Int64
	var firstErr atomic.Value
	d := net.Dialer{Timeout: *timeout}
	cpu := startCPU(*pid)
	start := time.Now()
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && started.Add(1) <= *maxN {
				c, err := d.Dial("tcp", *addr)
				if err == nil {
					c.SetDeadline(time.Now().Add(*timeout))
					err = echoOnce(c)
					c.Close()
				}
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					time.Sleep(time.Millisecond) // don't spin on a dead relay
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	out := map[string]any{
		"conns_per_s": bench.Round(float64(ok.Load())/el, 1),
		"conns":       ok.Load(),
		"errors":      fails.Load(),
		"concurrency": *conc,
		"duration_s":  bench.Round(el, 3),
	}
	if s, ok2 := cpu.stop(); ok2 && ok.Load() > 0 {
		out["proxy_cpu_s"] = bench.Round(s, 2)
		out["proxy_cpu_us_per_conn"] = bench.Round(s*1e6/float64(ok.Load()), 1)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	emit(out)
	return nil
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20101", "relay address (in front of an echo server)")
	n := fs.Int("n", 3000, "idle connections to hold")
	pid := fs.Int("pid", 0, "proxy PID whose VmRSS to read (required)")
	settle := fs.Duration("settle", time.Second, "wait before reading RSS")
	conc := fs.Int("c", 64, "concurrent dials while opening")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit to open the connections")
	fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}

	// Warm-up: a few relayed connections opened and closed, so one-time
	// allocations (buffers pools, first-connection setup) are not counted.
	for i := 0; i < 32; i++ {
		c, err := net.DialTimeout("tcp", *addr, 2*time.Second)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		err = echoOnce(c)
		c.Close()
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	time.Sleep(*settle)
	before, err := bench.ProcStatusBytes(*pid, "VmRSS")
	if err != nil {
		return err
	}

	conns := make([]net.Conn, *n)
	var fails atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(*timeout)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || time.Now().After(deadline) {
					return
				}
				c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					err = echoOnce(c)
					c.SetDeadline(time.Time{})
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	time.Sleep(*settle)
	after, err := bench.ProcStatusBytes(*pid, "VmRSS")
	if err != nil {
		return err
	}
	// Check that the relays are still alive after the wait: one echo on a
	// sample of connections.
	alive := 0
	for i := 0; i < len(conns); i += max(1, len(conns)/20) {
		if c := conns[i]; c != nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if echoOnce(c) == nil {
				alive++
			}
		}
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	out := map[string]any{
		"conns":        open,
		"errors":       fails.Load(),
		"rss_before":   before,
		"rss_after":    after,
		"alive_sample": alive,
	}
	if open > 0 {
		out["bytes_per_conn"] = bench.Round(float64(after-before)/float64(open), 0)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	emit(out)
	if open == 0 {
		return errors.New("no connection could be opened")
	}
	return nil
}

func udpLoad(args []string) error {
	fs := flag.NewFlagSet("udp", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20104", "relay address (in front of a UDP echo server)")
	size := fs.Int("size", 64, "datagram size")
	dur := fs.Duration("d", 5*time.Second, "duration")
	window := fs.Int("window", 64, "outstanding datagrams per client socket")
	sockets := fs.Int("sockets", 4, "client sockets (each is one relay session)")
	lossTimeout := fs.Duration("loss-timeout", 200*time.Millisecond, "no echo for this long: outstanding datagrams count as lost and the window reopens")
	maxN := fs.Int64("n", 1_000_000_000, "stop after this many echoes per socket")
	pid := fs.Int("pid", 0, "proxy PID, to report proxy CPU per datagram")
	fs.Parse(args)
	if *size < 1 || *size > 65000 || *window < 1 || *sockets < 1 {
		return errors.New("bad -size, -window or -sockets")
	}
	ra, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		return err
	}
	conns := make([]*net.UDPConn, *sockets)
	for i := range conns {
		c, err := net.DialUDP("udp", nil, ra)
		if err != nil {
			return err
		}
		c.SetReadBuffer(1 << 20)
		defer c.Close()
		conns[i] = c
	}

	var sent, recv, timeouts, errs atomic.Int64
	cpu := startCPU(*pid)
	start := time.Now()
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *net.UDPConn) {
			defer wg.Done()
			// Whole windows go out with one sendmmsg and echoes come in
			// with recvmmsg, so the client costs little per datagram.
			sendB, err := newDgramBatch(c, *window, *size, false)
			if err != nil {
				errs.Add(1)
				return
			}
			for _, b := range sendB.bufs {
				copy(b, bytes.Repeat([]byte{'u'}, *size))
			}
			recvB, err := newDgramBatch(c, *window, *size+1024, false)
			if err != nil {
				errs.Add(1)
				return
			}
			inflight := 0
			var lsent, lrecv, lto, lerr int64
			topUp := func() {
				k := *window - inflight
				if k <= 0 {
					return
				}
				if err := sendB.send(k, func(int) int { return *size }); err != nil {
					lerr++
					return
				}
				inflight += k
				lsent += int64(k)
			}
			arm := func(now time.Time) time.Time {
				dl := now.Add(*lossTimeout)
				if dl.After(end) {
					dl = end
				}
				c.SetReadDeadline(dl)
				return now
			}
			topUp()
			lastArm := arm(time.Now())
			for lrecv < *maxN {
				k, err := recvB.recv()
				now := time.Now()
				if !now.Before(end) {
					if err == nil {
						lrecv += int64(k)
					}
					break
				}
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						lto++
						inflight = 0 // all outstanding datagrams are lost
					} else {
						lerr++ // e.g. ECONNREFUSED from ICMP
						time.Sleep(time.Millisecond)
					}
					topUp()
					lastArm = arm(now)
					continue
				}
				lrecv += int64(k)
				inflight = max(inflight-k, 0)
				topUp()
				// Re-arm the loss timer only now and then: a timeout
				// fires after at least 3/4 of -loss-timeout without echo.
				if now.Sub(lastArm) > *lossTimeout/4 {
					lastArm = arm(now)
				}
			}
			sent.Add(lsent)
			recv.Add(lrecv)
			timeouts.Add(lto)
			errs.Add(lerr)
		}(c)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	out := map[string]any{
		"dgrams_per_s": bench.Round(float64(recv.Load())/el, 1),
		"sent":         sent.Load(),
		"received":     recv.Load(),
		"timeouts":     timeouts.Load(),
		"errors":       errs.Load(),
		"size":         *size,
		"sockets":      *sockets,
		"window":       *window,
		"duration_s":   bench.Round(el, 3),
	}
	if s, ok := cpu.stop(); ok && recv.Load() > 0 {
		out["proxy_cpu_s"] = bench.Round(s, 2)
		out["proxy_cpu_us_per_dgram"] = bench.Round(s*1e6/float64(recv.Load()), 2)
	}
	emit(out)
	return nil
}

func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20103", "relay address (in front of slowsink)")
	dur := fs.Duration("d", 8*time.Second, "duration")
	pid := fs.Int("pid", 0, "proxy PID whose memory to sample (0: none)")
	chunk := fs.Int("chunk", 64<<10, "write size")
	maxBytes := fs.Int64("max-bytes", 64<<30, "stop after pushing this many bytes")
	rssCap := fs.Int64("rss-cap-mib", 1024, "stop pushing when the proxy's RSS exceeds this (protects the machine from a relay without backpressure)")
	fs.Parse(args)

	var hwmReset bool
	var startRSS int64
	if *pid > 0 {
		startRSS, _ = bench.ProcStatusBytes(*pid, "VmRSS")
		// Writing 5 to clear_refs resets the peak RSS (VmHWM) to the
		// current RSS, so earlier activity does not count.
		hwmReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", *pid), []byte("5"), 0) == nil
	}
	c, err := net.DialTimeout("tcp", *addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	end := start.Add(*dur)
	c.SetWriteDeadline(end)

	// Sample VmRSS every 50 ms as well, in case clear_refs is unavailable.
	var maxRSS atomic.Int64
	var capped atomic.Bool
	maxRSS.Store(startRSS)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if *pid <= 0 {
			return
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := bench.ProcStatusBytes(*pid, "VmRSS"); err == nil && v > maxRSS.Load() {
					maxRSS.Store(v)
					if v > *rssCap<<20 {
						capped.Store(true)
						c.SetWriteDeadline(time.Now()) // unblock the writer
					}
				}
			}
		}
	}()

	buf := bytes.Repeat([]byte{'p'}, *chunk)
	var total int64
	var werr error
	for total < *maxBytes && time.Now().Before(end) && !capped.Load() {
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			werr = err
			break
		}
	}
	el := time.Since(start).Seconds()
	// One more sample after the push, while the relay still holds the data.
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	out := map[string]any{
		"pushed_mib":    bench.Round(float64(total)/(1<<20), 1),
		"push_mib_s":    bench.Round(float64(total)/(1<<20)/el, 2),
		"duration_s":    bench.Round(el, 3),
		"start_rss_mib": bench.Round(float64(startRSS)/(1<<20), 1),
	}
	if *pid > 0 {
		m := maxRSS.Load()
		if cur, err := bench.ProcStatusBytes(*pid, "VmRSS"); err == nil && cur > m {
			m = cur
		}
		if hwmReset {
			if hwm, err := bench.ProcStatusBytes(*pid, "VmHWM"); err == nil && hwm > m {
				m = hwm
			}
		}
		out["max_rss_mib"] = bench.Round(float64(m)/(1<<20), 1)
		out["hwm_reset"] = hwmReset
		if capped.Load() {
			out["rss_capped"] = true
			out["note"] = fmt.Sprintf("stopped early: proxy RSS passed -rss-cap-mib %d", *rssCap)
		}
	}
	if werr != nil {
		var ne net.Error
		if !(errors.As(werr, &ne) && ne.Timeout()) {
			out["error"] = werr.Error()
		}
	}
	emit(out)
	return nil
}

func waitReady(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	tcpAddr := fs.String("tcp", "", "TCP address: wait until a connection succeeds")
	echo := fs.Bool("echo", false, "with -tcp: also require a 16-byte echo")
	udpAddr := fs.String("udp", "", "UDP address: wait until a datagram is echoed")
	limit := fs.Duration("t", 10*time.Second, "give up after this long")
	fs.Parse(args)
	end := time.Now().Add(*limit)
	var last error
	for tries := 0; tries < 100000 && time.Now().Before(end); tries++ {
		switch {
		case *tcpAddr != "":
			c, err := net.DialTimeout("tcp", *tcpAddr, time.Second)
			if err == nil {
				if *echo {
					c.SetDeadline(time.Now().Add(time.Second))
					err = echoOnce(c)
				}
				c.Close()
			}
			if err == nil {
				return nil
			}
			last = err
		case *udpAddr != "":
			c, err := net.Dial("udp", *udpAddr)
			if err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			_, err = c.Write(payload16)
			if err == nil {
				var b [64]byte
				var n int
				n, err = c.Read(b[:])
				if err == nil && !bytes.Equal(b[:n], payload16) {
					err = errors.New("udp echo mismatch")
				}
			}
			c.Close()
			if err == nil {
				return nil
			}
			last = err
		default:
			return errors.New("need -tcp or -udp")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", *limit, last)
}

// otherCPU prints the CPU clock ticks (1/100 s) that all processes outside
// this process group have used, including their reaped children: the
// difference of two readings is what other programs (a parallel build, a
// fuzzer) took from the machine in between. A process that exits between the
// readings is counted through its parent's cutime/cstime. Kernel threads are
// left out: on loopback, ksoftirqd mostly does the benchmark's own work.
func otherCPU(args []string) error {
	fs := flag.NewFlagSet("othercpu", flag.ExitOnError)
	pgid := fs.Int("pgid", syscall.Getpgrp(), "process group to leave out (default: ours, i.e. run.sh and everything it started)")
	fs.Parse(args)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var total int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state): ppid f[1], pgrp f[2], flags f[6],
		// utime f[11], stime f[12], cutime f[13], cstime f[14].
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pg, _ := strconv.Atoi(f[2])
		flags, _ := strconv.ParseUint(f[6], 10, 64)
		const pfKthread = 0x00200000
		if pid == 2 || ppid == 2 || flags&pfKthread != 0 || pg == *pgid {
			continue
		}
		for _, s := range f[11:15] {
			v, _ := strconv.ParseInt(s, 10, 64)
			total += v
		}
	}
	fmt.Println(total)
	return nil
}
