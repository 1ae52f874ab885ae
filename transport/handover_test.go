package transport_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/transport"
)

// HandOver under a stream of new connections: a second transport binds
// the address next to the first (SharePorts), the first hands over and
// drains; every connection is answered, by one or the other, and once
// the first has stopped every new one reaches the second.
func TestHandOver(t *testing.T) {
	serve := func(id byte) func(transport.Stream) {
		return func(s transport.Stream) {
			s.SetHandler(transport.HandlerFuncs{Data: func(s transport.Stream, p []byte) int {
				_, _ = s.Write([]byte{id})
				_ = s.CloseWrite()
				return len(p)
			}})
		}
	}
	tr1, err := transport.Start(transport.Options{Loops: 2, Logger: quiet()}, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: serve('1')})
	require.NoError(t, err)
	t.Cleanup(tr1.Stop)
	addr := tr1.Addrs()[0].String()

	var served [2]atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case <-stop:
					return
				case <-deadline:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					_, err = c.Write([]byte("x"))
					var b []byte
					if err == nil {
						b, err = io.ReadAll(c)
					}
					c.Close()
					if err == nil && len(b) == 1 {
						served[b[0]-'1'].Add(1)
						continue
					}
					if err == nil {
						err = io.ErrUnexpectedEOF
					}
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	tr2, err := transport.Start(transport.Options{Loops: 2, Logger: quiet(), SharePorts: true}, transport.Listener{Addr: "tcp://" + addr, Accept: serve('2')})
	require.NoError(t, err)
	t.Cleanup(tr2.Stop)
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr1.HandOver(ctx, tr2.Loops()))
	<-tr1.Done()
	before := served[1].Load()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.Zero(t, failed.Load(), "connections failed during the hand-over: %v", firstErr.Load())
	require.Positive(t, served[0].Load(), "the first transport served before")
	require.Greater(t, served[1].Load(), before, "the second serves after")
	t.Logf("served: first %d, second %d", served[0].Load(), served[1].Load())
}
