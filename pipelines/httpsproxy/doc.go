// Package httpsproxy is the https_proxy pipeline, generated from
// https_proxy.yaml: a tls stage in front of an http_proxy stage. Its Config
// names the certificate files (TLS) and its Swap reads them again, so a
// program reloads certificates by swapping in its Config; the Pipeline
// exposes the l7/httpproxy Proxy for hooks, as webproxy does. Relative
// file names are relative to the program's working directory.
package httpsproxy

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec https_proxy.yaml
