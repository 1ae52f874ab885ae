package httpd_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
)

// A Server serves HTTP/1.1 on the streams of a transport listener. Its
// handler runs on the event loop and answers at once.
func ExampleServer() {
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		_ = x.Respond(200, fmt.Appendf(nil, "hello, %s\n", x.Req.Path[1:]),
			httpd.Field{Name: []byte("Content-Type"), Value: []byte("text/plain")})
	})}
	tr, err := transport.Start(transport.Options{Loops: 1}, transport.Listener{
		Addr:   "tcp://127.0.0.1:0",
		Accept: srv.Accept,
		Drain:  srv.Drain, // Shutdown closes idle keep-alive connections at once
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Stop()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + tr.Addrs()[0].String() + "/penstock")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	fmt.Print(string(body))
	// Output:
	// 200 OK text/plain
	// hello, penstock
}

// FromNetHTTP serves an existing net/http handler unchanged: each request
// runs it in a goroutine of its own, with the body streamed to it.
func ExampleFromNetHTTP() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upper", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, strings.ToUpper(string(b)))
	})
	srv := &httpd.Server{Handler: httpd.FromNetHTTP(mux)}
	tr, err := transport.Start(transport.Options{Loops: 1}, transport.Listener{
		Addr:   "tcp://127.0.0.1:0",
		Accept: srv.Accept,
		Drain:  srv.Drain,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Stop()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	base := "http://" + tr.Addrs()[0].String()
	resp, err := client.Post(base+"/upper", "text/plain", strings.NewReader("hello, penstock"))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Print(string(body))

	resp, err = client.Get(base + "/elsewhere")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK
	// HELLO, PENSTOCK
	// 404 Not Found
}
