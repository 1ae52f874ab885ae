package http1

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequestRebase(t *testing.T) {
	in := []byte("GET /a?b HTTP/1.1\r\nHost: example.com\r\nConnection: upgrade\r\nUpgrade: websocket\r\nX-A: 1\r\n\r\nBODY")
	var r Request
	n, err := ParseRequestHead(in, &r, nil)
	require.NoError(t, err)
	cp := append([]byte(nil), in[:n]...)
	r.Rebase(in[:n], cp)
	clear(in) // the old buffer is reused for something else
	require.Equal(t, "GET", string(r.Method))
	require.Equal(t, "/a?b", string(r.Target))
	host, ok := r.Header("host")
	require.True(t, ok)
	require.Equal(t, "example.com", string(host))
	up, ok := r.Upgrade()
	require.True(t, ok)
	require.Equal(t, "websocket", string(up))
	require.Equal(t, string(cp), string(AppendRequestHead(nil, &r)))
	require.Equal(t, 0.0, testing.AllocsPerRun(100, func() { r.Rebase(cp, cp) }))
}

func TestResponseRebase(t *testing.T) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	var r Response
	n, err := ParseResponseHead(in, &r, nil)
	require.NoError(t, err)
	cp := append([]byte(nil), in[:n]...)
	r.Rebase(in[:n], cp)
	clear(in)
	require.Equal(t, "OK", string(r.Reason))
	cl, _ := r.Header("content-length")
	require.Equal(t, "2", string(cl))
}
