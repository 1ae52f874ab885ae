package httpproxy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/l4"
	"github.com/penstock-proxy/penstock/l7/httpproxy"
)

// h2cBackend is Go's HTTP/2 server with prior knowledge on cleartext.
func h2cBackend(t *testing.T, h http.HandlerFunc) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// An echo upstream that reports its protocol and sends trailers.
func h2echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", "X-Up-Trailer")
	w.Header().Set("X-Up-Proto", r.Proto)
	n, _ := io.Copy(w, r.Body)
	w.Header().Set("X-Up-Trailer", fmt.Sprintf("%d:%s", n, r.Trailer.Get("X-Req-Trailer")))
}

func TestH2Upstreams(t *testing.T) {
	up := h2cBackend(t, h2echo)
	g := group(t, up)
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: httpproxy.H2C},
		Logging: func(s *httpproxy.Session, err error) {
			if err != nil {
				t.Logf("session error: %v", err)
			}
		}})

	for _, cl := range []struct {
		name string
		c    *http.Client
	}{{"h2 client", h2cClient()}, {"http/1.1 client", http.DefaultClient}} {
		t.Run(cl.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					payload := bytes.Repeat([]byte{byte('a' + i)}, 200<<10+i)
					req, _ := http.NewRequest("POST", "http://"+addr+"/echo", io.NopCloser(bytes.NewReader(payload)))
					req.ContentLength = -1
					req.Trailer = http.Header{"X-Req-Trailer": []string{"t" + fmt.Sprint(i)}}
					resp, err := cl.c.Do(req)
					if err != nil {
						errs <- err
						return
					}
					got, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case err != nil:
						errs <- err
					case !bytes.Equal(got, payload):
						errs <- fmt.Errorf("stream %d: body of %d bytes differs", i, len(got))
					case resp.Header.Get("X-Up-Proto") != "HTTP/2.0":
						errs <- fmt.Errorf("upstream spoke %q", resp.Header.Get("X-Up-Proto"))
					case resp.Trailer.Get("X-Up-Trailer") != fmt.Sprintf("%d:t%d", len(payload), i):
						errs <- fmt.Errorf("trailer %q", resp.Trailer.Get("X-Up-Trailer"))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		})
	}
}

// h2 over TLS by ALPN, and Auto with an upstream that only speaks
// HTTP/1.1 over TLS.
func TestH2UpstreamTLSAndAuto(t *testing.T) {
	be := httptest.NewUnstartedServer(http.HandlerFunc(h2echo))
	be.EnableHTTP2 = true
	be.StartTLS()
	t.Cleanup(be.Close)
	h1 := httptest.NewTLSServer(http.HandlerFunc(h2echo))
	t.Cleanup(h1.Close)

	for _, tc := range []struct {
		name, url string
		proto     httpproxy.Protocol
		want      string
	}{{"h2", be.URL, httpproxy.H2, "HTTP/2.0"}, {"auto to h2", be.URL, httpproxy.Auto, "HTTP/2.0"}, {"auto to http/1.1", h1.URL, httpproxy.Auto, "HTTP/1.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := l4.NewGroup("up", strings.TrimPrefix(tc.url, "https://"))
			require.NoError(t, err)
			g.SetTLS(&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
			addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{"up": tc.proto}})
			for range 3 {
				resp, err := h2cClient().Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, "hello", string(b))
				require.Equal(t, tc.want, resp.Header.Get("X-Up-Proto"))
			}
		})
	}
}

// A client that reads its response slowly holds back exactly its stream:
// another stream on the same upstream connection goes on meanwhile.
func TestH2UpstreamBackpressurePerStream(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 8<<20)
	up := h2cBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write(big)
			return
		}
		_, _ = io.WriteString(w, "small")
	})
	g := group(t, up)
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: httpproxy.H2C}})
	c1, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c1.Close()
	require.NoError(t, c1.(*net.TCPConn).SetReadBuffer(32<<10))
	_, err = fmt.Fprintf(c1, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the big response fills the pipes and stops
	for range 5 {
		resp, err := h2cClient().Get("http://" + addr + "/small")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "small", string(b))
	}
	n, err := io.Copy(io.Discard, io.LimitReader(c1, int64(len(big))))
	require.NoError(t, err)
	require.Greater(t, n, int64(len(big)-1<<20), "the slow client still gets its response")
}

// The proxy's own failure for a gRPC request is a gRPC status in a
// trailers-only response, not an HTML 502.
func TestGRPCErrorIsTrailersOnly(t *testing.T) {
	g := group(t, "127.0.0.1:1") // nothing listens
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: httpproxy.H2C}})
	req, _ := http.NewRequest("POST", "http://"+addr+"/pkg.Svc/Method", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := h2cClient().Do(req)
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/grpc", resp.Header.Get("Content-Type"))
	status := resp.Header.Get("Grpc-Status") + resp.Trailer.Get("Grpc-Status")
	require.Equal(t, "14", status, "UNAVAILABLE")
}

// grpcCall sends a gRPC-shaped request (one empty message) with
// grpc-timeout through the proxy at addr and returns the response with
// its body read (err is the body's read error).
func grpcCall(t *testing.T, addr, timeout string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/pkg.Svc/Method", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Grpc-Timeout", timeout)
	resp, err := h2cClient().Do(req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, err
}

