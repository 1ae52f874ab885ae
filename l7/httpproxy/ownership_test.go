package httpproxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/penstock-proxy/penstock/l7/httpproxy"
	"github.com/stretchr/testify/require"
)

// Sessions ride with exchanges that the server recycles. Under load on
// several loops, every request must be logged exactly once, with its own
// target and status: a session handed back before its Logging ran would be
// taken by another request (on another loop, a data race -race reports)
// and log that request's target, or status 0.
func TestSessionOwnedUntilLogged(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		fmt.Fprint(w, r.URL.Path)
	})
	var mu sync.Mutex
	logged := map[string]int{}
	var bad []string
	p := &httpproxy.Proxy{
		Upstreams: group(t, be.addr()),
		Logging: func(s *httpproxy.Session, err error) {
			path := string(s.X.Req.Path)
			status := s.Status
			mu.Lock()
			logged[path]++
			if err != nil || status != 200 {
				bad = append(bad, fmt.Sprintf("%s status %d err %v", path, status, err))
			}
			mu.Unlock()
		},
	}
	addr := startProxy(t, p)

	const clients, perClient = 16, 150
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := range perClient {
				path := fmt.Sprintf("/c%d/r%d", c, i)
				if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != path {
					errs <- fmt.Errorf("%s got the response for %s", path, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Logging runs before the response's last bytes leave; the last
	// request of each client may log a moment after its reply is read.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(logged) >= clients*perClient
	}, 5e9, 1e7)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, bad)
	require.Len(t, logged, clients*perClient)
	for path, n := range logged {
		require.Equal(t, 1, n, "%s logged %d times", path, n)
	}
}
