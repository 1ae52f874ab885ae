package httpd_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l7/httpd"
)

var h2c = testutil.H2CClient

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
	// An HTTP/2-only port: on one that serves HTTP/1.1 too, h2spec's
	// "invalid connection preface" is a malformed HTTP/1.1 request and gets
	// a 400, which h2spec cannot read as a frame (its only failure there).
	testutil.H2spec(t, start(t, &httpd.Server{Handler: echoOrHello, DisableHTTP1: true}))
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

// Drain on an HTTP/2 connection: GOAWAY with the last stream the server
// took, the stream in flight is answered, and the connection closes after
// it.
func TestH2Drain(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		if string(x.Req.Path) != "/slow" {
			hello(x)
			return
		}
		close(arrived)
		go func() {
			<-release
			x.Loop().Execute(func() { hello(x) })
		}()
	})}
	addr := start(t, srv)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	fr := xhttp2.NewFramer(nc, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_, _ = io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	require.NoError(t, fr.WriteSettings())
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/slow"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	require.NoError(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the handler")
	}
	srv.Drain()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var fast []byte // the body of stream 3
	readGoAway := func() *xhttp2.GoAwayFrame {
		for {
			f, err := fr.ReadFrame()
			require.NoError(t, err)
			switch f := f.(type) {
			case *xhttp2.GoAwayFrame:
				return f
			case *xhttp2.DataFrame:
				if f.StreamID == 3 {
					fast = append(fast, f.Data()...)
				}
			}
		}
	}
	// First the announcement: no stream refused yet (RFC 9113 6.8)...
	goaway := readGoAway()
	require.Equal(t, xhttp2.ErrCodeNo, goaway.ErrCode)
	require.EqualValues(t, 1<<31-1, goaway.LastStreamID)
	// ...so a request already on its way is still served...
	hb.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/fast"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	require.NoError(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}))
	// ...and the final GOAWAY names the last stream taken.
	goaway = readGoAway()
	require.Equal(t, xhttp2.ErrCodeNo, goaway.ErrCode)
	require.EqualValues(t, 3, goaway.LastStreamID)
	close(release)
	var status string
	var body []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			require.ErrorIs(t, err, io.EOF, "the connection closes after the last response")
			break
		}
		switch f := f.(type) {
		case *xhttp2.MetaHeadersFrame:
			if f.StreamID == 1 {
				status = f.PseudoValue("status")
			}
		case *xhttp2.DataFrame:
			if f.StreamID == 1 {
				body = append(body, f.Data()...)
			} else {
				fast = append(fast, f.Data()...)
			}
		}
	}
	require.Equal(t, "200", status)
	require.Equal(t, "GET /slow", string(body))
	require.Equal(t, "GET /fast", string(fast), "the stream sent after the first GOAWAY was served")
}

// A net/http handler (FromNetHTTP) serves HTTP/2 requests too: streaming
// request body, headers, trailers.
func TestH2FromNetHTTP(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: httpd.FromNetHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Len")
		w.Header().Set("X-Proto", r.Proto)
		n, _ := io.Copy(w, r.Body)
		w.Header().Set("X-Len", fmt.Sprint(n))
	}))})
	resp, err := h2c().Post("http://"+addr+"/", "text/plain", strings.NewReader(strings.Repeat("y", 500000)))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 500000, len(b))
	require.Equal(t, "HTTP/2.0", resp.Proto)
	require.Equal(t, "500000", resp.Trailer.Get("X-Len"))
}

// Rapid Reset against the server: the connection ends with
// ENHANCE_YOUR_CALM, the handler heard of every reset stream (OnAbort),
// the server counts it, and another connection is served meanwhile.
func TestH2RapidResetAgainstServer(t *testing.T) {
	var mu sync.Mutex
	aborts := 0
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		if string(x.Req.Path) == "/ok" {
			hello(x)
			return
		}
		x.OnAbort(func(error) { mu.Lock(); aborts++; mu.Unlock() })
	})}
	addr := start(t, srv)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	fr := xhttp2.NewFramer(nc, nc)
	_, _ = io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	require.NoError(t, fr.WriteSettings())
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/work"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	go func() { _, _ = io.Copy(io.Discard, nc) }()
	for id := uint32(1); id < 4000; id += 2 {
		if fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}) != nil ||
			fr.WriteRSTStream(id, xhttp2.ErrCodeCancel) != nil {
			break // the server closed the connection
		}
	}
	nc.Close() // the server lingers for the client's FIN otherwise
	resp, err := h2c().Get("http://" + addr + "/ok")
	require.NoError(t, err, "other connections are served")
	resp.Body.Close()
	require.Eventually(t, func() bool {
		st, conns := srv.HTTP2Stats()
		return st.Calmed == 1 && conns >= 1
	}, 10*time.Second, 10*time.Millisecond)
	st, _ := srv.HTTP2Stats()
	require.Greater(t, st.PeerResets, uint64(100))
	mu.Lock()
	require.EqualValues(t, st.PeerResets, aborts, "every reset stream's handler heard of it")
	mu.Unlock()
}

