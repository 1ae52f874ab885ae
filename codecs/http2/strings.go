package http2

// Strings interns the short strings a connection sends again and again
// (field values, paths, authorities) for its HPACK encoder: the encoder
// keeps in its dynamic table the strings it is given, so they must never
// change, and converting a []byte to a string for each field of each
// message is most of a proxy's allocations per request. Get returns the
// same string for the same bytes without allocating once the bytes have
// been seen. At most Max entries (default 512) are kept; past that the
// table starts over. Loop only, like the Conn.
type Strings struct {
	// Max bounds the entries kept; MaxLen the length interned (longer
	// byte slices get a string of their own each time). Zero: 512, 128.
	Max, MaxLen int
	m           map[string]string
}

// Get returns b as a string that never changes.
func (s *Strings) Get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	maxLen := s.MaxLen
	if maxLen == 0 {
		maxLen = 128
	}
	if len(b) > maxLen {
		return string(b)
	}
	if v, ok := s.m[string(b)]; ok {
		return v
	}
	limit := s.Max
	if limit == 0 {
		limit = 512
	}
	if s.m == nil || len(s.m) >= limit {
		s.m = make(map[string]string)
	}
	v := string(b)
	s.m[v] = v
	return v
}
