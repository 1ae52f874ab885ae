package httpproxy_test

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/internal/testutil"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

var h2cClient = testutil.H2CClient

// HTTP/2 clients through the proxy to an HTTP/1.1 upstream: the request
// arrives as HTTP/1.1 with its authority as Host, without te or any
// connection-specific field; cookies split by HTTP/2 arrive as one field;
// bodies stream both ways on many streams at once.
func TestH2ToH1(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	var hosts []string
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		hosts = append(hosts, r.Host+" "+r.Proto)
		mu.Unlock()
		w.Header().Set("X-Up", "ok")
		_, _ = io.Copy(w, r.Body)
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	cl := h2cClient()

	req, _ := http.NewRequest("GET", "http://"+addr+"/a?b=c", nil)
	req.Header.Set("Te", "trailers")
	req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	resp, err := cl.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "HTTP/2.0", resp.Proto)
	require.Equal(t, "ok", resp.Header.Get("X-Up"))
	mu.Lock()
	require.Equal(t, addr+" HTTP/1.1", hosts[0])
	require.Empty(t, seen[0].Get("Te"))
	require.Equal(t, []string{"a=1; b=2"}, seen[0].Values("Cookie"), "one Cookie field (RFC 9113 §8.2.3)")
	mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := bytes.Repeat([]byte{byte('a' + i)}, 500<<10)
			resp, err := cl.Post("http://"+addr+"/up", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && !bytes.Equal(got, payload) {
				err = io.ErrShortBuffer
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// An upstream that fails in the middle of one response resets that
// client stream alone: another stream on the same HTTP/2 connection goes
// on to its end.
func TestH2UpstreamFailureResetsOnlyItsStream(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write([]byte("only the beginning"))
			w.(http.Flusher).Flush()
			hj, _, _ := w.(http.Hijacker).Hijack()
			hj.Close()
			return
		}
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "slow and whole")
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr())})
	cl := h2cClient()
	okDone := make(chan string, 1)
	go func() {
		resp, err := cl.Get("http://" + addr + "/ok")
		if err != nil {
			okDone <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			okDone <- err.Error()
			return
		}
		okDone <- string(b)
	}()
	time.Sleep(50 * time.Millisecond) // /ok is in flight on the connection
	resp, err := cl.Get("http://" + addr + "/fail")
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err, "the failed response is cut short")
	select {
	case got := <-okDone:
		require.Equal(t, "slow and whole", got, "the other stream was not disturbed")
	case <-time.After(10 * time.Second):
		t.Fatal("the other stream never finished")
	}
}
