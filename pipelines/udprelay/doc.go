// Package udprelay is the udp_relay pipeline, generated from
// udp_relay.yaml: a UDP relay with one upstream socket per client, idle
// expiry and a session cap.
package udprelay

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec udp_relay.yaml
