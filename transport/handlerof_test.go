package transport

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// HandlerOf reports the handler of every carrier of this package, and nil
// for a Stream from elsewhere that does not say.
func TestHandlerOf(t *testing.T) {
	loop := NewSerialLoop()
	a, _ := NewPipe(loop, loop, DefaultWatermarks)
	h := echoHandler{}
	a.SetHandler(h)
	require.Equal(t, Handler(h), HandlerOf(a))
	require.Nil(t, HandlerOf(foreignStream{}))
}

// foreignStream is a Stream written outside this package, with only the
// interface's methods.
type foreignStream struct{}

func (foreignStream) Loop() Loop                  { return nil }
func (foreignStream) SetHandler(Handler)          {}
func (foreignStream) Write(p []byte) (int, error) { return len(p), nil }
func (foreignStream) Queued() int                 { return 0 }
func (foreignStream) Writable() bool              { return true }
func (foreignStream) PauseRead()                  {}
func (foreignStream) ResumeRead()                 {}
func (foreignStream) CloseWrite() error           { return nil }
func (foreignStream) Close() error                { return nil }
func (foreignStream) LocalAddr() net.Addr         { return nil }
func (foreignStream) RemoteAddr() net.Addr        { return nil }
