package testutil

import (
	"bytes"
	"net"
	"testing"
)

// CannedHTTP is an HTTP/1.1 upstream that answers every request head it
// reads with one fixed response ("hello world\n", Content-Length 12),
// allocating nothing per request, so that an allocation count taken
// around a round trip through a proxy is the proxy's. It returns its
// address; it stops with the test.
func CannedHTTP(t testing.TB) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n")
	return TCPServer(t, func(c *net.TCPConn) {
		buf := make([]byte, 4096)
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			for {
				i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
				n = copy(buf, buf[i+4:n])
			}
		}
	})
}
