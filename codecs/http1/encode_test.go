package http1

import (
	"testing"
)

func TestAppendRequestHeadRoundTrip(t *testing.T) {
	in := "POST /upload?x=1 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\nX-Empty: \r\nAccept: */*\r\n\r\n"
	var r Request
	if _, err := ParseRequestHead([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	if got := string(AppendRequestHead(nil, &r)); got != in {
		t.Fatalf("AppendRequestHead = %q", got)
	}
	r.Target = []byte("/a\r\nX-Injected: 1")
	got := string(AppendRequestHead(nil, &r))
	if want := "POST /a  X-Injected: 1 HTTP/1.1\r\n"; got[:len(want)] != want {
		t.Fatalf("injected target encoded as %q", got)
	}
}

func TestAppendResponseHead(t *testing.T) {
	got := string(AppendResponseHead([]byte("x"), 404, "Not Found",
		Header{Name: []byte("Content-Length"), Value: []byte("0")},
		Header{Name: []byte("X"), Value: []byte("a\r\nSet-Cookie: evil")}))
	want := "xHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX: a  Set-Cookie: evil\r\n\r\n"
	if got != want {
		t.Fatalf("AppendResponseHead = %q, want %q", got, want)
	}
	var r Response
	if n, err := ParseResponseHead([]byte(got[1:]), &r, nil); err != nil || n != len(got)-1 || len(r.Headers()) != 2 {
		t.Fatalf("parse of the encoded head: %d, %v", n, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("status 1000 did not panic")
		}
	}()
	AppendResponseHead(nil, 1000, "")
}

func TestAppendProxyHeads(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		extra []Header
		want  string
	}{
		{
			"hop-by-hop dropped",
			"GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n" +
				"TE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\nx-hop: 1\r\nAccept: */*\r\n\r\n",
			[]Header{{Name: []byte("Forwarded"), Value: []byte("for=192.0.2.1")}},
			"GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nForwarded: for=192.0.2.1\r\n\r\n",
		},
		{
			"chunked kept chunked",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
			nil,
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		},
		{
			"content-length kept",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nConnection: close\r\n\r\n",
			nil,
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if _, err := ParseRequestHead([]byte(tt.in), &r, nil); err != nil {
				t.Fatal(err)
			}
			if got := string(AppendProxyRequestHead(nil, &r, tt.extra...)); got != tt.want {
				t.Fatalf("AppendProxyRequestHead = %q, want %q", got, tt.want)
			}
		})
	}
	in := "HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nETag: \"e\"\r\n\r\n"
	var r Response
	if _, err := ParseResponseHead([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nTransfer-Encoding: chunked\r\n\r\n"
	if got := string(AppendProxyResponseHead(nil, &r, []byte("GET"))); got != want {
		t.Fatalf("AppendProxyResponseHead = %q, want %q", got, want)
	}
	want = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\n\r\n"
	if got := string(AppendProxyResponseHead(nil, &r, []byte("HEAD"))); got != want {
		t.Fatalf("AppendProxyResponseHead for HEAD = %q, want %q", got, want)
	}
}

func TestHeadIsHopByHop(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nX-Foo: 1\r\nClose: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nClose: 2\r\nX-Foo: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: x-foo\r\nX-Foo: 1\r\nTE: t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade\r\nUpgrade: websocket\r\nProxy-Connection: k\r\nTrailer: x\r\n\r\n",
	} {
		var r Request
		if _, err := ParseRequestHead([]byte(in), &r, nil); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Host", "X-Foo", "Close", "Connection", "keep-alive", "te", "Upgrade",
			"proxy-connection", "Trailer", "Transfer-Encoding", "x-bar"} {
			want := IsHopByHop([]byte(name), r.Headers())
			if got := r.IsHopByHop([]byte(name)); got != want {
				t.Errorf("%q in %q: %v, want %v", name, in, got, want)
			}
		}
	}
}

// A Connection field cannot make the fields that frame or route a message
// hop-by-hop; the other fields it names are.
func TestConnectionCannotNameFramingFields(t *testing.T) {
	in := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nConnection: keep-alive, Content-Length, HOST, X-Foo\r\nX-Foo: 1\r\n\r\nx"
	var r Request
	if _, err := ParseRequestHead([]byte(in), &r, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"Content-Length": false, "content-length": false, "Host": false,
		"x-foo": true, "Connection": true} {
		if got := r.IsHopByHop([]byte(name)); got != want {
			t.Errorf("head: %s hop-by-hop %v, want %v", name, got, want)
		}
		if got := IsHopByHop([]byte(name), r.Headers()); got != want {
			t.Errorf("IsHopByHop: %s hop-by-hop %v, want %v", name, got, want)
		}
	}
	got := string(AppendProxyRequestHead(nil, &r))
	want := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"
	if got != want {
		t.Fatalf("AppendProxyRequestHead = %q, want %q", got, want)
	}
}
