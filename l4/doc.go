// Package l4 relays TCP and UDP traffic between virtual L4 streams and
// upstream groups.
//
// Pipe joins two streams of one loop: bytes (or datagrams) flow both ways
// with backpressure (a source pauses while its destination's write queue is
// over its high watermark), half-close (EOF on one side becomes CloseWrite
// on the other, so a client that shuts down its write side still gets the
// whole reply), and an idle timeout. TCPRelay and UDPRelay accept streams
// from a transport.Listener, pick an upstream from a Group (round robin,
// failing over to the next endpoint when a connect fails) and Pipe them.
//
// A pipeline that uses them, as the penstock daemon and pipegen read it
// (docs/config.md):
//
//	version: 1
//	pipelines:
//	  - name: web
//	    listen: tcp://0.0.0.0:8080
//	    stages:
//	      - kind: relay
//	        upstream: web
//	upstreams:
//	  web:
//	    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
package l4
