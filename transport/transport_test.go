package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/transport"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// echoHandler echoes on the loop and half-closes after EOF.
var echoHandler = transport.HandlerFuncs{
	Data: func(s transport.Stream, p []byte) int {
		_, _ = s.Write(p)
		return len(p)
	},
	ReadEOF: func(s transport.Stream) { _ = s.CloseWrite() },
}

func start(t *testing.T, ls ...transport.Listener) *transport.Transport {
	t.Helper()
	tr, err := transport.Start(transport.Options{Loops: 2, Logger: quiet()}, ls...)
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	return tr
}

func dialFrom(t *testing.T, src, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", addr)
}

// served reports whether the echo listener at addr answers a client from
// src, or closes it without a byte.
func served(t *testing.T, src, addr string) bool {
	t.Helper()
	c, err := dialFrom(t, src, addr)
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("ping"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping"
}

func TestFiltersCIDR(t *testing.T) {
	f := &transport.Filters{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/24")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")},
	}
	tr := start(t, transport.Listener{Addr: "tcp://0.0.0.0:0", Filters: f, Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.Addrs()[0].(*net.TCPAddr).Port)).String()
	require.True(t, served(t, "127.0.0.2", addr))
	require.False(t, served(t, "127.0.0.3", addr), "denied inside an allowed range")
	require.False(t, served(t, "127.0.1.1", addr), "outside the allow list")
	st := f.Stats()
	require.Equal(t, uint64(1), st.Rejected["denied"])
	require.Equal(t, uint64(1), st.Rejected["not_allowed"])
	require.Equal(t, uint64(1), st.Admitted)
}

func TestFiltersPerIPAndGlobalCaps(t *testing.T) {
	f := &transport.Filters{MaxConnsPerIP: 2, MaxConns: 3}
	tr := start(t, transport.Listener{Addr: "tcp://0.0.0.0:0", Filters: f, Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.Addrs()[0].(*net.TCPAddr).Port)).String()
	hold := func(src string) net.Conn {
		c, err := dialFrom(t, src, addr)
		require.NoError(t, err)
		_, _ = c.Write([]byte("x"))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 1))
		require.NoError(t, err, "held connection from %s must be served", src)
		return c
	}
	a1, a2 := hold("127.0.0.2"), hold("127.0.0.2")
	require.False(t, served(t, "127.0.0.2", addr), "third connection from one IP")
	b1 := hold("127.0.0.4")
	require.False(t, served(t, "127.0.0.5", addr), "over the global cap")
	a1.Close()
	require.Eventually(t, func() bool { return f.Stats().Open == 2 }, 2*time.Second, 10*time.Millisecond)
	require.True(t, served(t, "127.0.0.5", addr), "a slot freed by a close is reused")
	a2.Close()
	b1.Close()
	st := f.Stats()
	require.Equal(t, uint64(1), st.Rejected["per_ip_cap"])
	require.Equal(t, uint64(1), st.Rejected["global_cap"])
}

