// Package pipelines holds Penstock's pipeline specs and the Go code
// pipegen generates from them, one package per pipeline:
//
//	tcprelay   TCP relay with filters, round robin and failover
//	udprelay   UDP relay, one upstream socket per client
//	snirouter  TLS routed by SNI without terminating it, PROXY v2 upstream
//	redisproxy a sharding Redis proxy, a drop-in for twemproxy
//	webproxy   an HTTP/1.1 reverse proxy routing by host and path, with hooks
//	httpsproxy the same over TLS: certificates by SNI, client certificates forwarded
//	kvproto    a length-prefixed request/response protocol served by a Go type
//
// Each package has its spec, a doc.go with the go:generate line, the
// generated zz_*.go, and tests through real sockets. Every spec here also
// runs unchanged in the daemon: penstock run -c SPEC. `go generate ./...`
// reproduces the generated files exactly; CI checks it.
package pipelines
