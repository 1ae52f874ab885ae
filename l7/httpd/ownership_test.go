package httpd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/penstock-proxy/penstock/l7/httpd"
	"github.com/penstock-proxy/penstock/transport"
	"github.com/stretchr/testify/require"
)

// An Exchange is recycled only on the loop it served on: code of one loop
// can never meet another loop's use of it. With two loops under load, every
// Exchange a handler sees must always come with the same loop.
func TestExchangesStayOnTheirLoop(t *testing.T) {
	var mu sync.Mutex
	home := map[*httpd.Exchange]transport.Loop{}
	loops := map[transport.Loop]bool{}
	var moved int
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		mu.Lock()
		if l, ok := home[x]; ok && l != x.Loop() {
			moved++
		}
		home[x] = x.Loop()
		loops[x.Loop()] = true
		mu.Unlock()
		_ = x.Respond(200, []byte("ok"))
	})}
	addr := start(t, srv)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				br := bufio.NewReader(c)
				for range 20 {
					fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Error(err)
						break
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, loops, 2, "the connections reached both loops")
	require.Zero(t, moved, "an Exchange served on one loop came back on another")
}

// OnEnd is the handler's last moment with an exchange, and exactly one of
// OnEnd and OnAbort runs: after the response when nothing is left to read,
// after the unread body was dropped, when the client closes while it is
// being dropped, and at Hijack; OnAbort instead when the client leaves
// before the response.
func TestOnEndRunsOnceLast(t *testing.T) {
	type event struct {
		path, what string
		status     int
	}
	events := make(chan event, 16)
	neverArrived := make(chan struct{}, 1)
	srv := &httpd.Server{Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
		path := string(x.Req.Path)
		x.OnEnd(func() { events <- event{path, "end", x.Status()} })
		x.OnAbort(func(error) { events <- event{path, "abort", x.Status()} })
		switch path {
		case "/now", "/early":
			_ = x.Respond(201, nil)
		case "/never":
			neverArrived <- struct{}{}
		case "/hijack":
			_ = x.WriteHead(101, httpd.Field{Name: []byte("Upgrade"), Value: []byte("x")},
				httpd.Field{Name: []byte("Connection"), Value: []byte("upgrade")})
			st, err := x.Hijack()
			if err == nil {
				_ = st.Close()
			}
		}
	})}
	addr := start(t, srv)
	next := func() event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no OnEnd or OnAbort")
		}
		return event{}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}

	c := dial()
	fmt.Fprint(c, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, event{"/now", "end", 201}, next())

	// The response goes out before the body, which is then dropped: the
	// exchange is over once the body has been read.
	c = dial()
	fmt.Fprint(c, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, 201, resp.StatusCode)
	select { // a negative check: nothing signals that no event will come
	case e := <-events:
		t.Fatalf("%v before the body was read", e)
	case <-time.After(100 * time.Millisecond):
	}
	fmt.Fprint(c, "0123456789")
	require.Equal(t, event{"/early", "end", 201}, next())

	// The same, but the client closes instead of sending the body.
	c = dial()
	fmt.Fprint(c, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01")
	_, err = http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	c.Close()
	require.Equal(t, event{"/early", "end", 201}, next())

	c = dial()
	fmt.Fprint(c, "GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-neverArrived: // the exchange exists before the client leaves
	case <-time.After(10 * time.Second):
		t.Fatal("the /never request never reached the handler")
	}
	// A reset: a FIN alone would leave the server waiting to answer a
	// client that may only have half-closed.
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	c.Close()
	require.Equal(t, event{"/never", "abort", 0}, next())

	c = dial()
	fmt.Fprint(c, "GET /hijack HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n")
	require.Equal(t, event{"/hijack", "end", 101}, next())
	b, _ := io.ReadAll(c)
	require.True(t, strings.HasPrefix(string(b), "HTTP/1.1 101 "), string(b))

	select { // a negative check: nothing signals that no event will come
	case e := <-events:
		t.Fatalf("an extra %v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

// When the server itself ends an exchange for a fault in its request body
// (a malformed chunk, a body that stalls past BodyTimeout), the handler
// hears it once, through OnAbort, with the reason: its OnEnd func does not
// run as well when the connection then closes. Before, both ran, and a
// proxy logged such a request twice.
func TestBodyFaultEndsTheExchangeOnce(t *testing.T) {
	for _, tc := range []struct {
		name, req string
		want      error
		status    int
	}{
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", nil, 400},
		{"stalled body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", httpd.ErrBodyTimeout, 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var aborts []error
			var ends int
			srv := &httpd.Server{BodyTimeout: 200 * time.Millisecond, Handler: httpd.HandlerFunc(func(x *httpd.Exchange) {
				x.OnEnd(func() { mu.Lock(); ends++; mu.Unlock() })
				x.OnAbort(func(err error) { mu.Lock(); aborts = append(aborts, err); mu.Unlock() })
				x.ReadBody(func([]byte, bool) {})
			})}
			tr, loop, addr := startOne(t, srv)
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
			_, err = io.WriteString(c, tc.req)
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode)
			_, _ = io.Copy(io.Discard, resp.Body) // to the close
			// Anything left to run for the exchange has run once the
			// server has closed the connection.
			require.NoError(t, c.Close())
			settle(t, tr, loop, 0)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, aborts, 1)
			require.Zero(t, ends)
			if tc.want != nil {
				require.ErrorIs(t, aborts[0], tc.want)
			}
		})
	}
}
