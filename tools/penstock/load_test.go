package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// httpLoad is clients sending GET url again and again, each answer
// checked (status 200 and body want), until stop (or limit).
type httpLoad struct {
	stopCh   chan struct{}
	wg       sync.WaitGroup
	done     atomic.Int64
	failed   atomic.Int64
	firstErr atomic.Value
}

func startHTTPLoad(url, want string, limit time.Duration, clients ...*http.Client) *httpLoad {
	l := &httpLoad{stopCh: make(chan struct{})}
	for _, cl := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer cl.CloseIdleConnections()
			deadline := time.After(limit)
			for {
				select {
				case <-l.stopCh:
					return
				case <-deadline:
					return
				default:
				}
				resp, err := cl.Get(url)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || string(b) != want) {
						err = fmt.Errorf("status %d body %q", resp.StatusCode, b)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// stop ends the load and waits for its clients.
func (l *httpLoad) stop() {
	close(l.stopCh)
	l.wg.Wait()
}
