// Package tcprelay is the tcp_relay pipeline, generated from
// tcp_relay.yaml: a TCP relay with connection filters, round robin with
// failover, half-close, bounded memory and splice(2) for bulk transfers.
//
//	p, err := tcprelay.New(tcprelay.DefaultConfig())
//	tr, err := transport.Start(transport.Options{}, p.Listeners()...)
package tcprelay

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec tcp_relay.yaml
