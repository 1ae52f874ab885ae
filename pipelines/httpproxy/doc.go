// Package httpproxy is the http_proxy pipeline, generated from
// http_proxy.yaml: an HTTP/1.1 reverse proxy that routes requests by host
// and path prefix to upstream groups. Its Pipeline exposes the
// l7/httpproxy Proxy, whose hooks a program sets after New and before it
// starts the listeners.
package httpproxy

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec http_proxy.yaml
