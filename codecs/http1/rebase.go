package http1

import "unsafe"

// rebase re-points b, a slice of old, at the same bytes of cp, a copy of
// old; a slice not inside old is returned as it is.
func rebase(b, old, cp []byte) []byte {
	if len(b) == 0 || len(old) == 0 {
		return b
	}
	// Only addresses are compared; no pointer is made from an integer.
	off := uintptr(unsafe.Pointer(&b[0])) - uintptr(unsafe.Pointer(&old[0]))
	if off >= uintptr(len(old)) || int(off)+len(b) > len(old) {
		return b
	}
	i := int(off)
	return cp[i : i+len(b) : i+len(b)]
}

func (m *head) rebase(old, cp []byte) {
	for i, h := range m.headers.all() {
		h.Name = rebase(h.Name, old, cp)
		h.Value = rebase(h.Value, old, cp)
		m.headers.set(i, h)
	}
	m.upgrade = rebase(m.upgrade, old, cp)
}

// Rebase re-points every field r borrows from old, the input it was parsed
// from, at the same offsets in cp, a copy of old of the same length, so
// that the caller can reuse old's buffer while r stays valid. It allocates
// nothing.
func (r *Request) Rebase(old, cp []byte) {
	if len(cp) != len(old) {
		panic("penstock/http1: Rebase onto a copy of another length")
	}
	r.Method = rebase(r.Method, old, cp)
	r.Target = rebase(r.Target, old, cp)
	r.head.rebase(old, cp)
}

// Rebase is [Request.Rebase] for a response head.
func (r *Response) Rebase(old, cp []byte) {
	if len(cp) != len(old) {
		panic("penstock/http1: Rebase onto a copy of another length")
	}
	r.Reason = rebase(r.Reason, old, cp)
	r.head.rebase(old, cp)
}
