// Package snirouter is the sni_router pipeline, generated from
// sni_router.yaml: TLS routed by SNI to upstream groups without being
// terminated (post-quantum key exchange passes through untouched), SSH
// routed by its banner, a default group for the rest, and a PROXY v2
// header to every upstream.
package snirouter

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec sni_router.yaml
