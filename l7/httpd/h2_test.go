package httpd_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	xhttp2 "golang.org/x/net/http2"

	"github.com/penstock-proxy/penstock/l7/httpd"
)

// h2c is Go's HTTP/2 client with prior knowledge over cleartext.
func h2c() *http.Client {
	return &http.Client{Transport: &xhttp2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// The same port serves HTTP/1.1 and, to a client that opens with the
// HTTP/2 preface, HTTP/2; the same handler answers both.
func TestH2PriorKnowledgeSamePort(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: hello})
	resp, err := h2c().Get("http://" + addr + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)
	require.Equal(t, 200, resp.StatusCode)
	resp1, err := http.Get("http://" + addr + "/")
	require.NoError(t, err)
	body1, _ := io.ReadAll(resp1.Body)
	resp1.Body.Close()
	require.Equal(t, "HTTP/1.1", resp1.Proto)
	require.Equal(t, body1, body)
}

// Many concurrent streams on one connection, each echoing a body larger
// than the stream window through the handler's backpressure (PauseBody
// when the response is not writable, ResumeBody on drain).
func TestH2EchoConcurrent(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: echo})
	cl := h2c()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := bytes.Repeat([]byte{byte('A' + i%26)}, 700<<10+i)
			resp, err := cl.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, payload) {
				errs <- io.ErrShortBuffer
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// Request trailers reach the handler; response trailers reach the client.
func TestH2Trailers(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		var n int
		x.ReadBody(func(p []byte, end bool) {
			n += len(p)
			if !end {
				return
			}
			var sum string
			for _, f := range x.Trailers() {
				if string(f.Name) == "x-sum" {
					sum = string(f.Value)
				}
			}
			_ = x.WriteHead(200, httpd.Field{Name: []byte("Trailer"), Value: []byte("X-Got")})
			_, _ = x.Write([]byte("ok"))
			_ = x.End(httpd.Field{Name: []byte("X-Got"), Value: []byte(sum)})
		})
	})})
	req, _ := http.NewRequest("POST", "http://"+addr+"/", io.NopCloser(strings.NewReader("some body")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Sum": []string{"42"}}
	resp, err := h2c().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "ok", string(body))
	require.Equal(t, "42", resp.Trailer.Get("X-Got"))
}

// curl, built on nghttp2, with prior knowledge.
func TestH2Curl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	addr := start(t, &httpd.Server{Handler: echo})
	cmd := exec.Command("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "--data-binary", "@-",
		"-o", "-", "-w", "\n%{http_version} %{http_code}", "http://"+addr+"/")
	cmd.Stdin = strings.NewReader(strings.Repeat("0123456789", 100000))
	out, err := cmd.Output()
	require.NoError(t, err)
	i := bytes.LastIndexByte(out, '\n')
	require.Equal(t, "2 200", string(out[i+1:]))
	require.Equal(t, strings.Repeat("0123456789", 100000), string(out[:i]))
}

// h2spec against the HTTP/2 server on the event loop: every case passes,
// default and strict.
func TestH2specServer(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		t.Skip("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (.ci/run does)")
	}
	// An HTTP/2-only port: on one that serves HTTP/1.1 too, h2spec's
	// "invalid connection preface" is a malformed HTTP/1.1 request and gets
	// a 400, which h2spec cannot read as a frame (its only failure there).
	addr := start(t, &httpd.Server{Handler: echoOrHello, DisableHTTP1: true})
	host, port, _ := net.SplitHostPort(addr)
	for _, strict := range []bool{false, true} {
		args := []string{"-h", host, "-p", port, "-o", "3"}
		if strict {
			args = append(args, "-S")
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
		require.NotNil(t, m, "h2spec output:\n%s", out)
		t.Logf("h2spec strict=%v: %s", strict, m[0])
		if m[4] != "0" || err != nil {
			i := strings.Index(string(out), "Failures:")
			t.Errorf("h2spec strict=%v:\n%s", strict, string(out)[max(i, 0):])
		}
	}
}

// echoOrHello answers a body-less request with hello's text and echoes a
// body.
var echoOrHello = httpd.HandlerFunc(func(x *httpd.Exchange) {
	if x.BodyDone() {
		_ = x.Respond(200, []byte("hello world\n"), httpd.Field{Name: []byte("Content-Type"), Value: []byte("text/plain")})
		return
	}
	echo(x)
})
