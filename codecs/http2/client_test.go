package http2_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	xhttp2 "golang.org/x/net/http2"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// h2cClient is Go's own HTTP/2 client (golang.org/x/net/http2) speaking
// h2c with prior knowledge.
func h2cClient() *http.Client {
	return &http.Client{Transport: &xhttp2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestGoClientGet(t *testing.T) {
	addr, _ := serveH2C(t, http2.Config{})
	cl := h2cClient()
	for range 3 {
		resp, err := cl.Get("http://" + addr + "/")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "HTTP/2.0", resp.Proto)
		require.Equal(t, respBody, body)
		require.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	}
}

// A request body larger than both windows, sent by many streams at once:
// it flows only as the server consumes it, and comes back whole, with the
// request's trailers as the response's.
func TestGoClientEchoConcurrentWithTrailers(t *testing.T) {
	addr, _ := serveH2C(t, http2.Config{StreamWindow: 64 << 10, ConnWindow: 128 << 10})
	cl := h2cClient()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := bytes.Repeat([]byte{byte('a' + i)}, 300<<10+i)
			req, _ := http.NewRequest("POST", "http://"+addr+"/echo", io.NopCloser(bytes.NewReader(payload)))
			req.Trailer = http.Header{"X-Checksum": nil}
			req.ContentLength = -1
			go func() {}()
			req.Trailer.Set("X-Checksum", "sum-"+string(rune('a'+i)))
			resp, err := cl.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, payload) {
				errs <- io.ErrUnexpectedEOF
				return
			}
			if v := resp.Trailer.Get("X-Checksum"); v != "sum-"+string(rune('a'+i)) {
				errs <- &trailerErr{v}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

type trailerErr struct{ got string }

func (e *trailerErr) Error() string { return "trailer: got " + e.got }

func TestGoClientStatus(t *testing.T) {
	addr, _ := serveH2C(t, http2.Config{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Respond-Status", "404")
	resp, err := h2cClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Proto, "HTTP/2"))
}
