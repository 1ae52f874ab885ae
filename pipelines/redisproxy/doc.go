// Package redisproxy is the redis_proxy pipeline, generated from
// redis_proxy.yaml: a sharding Redis proxy placing keys as twemproxy does.
package redisproxy

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec redis_proxy.yaml