func TestFiltersRateAndFunc(t *testing.T) {
	var calls atomic.Int32
	f := &transport.Filters{
		RatePerIP: 0.001, BurstPerIP: 2,
		Func: func(ci transport.ConnInfo) error {
			calls.Add(1)
			if ci.Remote.Addr() == netip.MustParseAddr("127.0.0.9") {
				return errors.New("blocked by test")
			}
			return nil
		},
	}
	tr := start(t, transport.Listener{Addr: "tcp://0.0.0.0:0", Filters: f, Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(tr.Addrs()[0].(*net.TCPAddr).Port)).String()
	require.True(t, served(t, "127.0.0.6", addr))
	require.True(t, served(t, "127.0.0.6", addr))
	require.False(t, served(t, "127.0.0.6", addr), "burst of 2 used up")
	require.True(t, served(t, "127.0.0.7", addr), "another IP has its own bucket")
	require.False(t, served(t, "127.0.0.9", addr), "user func refuses")
	st := f.Stats()
	require.Equal(t, uint64(1), st.Rejected["per_ip_rate"])
	require.Equal(t, uint64(1), st.Rejected["func"])
}

// A handler that panics closes its own connection; others go on.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	before := transport.Panics()
	reported := make(chan string, 1)
	transport.SetPanicReporter(func(v any, stack []byte) { reported <- fmt.Sprint(v) + "\n" + string(stack) })
	defer transport.SetPanicReporter(nil)
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		s.SetHandler(transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				if string(p) == "boom" {
					panic("test panic")
				}
				_, _ = s.Write(p)
				return len(p)
			},
		})
	}})
	addr := tr.Addrs()[0].String()
	good, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer good.Close()
	bad, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer bad.Close()
	_, _ = bad.Write([]byte("boom"))
	_ = bad.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = bad.Read(make([]byte, 4))
	require.Error(t, err)
	require.Equal(t, before+1, transport.Panics(), "the panic is counted")
	report := <-reported
	require.Contains(t, report, "test panic\n")
	require.Contains(t, report, "transport_test.TestHandlerPanicClosesOnlyItsConnection", "with the stack of the panic")
	for range 3 {
		_, err = good.Write([]byte("fine"))
		require.NoError(t, err)
		buf := make([]byte, 4)
		_ = good.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadFull(good, buf)
		require.NoError(t, err)
		require.Equal(t, "fine", string(buf))
	}
}

// Shutdown stops accepting but lets a live connection finish its exchange.
func TestShutdownDrains(t *testing.T) {
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	require.NoError(t, err)
	addr := tr.Addrs()[0].String()
	live, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer live.Close()
	_, _ = live.Write([]byte("a"))
	_, err = io.ReadFull(live, make([]byte, 1))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- tr.Shutdown(ctx)
	}()
	require.Eventually(t, func() bool { return !served(t, "127.0.0.1", addr) }, 2*time.Second, 20*time.Millisecond,
		"new connections are refused while draining")
	_, err = live.Write([]byte("b"))
	require.NoError(t, err)
	buf := make([]byte, 1)
	_, err = io.ReadFull(live, buf)
	require.NoError(t, err, "a live connection keeps working while draining")
	require.NoError(t, live.(*net.TCPConn).CloseWrite())
	_, err = io.ReadAll(live)
	require.NoError(t, err)
	require.NoError(t, <-done, "shutdown finished before its deadline once the connection ended")
}

// Shutdown closes what is still open at its deadline.
func TestShutdownDeadline(t *testing.T) {
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	require.NoError(t, err)
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return tr.Active() == 1 }, 2*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, tr.Shutdown(ctx), context.DeadlineExceeded)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the stream was closed at the deadline")
}