// A gRPC request's grpc-timeout is the proxy's deadline for it: the
// upstream gets what is left of it, and when it runs out the upstream's
// work is cancelled (RST_STREAM on HTTP/2, the connection closed on
// HTTP/1.1) and the client answered DEADLINE_EXCEEDED, trailers-only
// before the response started and a reset of its stream after.
func TestGRPCTimeoutIsTheDeadline(t *testing.T) {
	type seen struct {
		timeout   string
		cancelled bool
	}
	handler := func(ch chan seen) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.URL.Query().Get("started") != "" {
				w.Header().Set("Content-Type", "application/grpc")
				_, _ = w.Write([]byte{0, 0, 0, 0, 1, 'x'})
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
				ch <- seen{r.Header.Get("Grpc-Timeout"), true}
			case <-time.After(20 * time.Second):
				ch <- seen{r.Header.Get("Grpc-Timeout"), false}
			}
		}
	}
	for _, proto := range []httpproxy.Protocol{httpproxy.H2C, httpproxy.HTTP1} {
		ch := make(chan seen, 1)
		var up string
		if proto == httpproxy.H2C {
			up = h2cBackend(t, handler(ch))
		} else {
			up = newBackend(t, handler(ch)).addr()
		}
		g := group(t, up)
		logged := make(chan error, 4)
		addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: proto},
			Logging: func(s *httpproxy.Session, err error) { logged <- err }})
		t.Run(proto.String()+" upstream, before the response", func(t *testing.T) {
			resp, err := grpcCall(t, addr, "300m")
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, "4", resp.Header.Get("Grpc-Status"), "DEADLINE_EXCEEDED, trailers-only")
			require.Contains(t, resp.Header.Get("Grpc-Message"), "grpc-timeout 300m")
			got := <-ch
			require.True(t, got.cancelled, "the upstream's work was cancelled")
			d, err := time.ParseDuration(strings.TrimSuffix(got.timeout, "u") + "us")
			require.NoError(t, err, "grpc-timeout upstream: %q", got.timeout)
			require.Greater(t, d, time.Duration(0))
			require.LessOrEqual(t, d, 300*time.Millisecond, "what is left of the deadline")
			require.ErrorIs(t, <-logged, httpproxy.ErrDeadline)
		})
		t.Run(proto.String()+" upstream, after the head", func(t *testing.T) {
			_, err := grpcCall(t, addr+"/x?started=1", "300m")
			require.Error(t, err, "the client's stream is reset")
			require.True(t, (<-ch).cancelled)
			require.ErrorIs(t, <-logged, httpproxy.ErrDeadline)
		})
	}
}

// Any request may carry a deadline a hook sets: 504 when it runs out.
func TestHookDeadline(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: group(t, be.addr()),
		RequestFilter: func(s *httpproxy.Session) bool {
			s.Deadline = time.Now().Add(200 * time.Millisecond)
			return false
		}})
	resp, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	require.Equal(t, 504, resp.StatusCode)
}

// PoolStats counts each endpoint's pooled connections, asking every loop:
// HTTP/1.1 ones open and idle, HTTP/2 ones multiplexed.
func TestPoolStats(t *testing.T) {
	h1 := newBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	h2 := h2cBackend(t, h2echo)
	g1, err := l4.NewGroup("h1", h1.addr())
	require.NoError(t, err)
	g2, err := l4.NewGroup("h2", h2)
	require.NoError(t, err)
	p := &httpproxy.Proxy{Upstreams: g1, Routes: []httpproxy.Route{{PathPrefix: "/h2/", Upstreams: g2}},
		UpstreamProtocols: map[string]httpproxy.Protocol{g2.Name: httpproxy.H2C}}
	addr := startProxy(t, p)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{}}
			for _, path := range []string{"/a", "/h2/b"} {
				resp, err := cl.Get("http://" + addr + path)
				if assert.NoError(t, err) {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byAddr := map[string]httpproxy.PoolStat{}
	for _, st := range p.PoolStats(ctx) {
		byAddr[st.Endpoint.Addr] = st
	}
	require.Equal(t, byAddr[h1.addr()].Open, byAddr[h1.addr()].Idle, "every HTTP/1.1 connection is back in the pool")
	require.GreaterOrEqual(t, byAddr[h1.addr()].Idle, 1)
	require.GreaterOrEqual(t, byAddr[h2].H2Conns, 1, "one multiplexed connection per loop that sent to it")
	require.LessOrEqual(t, byAddr[h2].H2Conns, 2)
	require.Zero(t, byAddr[h2].H2Streams)

	// A caller that gives up leaves no loop waiting to hand it its count:
	// the loops go on serving.
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	for range 3 {
		_ = p.PoolStats(gone)
	}
	for range 4 {
		resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + addr + "/a")
		require.NoError(t, err)
		resp.Body.Close()
	}
}

// An h2c group whose endpoint speaks only HTTP/1.1 (a misconfiguration):
// every request fails at once with 502 and none waits for a timeout. A
// retry that wanted a fresh connection while one was being dialed used to
// replace that dial's waiters, which then waited for their client to give
// up.
func TestH2CGroupToHTTP1ServerFailsFast(t *testing.T) {
	h1 := newBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	g := group(t, h1.addr())
	addr := startProxy(t, &httpproxy.Proxy{Upstreams: g, UpstreamProtocols: map[string]httpproxy.Protocol{g.Name: httpproxy.H2C}})
	for range 10 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
				defer cl.CloseIdleConnections()
				for range 2 {
					resp, err := cl.Get("http://" + addr + "/a")
					if !assert.NoError(t, err) {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					assert.Equal(t, 502, resp.StatusCode)
				}
			}()
		}
		wg.Wait()
	}
}
