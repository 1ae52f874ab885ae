package transport_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/transport"
)

// Defer runs its funcs once the callback that queued them returns, in
// order, those they queue in turn too, and before the loop reads again; a
// panic in a handler or in a deferred func costs neither the other
// deferred funcs nor the loop's later Defers.
func TestDefer(t *testing.T) {
	var other transport.Stream // the first connection: loop only
	tr, err := transport.Start(transport.Options{Loops: 1, Logger: quiet()}, transport.Listener{Addr: "tcp://127.0.0.1:0", Accept: func(s transport.Stream) {
		if other == nil {
			other = s
		}
		s.SetHandler(transport.HandlerFuncs{Data: func(s transport.Stream, p []byte) int {
			var log []string
			loop := s.Loop()
			switch string(p) {
			case "go":
				transport.Defer(loop, func() {
					log = append(log, "deferred 1")
					transport.Defer(loop, func() {
						log = append(log, "deferred 2")
						_, _ = s.Write([]byte(strings.Join(log, ", ") + "\n"))
					})
				})
				log = append(log, "data")
			case "task":
				loop.Execute(func() {
					transport.Defer(loop, func() {
						log = append(log, "deferred")
						_, _ = s.Write([]byte(strings.Join(log, ", ") + "\n"))
					})
					log = append(log, "task")
				})
			case "boom":
				transport.Defer(loop, func() { panic("deferred panic") })
				transport.Defer(loop, func() { _, _ = other.Write([]byte("after the panics\n")) })
				panic("handler panic")
			}
			return len(p)
		}})
	}})
	require.NoError(t, err)
	t.Cleanup(tr.Stop)
	addr := tr.Addrs()[0].String()
	a, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer a.Close()
	line := func(c net.Conn, send string) string {
		t.Helper()
		if send != "" {
			_, err := c.Write([]byte(send))
			require.NoError(t, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b []byte
		one := make([]byte, 1)
		for {
			_, err := c.Read(one)
			require.NoError(t, err)
			if one[0] == '\n' {
				return string(b)
			}
			b = append(b, one[0])
		}
	}
	for range 200 { // past the probes, which run the deferred funcs from a task
		require.Equal(t, "data, deferred 1, deferred 2", line(a, "go"))
		require.Equal(t, "task, deferred", line(a, "task"))
	}

	b, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Write([]byte("boom"))
	require.NoError(t, err)
	require.Equal(t, "after the panics", line(a, ""), "a panic skips no other deferred func")
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the panicking handler's connection is closed")
	require.Equal(t, "data, deferred 1, deferred 2", line(a, "go"), "Defer works after the panics")

	// On a SerialLoop, Defer is Execute.
	loop := transport.NewSerialLoop()
	done := make(chan struct{})
	require.True(t, transport.Defer(loop, func() { close(done) }))
	<-done
}
