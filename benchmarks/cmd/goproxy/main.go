// Command goproxy is the Go standard-library baseline for Penstock's HTTP/1.1
// reverse-proxy benchmark (benchmarks/http.sh): the proxy a Go programmer
// writes with net/http/httputil.ReverseProxy, an http.Server in front and an
// http.Transport behind that keeps upstream connections alive.
//
//	goproxy -listen 127.0.0.1:26014 -to 127.0.0.1:26001
//
// Defaults otherwise: no X-Forwarded-For (nginx and HAProxy do not add it
// unless told to), no HTTP/2, no compression negotiation. Run it with
// GOMAXPROCS=1 to compare it with single-threaded proxies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:26014", "address to listen on")
	to := flag.String("to", "127.0.0.1:26001", "upstream host:port (plain HTTP/1.1)")
	idle := flag.Int("idle-per-host", 128, "idle upstream connections kept (Transport.MaxIdleConnsPerHost)")
	flag.Parse()
	if err := run(*listen, *to, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "goproxy:", err)
		os.Exit(1)
	}
}

func newProxy(to string, idlePerHost int) (*httputil.ReverseProxy, error) {
	target, err := url.Parse("http://" + to)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("bad -to %q", to)
	}
	tr := &http.Transport{
		Proxy: nil, // never an HTTP_PROXY from the environment
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no overall limit
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       120 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
		},
		Transport: tr,
		ErrorLog:  log.New(os.Stderr, "goproxy: ", log.LstdFlags),
	}, nil
}

func run(listen, to string, idlePerHost int) error {
	rp, err := newProxy(to, idlePerHost)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(os.Stderr, "goproxy: ", log.LstdFlags),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
