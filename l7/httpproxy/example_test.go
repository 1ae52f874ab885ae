package httpproxy_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/penstock-proxy/penstock/transport"
)

// serve runs p on a loopback port and returns its address and a stop func.
func serve(p *httpproxy.Proxy) (string, func()) {
	srv := &httpd.Server{Handler: p, Logger: slog.New(slog.DiscardHandler)}
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: slog.New(slog.DiscardHandler)},
		transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: srv.Accept})
	if err != nil {
		log.Fatal(err)
	}
	return tr.Addrs()[0].String(), tr.Stop
}

func show(url string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
}

// A RequestFilter answers health checks itself, and an
// UpstreamRequestFilter tags what goes upstream. Both run on the event
// loop and must not block.
func ExampleProxy() {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s with X-Tenant %s", r.URL.Path, r.Header.Get("X-Tenant"))
	}))
	defer up.Close()
	g, err := l4.NewGroup("app", strings.TrimPrefix(up.URL, "http://"))
	if err != nil {
		log.Fatal(err)
	}
	p := &httpproxy.Proxy{
		Upstreams: g,
		Logger:    slog.New(slog.DiscardHandler),
		RequestFilter: func(s *httpproxy.Session) bool {
			if string(s.X.Req.Path) != "/healthz" {
				return false
			}
			_ = s.X.Respond(200, []byte("ok"))
			return true
		},
		UpstreamRequestFilter: func(s *httpproxy.Session) {
			s.UpstreamHeader.Set("X-Tenant", "blue")
		},
	}
	addr, stop := serve(p)
	defer stop()
	show("http://" + addr + "/healthz")
	show("http://" + addr + "/orders")
	// Output:
	// 200 ok
	// 200 upstream saw /orders with X-Tenant blue
}

// ErrorWhileProxy asks for a retry of every upstream failure, but the
// policy grants no more than MaxReuseRetries; Logging sees the failure's
// source and kind.
func ExampleProxy_errorWhileProxy() {
	// An upstream that closes every connection without answering.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()
	g, err := l4.NewGroup("app", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	logged := make(chan string, 1)
	p := &httpproxy.Proxy{
		Upstreams:       g,
		Logger:          slog.New(slog.DiscardHandler),
		MaxReuseRetries: 2,
		ErrorWhileProxy: func(s *httpproxy.Session, err error) bool { return true },
		Logging: func(s *httpproxy.Session, err error) {
			var e *httpproxy.Error
			if errors.As(err, &e) {
				logged <- fmt.Sprintf("status %d, %s failure (%s), %d retries", s.Status, e.Source, e.Kind, s.Retries)
			}
		},
	}
	addr, stop := serve(p)
	defer stop()
	show("http://" + addr + "/")
	fmt.Println(<-logged)
	// Output:
	// 502 Bad Gateway
	// status 502, upstream failure (closed), 2 retries
}