func TestPeekRouterPrefix(t *testing.T) {
	reply := func(tag string) func(transport.Stream) {
		return func(s transport.Stream) {
			s.SetHandler(transport.HandlerFuncs{Data: func(s transport.Stream, p []byte) int {
				_, _ = s.Write(append([]byte(tag+":"), p...))
				_ = s.CloseWrite()
				return len(p)
			}})
		}
	}
	// The first route's matcher sees every peek (the routes after it wait
	// for its verdict) and tells the test how many bytes each one held.
	peeked := make(chan int, 64)
	ssh := transport.Prefix{[]byte("SSH-")}
	sshMatch := transport.MatcherFunc(func(p []byte) transport.Verdict {
		select {
		case peeked <- len(p):
		default:
		}
		return ssh.Match(p)
	})
	router := &transport.PeekRouter{
		Timeout: 300 * time.Millisecond,
		Routes: []transport.PeekRoute{
			{Name: "ssh", Match: sshMatch, Accept: reply("ssh")},
			{Name: "http", Match: transport.Prefix{[]byte("GET "), []byte("POST ")}, Accept: reply("http")},
		},
	}
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: router.Accept})
	addr := tr.Addrs()[0].String()
	ask := func(parts ...string) string {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		for len(peeked) > 0 {
			<-peeked // the last ask's
		}
		sent := 0
		for i, p := range parts {
			_, _ = c.Write([]byte(p))
			sent += len(p)
			if i == len(parts)-1 {
				break
			}
			// The router peeked at this part before the next is sent, so
			// the parts arrive in separate reads.
			for n := 0; n < sent; {
				select {
				case n = <-peeked:
				case <-time.After(10 * time.Second):
					t.Fatalf("the router never peeked at %q", p)
				}
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	require.Equal(t, "ssh:SSH-2.0-x", ask("SS", "H-2.0-x"), "a prefix split over two reads")
	require.Equal(t, "http:GET /", ask("GET /"))
	require.Equal(t, "", ask("HELO"), "no route: closed")
	require.Equal(t, "", ask("GE"), "undecided at the timeout: closed")
}

// TLS is routed by SNI to the right backend without being terminated: the
// client completes a real handshake with the backend that owns the name.
func TestPeekRouterSNI(t *testing.T) {
	certA, poolA := selfSigned(t, "a.example.org")
	certB, poolB := selfSigned(t, "b.example.net")
	backend := func(cert tls.Certificate) string {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		return l.Addr().String()
	}
	ga, err := l4.NewGroup("a", backend(certA))
	require.NoError(t, err)
	gb, err := l4.NewGroup("b", backend(certB))
	require.NoError(t, err)
	router := &transport.PeekRouter{Routes: []transport.PeekRoute{
		{Name: "a", Match: transport.SNI{Names: []string{"*.example.org"}}, Accept: (&l4.TCPRelay{Upstreams: ga, Logger: quiet()}).Accept},
		{Name: "b", Match: transport.SNI{Names: []string{"b.example.net"}}, Accept: (&l4.TCPRelay{Upstreams: gb, Logger: quiet()}).Accept},
	}}
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: router.Accept})
	addr := tr.Addrs()[0].String()
	for _, tc := range []struct {
		name string
		pool *x509.CertPool
	}{{"a.example.org", poolA}, {"b.example.net", poolB}} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.name, RootCAs: tc.pool})
		require.NoError(t, err, tc.name)
		require.Equal(t, tls.X25519MLKEM768, c.ConnectionState().CurveID, "post-quantum key exchange passes through")
		_, err = c.Write([]byte("hi"))
		require.NoError(t, err)
		buf := make([]byte, 2)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		c.Close()
	}
	_, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "c.example.com", InsecureSkipVerify: true})
	require.Error(t, err, "an unknown name is closed")
}

