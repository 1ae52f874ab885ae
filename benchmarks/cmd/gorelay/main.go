// Command gorelay is the Go standard-library baseline for Penstock's L4
// benchmarks: the relay a Go programmer writes without an event loop.
//
// TCP mode: one goroutine pair per connection, each doing io.Copy between two
// *net.TCPConn (which the runtime turns into splice(2) on Linux), then
// CloseWrite to forward the half-close; both sockets close when both
// directions are done.
//
// UDP mode: one listening socket; one upstream socket per client address
// (a map plus one goroutine per session reading replies), sessions expire
// after -udp-idle without traffic from the upstream.
//
// Run it with GOMAXPROCS=1 to compare it with single-threaded proxies.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	mode := flag.String("mode", "tcp", "tcp or udp")
	listen := flag.String("listen", "127.0.0.1:20400", "listen address")
	to := flag.String("to", "127.0.0.1:20001", "backend address (comma-separated list: round robin, TCP only)")
	udpIdle := flag.Duration("udp-idle", 30*time.Second, "UDP session idle timeout")
	flag.Parse()

	var err error
	switch *mode {
	case "tcp":
		err = serveTCP(*listen, strings.Split(*to, ","))
	case "udp":
		err = serveUDP(*listen, *to, *udpIdle)
	default:
		err = fmt.Errorf("unknown -mode %q (want tcp or udp)", *mode)
	}
	if err != nil {
		log.Printf("gorelay: %v", err)
		os.Exit(1)
	}
}

func serveTCP(listen string, backends []string) error {
	addrs := make([]*net.TCPAddr, 0, len(backends))
	for _, b := range backends {
		a, err := net.ResolveTCPAddr("tcp", strings.TrimSpace(b))
		if err != nil {
			return err
		}
		addrs = append(addrs, a)
	}
	la, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		return err
	}
	ln, err := net.ListenTCP("tcp", la)
	if err != nil {
		return err
	}
	var next atomic.Uint64
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: back off a little instead of spinning.
			log.Printf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		backend := addrs[int(next.Add(1)-1)%len(addrs)]
		go relayTCP(c, backend)
	}
}

func relayTCP(client *net.TCPConn, backend *net.TCPAddr) {
	up, err := net.DialTCP("tcp", nil, backend)
	if err != nil {
		client.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipe(up, client)
	}()
	pipe(client, up)
	wg.Wait()
	client.Close()
	up.Close()
}

// pipe copies src to dst until EOF or error and forwards the half-close.
// io.Copy with *net.TCPConn on both sides uses splice(2) on Linux.
func pipe(dst, src *net.TCPConn) {
	_, err := io.Copy(dst, src)
	if err != nil {
		// Reset or similar: make the other direction stop too.
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}

type udpSession struct {
	up       *net.UDPConn
	lastSeen atomic.Int64 // unix nanos of the last client datagram
}

func serveUDP(listen, backend string, idle time.Duration) error {
	ba, err := net.ResolveUDPAddr("udp", backend)
	if err != nil {
		return err
	}
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return err
	}
	ln, err := net.ListenUDP("udp", la)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		sessions = make(map[netip.AddrPort]*udpSession)
	)
	buf := make([]byte, 65536)
	for {
		n, client, err := ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			log.Printf("udp read: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		mu.Lock()
		s := sessions[client]
		if s == nil {
			up, err := net.DialUDP("udp", nil, ba)
			if err != nil {
				mu.Unlock()
				log.Printf("udp dial: %v", err)
				continue
			}
			s = &udpSession{up: up}
			s.lastSeen.Store(time.Now().UnixNano())
			sessions[client] = s
			go func() {
				udpReplies(ln, s, client, idle)
				mu.Lock()
				delete(sessions, client)
				mu.Unlock()
				up.Close()
			}()
		}
		mu.Unlock()
		s.lastSeen.Store(time.Now().UnixNano())
		s.up.Write(buf[:n]) // loss is allowed in UDP
	}
}

// udpReplies relays upstream datagrams back to client until no client
// datagram has arrived for idle. The read deadline is re-armed only when it
// fires, so the per-datagram path has no timer work.
func udpReplies(ln *net.UDPConn, s *udpSession, client netip.AddrPort, idle time.Duration) {
	buf := make([]byte, 65536)
	s.up.SetReadDeadline(time.Now().Add(idle))
	for {
		n, err := s.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				last := time.Unix(0, s.lastSeen.Load())
				if time.Since(last) < idle {
					s.up.SetReadDeadline(last.Add(idle))
					continue
				}
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ECONNREFUSED from an ICMP error: keep the session
		}
		ln.WriteToUDPAddrPort(buf[:n], client)
	}
}
