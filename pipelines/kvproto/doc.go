// Package kvproto is an example users copy: a custom length-prefixed
// request/response protocol served by a user-written handler, generated
// from kv_proto.yaml.
//
// A request frame's payload is an op byte ('g' get, 's' set, 'd' delete),
// a one-byte key length, the key, and for 's' the value. A reply's payload
// is a status byte ('+' done, '-' no such key) and, for a get, the value.
//
//	store := kvproto.NewStore()
//	p, err := kvproto.New(kvproto.DefaultConfig(), store)
//	tr, err := transport.Start(transport.Options{}, p.Listeners()...)
package kvproto

//go:generate go run github.com/penstock-proxy/penstock/gen/cmd/pipegen -spec kv_proto.yaml
