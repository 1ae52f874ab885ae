// Package webproxy is the web_proxy pipeline, generated from
// web_proxy.yaml: an HTTP/1.1 reverse proxy (an http_proxy stage) that
// routes requests by host and path prefix to upstream groups. Its Pipeline
// exposes the l7/httpproxy Proxy, whose hooks a program sets after New and
// before it starts the listeners.
package webproxy

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec web_proxy.yaml