func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTimerOnLoop(t *testing.T) {
	loop := transport.NewSerialLoop()
	fired := make(chan time.Duration, 4)
	startAt := time.Now()
	var tm *transport.Timer
	loop.Execute(func() {
		tm = transport.AfterFunc(loop, 50*time.Millisecond, func() { fired <- time.Since(startAt) })
		tm.Reset(150 * time.Millisecond)
	})
	select {
	case d := <-fired:
		require.GreaterOrEqual(t, d, 150*time.Millisecond, "Reset moved the deadline")
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
	loop.Execute(func() {
		tm.Reset(30 * time.Millisecond)
		tm.Stop()
	})
	select {
	case <-fired:
		t.Fatal("a stopped timer fired")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestUDPListenerEcho(t *testing.T) {
	addr := "udp://" + testutil.FreePort(t, "udp")
	tr := start(t, transport.Listener{Addr: addr, Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	c, err := net.Dial("udp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("dgram"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "dgram", string(buf[:n]))
}

// A parked stream whose socket reaches TCP_CLOSE (we sent FIN, then the
// peer sent the rest and FIN) is read out on resume instead of being
// re-enrolled, which gnet cannot do for a closed socket.
func TestParkedStreamReachesClose(t *testing.T) {
	got := make(chan string, 1)
	tr := start(t, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		var buf []byte
		s.SetHandler(transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				if len(buf) == 0 {
					s.PauseRead()
					_ = s.CloseWrite()
					transport.AfterFunc(s.Loop(), 300*time.Millisecond, s.ResumeRead)
				}
				buf = append(buf, p...)
				return len(p)
			},
			ReadEOF: func(transport.Stream) { got <- string(buf) },
		})
	}})
	c, err := net.Dial("tcp", tr.Addrs()[0].String())
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("first"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the stream's CloseWrite reached the client")
	_, _ = c.Write([]byte(" second"))
	c.Close()
	select {
	case s := <-got:
		require.Equal(t, "first second", s)
	case <-time.After(5 * time.Second):
		t.Fatal("no EOF after resume")
	}
}

// Every loop accepts on its own SO_REUSEPORT socket; with port 0 they all
// share the one port the transport picked, TCP and UDP alike, and the kernel
// spreads the connections over the loops.
func TestPortZeroSharedByLoops(t *testing.T) {
	var mu sync.Mutex
	loops := map[transport.Loop]int{}
	accept := func(s transport.Stream) {
		mu.Lock()
		loops[s.Loop()]++
		mu.Unlock()
		s.SetHandler(echoHandler)
	}
	tr := start(t,
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: accept},
		transport.Listener{Addr: "udp://127.0.0.1:0", Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	tcpAddr, udpAddr := tr.Addrs()[0].String(), tr.Addrs()[1].String()
	require.NotEqual(t, 0, tr.Addrs()[0].(*net.TCPAddr).Port)
	require.NotEqual(t, 0, tr.Addrs()[1].(*net.UDPAddr).Port)
	for i := range 40 {
		require.True(t, served(t, "127.0.0.1", tcpAddr), "connection %d", i)
	}
	mu.Lock()
	require.Len(t, loops, 2, "40 connections, all on one loop: %v", loops)
	mu.Unlock()

	c, err := net.Dial("udp", udpAddr)
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 16)
	got := ""
	for try := 0; try < 5 && got == ""; try++ {
		_, _ = c.Write([]byte("dgram"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			got = string(buf[:n])
		}
	}
	require.Equal(t, "dgram", got)
}

// Reset to an earlier deadline than the runtime timer is set for moves it;
// a Disarm followed by a Reset fires once, at the new deadline; a Disarmed
// timer never runs its func, though its runtime timer still fires.
func TestTimerDisarmAndEarlierReset(t *testing.T) {
	loop := transport.NewSerialLoop()
	fired := make(chan time.Duration, 4)
	var startAt time.Time
	var tm *transport.Timer
	loop.Execute(func() {
		startAt = time.Now()
		tm = transport.AfterFunc(loop, time.Hour, func() { fired <- time.Since(startAt) })
		tm.Reset(40 * time.Millisecond) // earlier than the hour: must move
	})
	select {
	case d := <-fired:
		require.GreaterOrEqual(t, d, 40*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("an earlier Reset did not move the timer")
	}
	loop.Execute(func() {
		startAt = time.Now()
		tm.Reset(30 * time.Millisecond)
		tm.Disarm()
		tm.Reset(120 * time.Millisecond) // later than the runtime timer
	})
	select {
	case d := <-fired:
		require.GreaterOrEqual(t, d, 120*time.Millisecond, "fired at the old, earlier deadline")
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire after Disarm and Reset")
	}
	loop.Execute(func() {
		tm.Reset(20 * time.Millisecond)
		tm.Disarm()
	})
	select {
	case <-fired:
		t.Fatal("a disarmed timer ran its func")
	case <-time.After(150 * time.Millisecond):
	}
	loop.Execute(tm.Stop)
}

// Many Timers on one loop share its heap: each armed one fires once, not
// before its last deadline; stopped and disarmed ones never fire; Resets
// to earlier and later times are honoured.
func TestTimerHeapMany(t *testing.T) {
	loop := transport.NewSerialLoop()
	const n = 300
	type rec struct {
		due   time.Time
		fired atomic.Int32
		late  atomic.Bool
	}
	recs := make([]*rec, n)
	timers := make([]*transport.Timer, n)
	wantFire := make([]bool, n)
	var wg sync.WaitGroup
	setup := make(chan struct{})
	loop.Execute(func() {
		defer close(setup)
		for i := range n {
			r := &rec{}
			recs[i] = r
			timers[i] = transport.NewTimer(loop, func() {
				if time.Now().Before(r.due) {
					r.late.Store(true) // fired early: recorded as a failure
				}
				if r.fired.Add(1) == 1 {
					wg.Done()
				}
			})
			d := time.Duration(20+(i*37)%150) * time.Millisecond
			timers[i].Reset(time.Hour) // filed late first
			switch i % 5 {
			case 0: // stopped
				timers[i].Stop()
			case 1: // disarmed
				timers[i].Disarm()
			case 2: // moved later after an earlier schedule
				timers[i].Reset(d / 2)
				wantFire[i] = true
			default:
				wantFire[i] = true
			}
			if wantFire[i] {
				wg.Add(1)
				r.due = time.Now().Add(d) // read before Reset: the deadline is no earlier
				timers[i].Reset(d)
			}
		}
	})
	<-setup
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("not every armed timer fired")
	}
	// A negative check, so a sleep: every armed deadline has passed, and
	// this leaves a wrong extra fire (of a stopped, disarmed or moved
	// timer) time to show; nothing signals that none will come.
	time.Sleep(300 * time.Millisecond)
	for i, r := range recs {
		if wantFire[i] {
			require.EqualValues(t, 1, r.fired.Load(), "timer %d", i)
			require.False(t, r.late.Load(), "timer %d fired before its deadline", i)
		} else {
			require.EqualValues(t, 0, r.fired.Load(), "timer %d was stopped or disarmed", i)
		}
	}
	loop.Execute(func() {
		for _, tm := range timers {
			tm.Stop()
		}
	})
}

// An IPv6 listener on port 0 with several loops gets one port too.
func TestPortZeroIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	ln.Close()
	tr := start(t, transport.Listener{Addr: "tcp://[::1]:0", Accept: func(s transport.Stream) { s.SetHandler(echoHandler) }})
	addr := tr.Addrs()[0].String()
	require.NotEqual(t, 0, tr.Addrs()[0].(*net.TCPAddr).Port)
	for range 10 {
		require.True(t, served(t, "::1", addr))
	}
}

// Stop closes every open stream with ErrStopped, whether gnet still holds
// its connection (an idle stream), not any more (a parked stream), or not
// for reading (a stream still writing after the client's FIN).
func TestStopReachesEveryStream(t *testing.T) {
	var mu sync.Mutex
	closed := map[string]error{}
	ready := make(chan string, 3)
	loops := make(chan transport.Loop, 3)
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()}, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		loops <- s.Loop()
		var kind string
		s.SetHandler(transport.HandlerFuncs{
			Data: func(s transport.Stream, p []byte) int {
				kind = string(p)
				if kind == "park" {
					s.PauseRead()
				}
				ready <- kind
				return len(p)
			},
			ReadEOF: func(transport.Stream) { ready <- kind + "-eof" },
			Closed: func(_ transport.Stream, err error) {
				mu.Lock()
				closed[kind] = err
				mu.Unlock()
			},
		})
	}})
	require.NoError(t, err)
	addr := tr.Addrs()[0].String()
	for _, kind := range []string{"idle", "park", "halfclosed"} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte(kind))
		require.NoError(t, err)
		want := kind
		if kind == "halfclosed" {
			require.Equal(t, kind, <-ready)
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			want = kind + "-eof"
		}
		select {
		case got := <-ready:
			require.Equal(t, want, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	// The park stream's PauseRead, in OnData, has its gnet connection
	// closed as that callback returns, in the same turn of the loop: once a
	// func queued now has run, the stream is parked.
	loop := <-loops
	parked := make(chan struct{})
	require.True(t, loop.Execute(func() { close(parked) }))
	select {
	case <-parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop never ran a queued func")
	}
	tr.Stop()
	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"idle", "park", "halfclosed"} {
		err, ok := closed[kind]
		require.True(t, ok, "the %s stream saw OnClose", kind)
		require.ErrorIs(t, err, transport.ErrStopped, kind)
	}
}
