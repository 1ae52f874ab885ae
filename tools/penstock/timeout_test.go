package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
)

// --read-timeout bounds the wait for upstream body bytes and
// --client-body-timeout the wait for request body bytes: an upstream
// that stops after 3 of 100 body bytes has the client's connection closed,
// and a client that does the same gets 408.
func TestDaemonHTTPReadAndBodyTimeouts(t *testing.T) {
	// The whole request body first, then 3 of 100 bytes.
	up := testutil.StallingHTTPServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
	listen := testutil.FreePort(t, "tcp")
	d := startDaemon(t, "http", "--listen", listen, "--to", up,
		"--read-timeout", "300ms", "--client-body-timeout", "300ms", "--loops", "1")
	d.waitLog(t, "msg=listening")

	ask := func(req string) (*http.Response, []byte, error) {
		c, err := net.Dial("tcp", listen)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
		_, err = io.WriteString(c, req)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	resp, body, err := ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "abc", string(body))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	resp, _, _ = ask("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
	require.Equal(t, 408, resp.StatusCode)
}
