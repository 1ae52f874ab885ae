package httpd

// This file builds the *http.Request an adapted net/http handler gets from
// an Exchange: its URL, header map, declared trailers and context.

import (
	"context"
	"github.com/penstock-proxy/penstock/transport"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// newRequest builds the *http.Request for the exchange. Loop only.
func (s *netExchange) newRequest() (*http.Request, error) {
	q := &s.x.Req
	method := knownMethod(q.Method)
	target := string(q.Target)
	rawURL := target
	justAuthority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	if justAuthority {
		rawURL = "http://" + target
	}
	u, err := url.ParseRequestURI(rawURL)
	if err != nil {
		return nil, err
	}
	if justAuthority {
		u.Scheme = ""
	}
	r := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: q.ProtoMinor,
		Header:     netHeader(q.Headers),
		Host:       string(q.Host),
		RequestURI: target,
		Body:       http.NoBody,
	}
	if q.ProtoMinor == 0 {
		r.Proto = "HTTP/1.0"
	}
	if cs, ok := transport.ConnectionState(s.x.Stream()); ok {
		r.TLS = &cs
	}
	if q.RemoteAddr != nil {
		r.RemoteAddr = q.RemoteAddr.String()
	}
	if h1 := q.HTTP1(); h1 != nil {
		r.Close = !h1.KeepAlive()
	}
	switch {
	case q.ContentLength < 0:
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		if vv, ok := r.Header["Trailer"]; ok {
			delete(r.Header, "Trailer")
			r.Trailer = declaredTrailers(vv)
		}
		r.Body = &s.body
	case q.ContentLength > 0:
		r.ContentLength = q.ContentLength
		r.Body = &s.body
	}
	s.body.s = s
	s.body.wake = make(chan struct{}, 1)
	s.dead = make(chan struct{})
	base := context.WithValue(context.Background(), http.LocalAddrContextKey, s.x.Stream().LocalAddr())
	s.ctx, s.cancel = context.WithCancelCause(base)
	return r.WithContext(s.ctx), nil
}

func knownMethod(m []byte) string {
	for _, k := range [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect} {
		if string(m) == k {
			return k
		}
	}
	return string(m)
}

// netHeader turns fields into a header map as net/http's reader does, with
// one string for all the values and one slice of them. Host and
// Transfer-Encoding are left out: they have fields of their own in
// http.Request.
func netHeader(fields []Field) http.Header {
	size := 0
	for _, f := range fields {
		size += len(f.Value)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, f := range fields {
		sb.Write(f.Value)
	}
	all := sb.String()
	h := make(http.Header, len(fields))
	vals := make([]string, len(fields))
	off := 0
	for i, f := range fields {
		v := all[off : off+len(f.Value)]
		off += len(f.Value)
		k := canonicalKey(f.Name)
		if k == "Host" || k == "Transfer-Encoding" {
			continue
		}
		if vv, ok := h[k]; ok {
			h[k] = append(vv, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

// commonKeys maps common field names, canonical or lower case, to their
// canonical form without allocating.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
		"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Cookie", "Expect", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
		"Range", "Referer", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "Via", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

func canonicalKey(name []byte) string {
	if k, ok := commonKeys[string(name)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

// declaredTrailers is Request.Trailer before the body is read: the names a
// Trailer field announces, with nil values, as net/http makes it.
func declaredTrailers(vv []string) http.Header {
	var t http.Header
	for _, v := range vv {
		for k := range strings.SplitSeq(v, ",") {
			k = textproto.TrimString(k)
			if k == "" {
				continue
			}
			switch k = http.CanonicalHeaderKey(k); k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			if t == nil {
				t = http.Header{}
			}
			t[k] = nil
		}
	}
	return t
}