// A header block that never ends closes its connection after
// HeaderTimeout; a client that reads none of a large response is closed
// after SendTimeout, and its handler hears of it.
func TestH2SlowClients(t *testing.T) {
	aborted := make(chan error, 1)
	big := bytes.Repeat([]byte("b"), 32<<20)
	srv := &httpd.Server{HeaderTimeout: 300 * time.Millisecond, SendTimeout: 300 * time.Millisecond,
		Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
			x.OnAbort(func(err error) { aborted <- err })
			_ = x.WriteHead(200)
			var send func()
			send = func() {
				for len(big) > 0 && x.Writable() {
					n := min(len(big), 64<<10)
					_, _ = x.Write(big[:n])
					big = big[n:]
				}
				if len(big) == 0 {
					_ = x.End()
				}
			}
			x.OnDrained(send)
			send()
		})}
	addr := start(t, srv)
	open := func() (net.Conn, *xhttp2.Framer) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, _ = io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		fr := xhttp2.NewFramer(nc, nc)
		require.NoError(t, fr.WriteSettings())
		return nc, fr
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/big"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}

	nc, fr := open()
	defer nc.Close()
	require.NoError(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes()[:2]}))
	// The deadline only bounds the test: the close (EOF) must come
	// before it, whenever the timer fires.
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	require.NoError(t, err, "the server closed the connection")

	nc2, fr2 := open()
	defer nc2.Close()
	require.NoError(t, nc2.(*net.TCPConn).SetReadBuffer(16<<10))
	// A large window, so that flow control is not what stops the server.
	require.NoError(t, fr2.WriteWindowUpdate(0, 1<<30))
	require.NoError(t, fr2.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1<<31 - 1}))
	require.NoError(t, fr2.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}))
	select {
	case err := <-aborted:
		require.ErrorIs(t, err, httpd.ErrClientClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("a client that reads nothing was not cut off")
	}
}

// nghttp (nghttp2's client) with prior knowledge: several requests on one
// connection at once, one with a body, and the server's SETTINGS as it
// prints them.
func TestH2Nghttp(t *testing.T) {
	if _, err := exec.LookPath("nghttp"); err != nil {
		t.Skip("nghttp not installed: apt-get install -y nghttp2-client")
	}
	addr := start(t, &httpd.Server{Handler: echoOrHello})
	dir := t.TempDir()
	body := strings.Repeat("n", 300000)
	require.NoError(t, os.WriteFile(dir+"/body", []byte(body), 0o600))
	out, err := exec.Command("nghttp", "-nv", "-t", "10", "http://"+addr+"/a", "http://"+addr+"/b").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128")
	require.Equal(t, 2, strings.Count(string(out), ":status: 200"), "%s", out)
	out, err = exec.Command("nghttp", "-t", "10", "-d", dir+"/body", "http://"+addr+"/echo").CombinedOutput()
	require.NoError(t, err)
	require.Equal(t, body, string(out))
}

// Responses that do not read their request bodies, many on one
// connection: the bytes held for them go back to the connection's window,
// so the connection never stalls.
func TestH2UnreadBodiesReturnTheWindow(t *testing.T) {
	addr := start(t, &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		_ = x.Respond(200, []byte("early"))
	})})
	cl := h2c()
	body := bytes.Repeat([]byte("w"), 200<<10)
	for i := range 40 { // 8 MB in all, against a 1 MiB connection window
		resp, err := cl.Post("http://"+addr+"/", "application/octet-stream", bytes.NewReader(body))
		require.NoError(t, err, "request %d", i)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "early", string(b))
	}
}

// A stream whose client stops sending the body the handler reads gets 408
// and a reset after BodyTimeout, and its handler OnAbort with
// ErrBodyTimeout: it cannot hold the handler (and a proxy's upstream
// connection) for ever.
func TestH2BodyTimeout(t *testing.T) {
	aborted := make(chan error, 1)
	srv := &httpd.Server{BodyTimeout: 300 * time.Millisecond, Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		x.OnAbort(func(err error) { aborted <- err })
		x.ReadBody(func(p []byte, end bool) {
			if end {
				_ = x.Respond(200, nil)
			}
		})
	})}
	addr := start(t, srv)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	_, _ = io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	fr := xhttp2.NewFramer(nc, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	require.NoError(t, fr.WriteSettings())
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/up"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	require.NoError(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}))
	require.NoError(t, fr.WriteData(1, false, []byte("part of a body")))
	select {
	case err := <-aborted:
		require.ErrorIs(t, err, httpd.ErrBodyTimeout)
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled body never timed out")
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var status string
	var reset bool
	for !reset {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		switch f := f.(type) {
		case *xhttp2.MetaHeadersFrame:
			status = f.PseudoValue("status")
		case *xhttp2.RSTStreamFrame:
			reset = true
		}
	}
	require.Equal(t, "408", status)
	// The connection goes on: another request on it is served.
	hb.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	require.NoError(t, fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}))
	for {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		if h, ok := f.(*xhttp2.MetaHeadersFrame); ok && h.StreamID == 3 {
			require.Equal(t, "200", h.PseudoValue("status"))
			break
		}
	}
}
