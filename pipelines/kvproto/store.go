package kvproto

import (
	"errors"
	"sync"

	"github.com/penstock-proxy/penstock/transport"
)

// Store is the handler the kv_proto spec names: an in-memory map. Every
// event loop calls it, so it locks; a real service might shard by loop.
type Store struct {
	mu sync.Mutex
	m  map[string]*[]byte
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{m: map[string]*[]byte{}} }

// ErrBadRequest closes a connection that sends a request Store cannot read.
var ErrBadRequest = errors.New("kvproto: bad request")

// ServeFrame answers one request. It runs on the connection's event loop
// and must not block; req is borrowed, and the reply payload is appended to
// out. It is safe from any goroutine.
func (s *Store) ServeFrame(_ transport.Stream, req, out []byte) ([]byte, error) {
	if len(req) < 2 || len(req) < 2+int(req[1]) {
		return out, ErrBadRequest
	}
	op, key, val := req[0], req[2:2+int(req[1])], req[2+int(req[1]):]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case 'g':
		v, ok := s.m[string(key)]
		if !ok {
			return append(out, '-'), nil
		}
		return append(append(out, '+'), *v...), nil
	case 's':
		// Overwriting a key reuses its value's storage, so a steady load
		// allocates nothing.
		if v, ok := s.m[string(key)]; ok {
			*v = append((*v)[:0], val...)
		} else {
			v := append([]byte(nil), val...)
			s.m[string(key)] = &v
		}
		return append(out, '+'), nil
	case 'd':
		if _, ok := s.m[string(key)]; !ok {
			return append(out, '-'), nil
		}
		delete(s.m, string(key))
		return append(out, '+'), nil
	}
	return out, ErrBadRequest
}
