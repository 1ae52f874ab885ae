package http2_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

func seedFrames() [][]byte {
	var seeds [][]byte
	var buf bytes.Buffer
	fr := xhttp2.NewFramer(&buf, nil)
	fr.AllowIllegalWrites = true
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}, {Name: "content-length", Value: "3"}} {
		_ = enc.WriteField(f)
	}
	add := func(write func()) {
		buf.Reset()
		write()
		seeds = append(seeds, append([]byte(nil), buf.Bytes()...))
	}
	add(func() { _ = fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1}) })
	add(func() {
		_ = fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
		_ = fr.WriteData(1, true, []byte("abc"))
	})
	add(func() {
		_ = fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes()[:3]})
		_ = fr.WriteContinuation(1, true, hb.Bytes()[3:])
		_ = fr.WriteRSTStream(1, xhttp2.ErrCodeCancel)
	})
	add(func() {
		_ = fr.WritePing(false, [8]byte{1, 2})
		_ = fr.WriteWindowUpdate(0, 1000)
		_ = fr.WritePriority(3, xhttp2.PriorityParam{StreamDep: 3})
		_ = fr.WriteGoAway(0, xhttp2.ErrCodeNo, nil)
	})
	add(func() { _ = fr.WriteDataPadded(1, false, []byte("x"), make([]byte, 10)) })
	return seeds
}

// FuzzServerFeed feeds arbitrary frames to a server Conn after a valid
// preface and SETTINGS, split at an arbitrary point. Whatever it is fed,
// it must not panic, must consume no more than it was given, must keep
// failing once failed, and must only ever write well-formed frames.
func FuzzServerFeed(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, uint16(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		c := http2.NewConn(http2.Server, http2.Config{StreamWindow: 1 << 10, ConnWindow: 1 << 16}, newEchoApp())
		in := []byte(http2.Preface)
		in = append(in, 0, 0, 0, 4, 0, 0, 0, 0, 0) // an empty SETTINGS
		in = append(in, data...)
		cut := min(int(split), len(in))
		var failed error
		pending := []byte(nil)
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			pending = append(pending, part...)
			n, err := c.Feed(pending)
			if n < 0 || n > len(pending) {
				t.Fatalf("consumed %d of %d", n, len(pending))
			}
			pending = pending[n:]
			if failed != nil && err == nil {
				t.Fatal("a failed Conn accepted more input")
			}
			if err != nil {
				failed = err
			}
		}
		checkFrames(t, c.Output())
	})
}

// FuzzClientFeed does the same to a client Conn with one stream open.
func FuzzClientFeed(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, uint16(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		c := http2.NewConn(http2.Client, http2.Config{}, newRecorder())
		_, _ = c.OpenStream(&http2.Header{Method: "GET", Scheme: "https", Authority: "a", Path: "/"}, nil, true)
		c.ClearOutput()
		in := append([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0}, data...)
		cut := min(int(split), len(in))
		pending := []byte(nil)
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			pending = append(pending, part...)
			n, _ := c.Feed(pending)
			if n < 0 || n > len(pending) {
				t.Fatalf("consumed %d of %d", n, len(pending))
			}
			pending = pending[n:]
		}
		checkFrames(t, c.Output())
	})
}

func checkFrames(t *testing.T, out []byte) {
	if bytes.HasPrefix(out, []byte(http2.Preface)) {
		out = out[len(http2.Preface):]
	}
	fr := xhttp2.NewFramer(nil, bytes.NewReader(out))
	fr.SetMaxReadFrameSize(1 << 24)
	for {
		_, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("the Conn wrote a frame x/net cannot read: %v", err)
		}
	}
}
