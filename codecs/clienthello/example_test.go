package clienthello_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/penstock-proxy/penstock/codecs"
	"github.com/penstock-proxy/penstock/codecs/clienthello"
)

// upstreams maps TLS server names to the upstream a relay forwards them to.
var upstreams = map[string]string{
	"api.example.org": "10.0.0.1:443",
	"www.example.org": "10.0.0.2:443",
}

// route peeks at a connection's first bytes, which arrive in chunks, and
// picks an upstream by SNI without consuming anything: the relay forwards
// the buffered bytes untouched once it has decided.
func route(chunks [][]byte, h *clienthello.Hello) (upstream string, peeked []byte) {
	var buf []byte
	for _, chunk := range chunks {
		buf = append(buf, chunk...)
		_, err := clienthello.Parse(buf, h)
		switch {
		case errors.Is(err, codecs.ErrNeedMore):
			continue // read more; the caller also bounds time and bytes
		case errors.Is(err, clienthello.ErrNotTLS):
			return "plaintext", buf // hand over to the next matcher
		case err != nil:
			return "reject", buf // malformed, oversized or not a ClientHello
		}
		// Compare without allocating; SNI() would copy.
		for name, addr := range upstreams {
			if strings.EqualFold(string(h.ServerName()), name) {
				return addr, buf
			}
		}
		return "default", buf
	}
	return "incomplete", buf
}

func ExampleParse() {
	var h clienthello.Hello // reuse one per event loop
	hello := firstFlight("API.example.org")
	chunks := [][]byte{hello[:1], hello[1:200], hello[200:]}
	upstream, peeked := route(chunks, &h)
	fmt.Println(upstream, len(peeked) == len(hello), h.KeySharePostQuantum())

	upstream, _ = route([][]byte{[]byte("GET / HTTP/1.1\r\n")}, &h)
	fmt.Println(upstream)
	// Output:
	// 10.0.0.1:443 true true
	// plaintext
}

// firstFlight returns the bytes a default crypto/tls client sends first.
func firstFlight(serverName string) []byte {
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		_ = tls.Client(client, &tls.Config{ServerName: serverName}).Handshake()
		client.Close()
	}()
	header := make([]byte, 5)
	if _, err := io.ReadFull(server, header); err != nil {
		panic(err)
	}
	record := make([]byte, int(header[3])<<8|int(header[4]))
	if _, err := io.ReadFull(server, record); err != nil {
		panic(err)
	}
	return append(header, record...)
}
