package clienthello

// inlineLen is how many entries each list keeps inside the Hello before it
// moves to a heap array. It covers the hellos of current browsers and TLS
// stacks (up to about 20 cipher suites, groups or extensions each, GREASE
// included), so a fresh Hello parses them without allocating.
const inlineLen = 32

// list is reusable storage for one decoded list: entries live in inline until
// it is full, then in spill, which keeps its capacity across parses so that a
// Hello stops allocating once it has seen its largest input. It holds no
// pointer into its own Hello, so copying a Hello copies its inline entries.
type list[T any] struct {
	inline [inlineLen]T
	spill  []T
	n      int
}

// reset empties l. It zeroes the used entries so that a list of borrowed
// slices does not keep an old input buffer reachable.
func (l *list[T]) reset() {
	clear(l.inline[:min(l.n, inlineLen)])
	clear(l.spill)
	l.spill = l.spill[:0]
	l.n = 0
}

func (l *list[T]) add(v T) {
	switch {
	case l.n < inlineLen:
		l.inline[l.n] = v
	case l.n == inlineLen:
		l.spill = append(append(l.spill[:0], l.inline[:]...), v)
	default:
		l.spill = append(l.spill, v)
	}
	l.n++
}

// items returns the entries, nil when there are none. The capacity is capped
// so that a caller's append cannot write into l.
func (l *list[T]) items() []T {
	switch {
	case l.n == 0:
		return nil
	case l.n <= inlineLen:
		return l.inline[:l.n:l.n]
	default:
		return l.spill[:l.n:l.n]
	}
}

// Hello is the parsed content of a TLS ClientHello; its zero value is ready
// to use. Parse resets and refills it, and allocates only to grow buffers the
// Hello keeps: the first time it reassembles a hello split across records,
// or decodes a list longer than 32 entries. Reusing one Hello (one per event
// loop, or from a sync.Pool) makes parsing allocation-free in steady state.
//
// Slices returned by its methods are borrowed: they point into the input
// passed to Parse or into the Hello's own storage, are valid only until the
// caller's buffer changes or the Hello is passed to Parse again, and must not
// be modified. Copy what must outlive that.
//
// A Hello is not safe for concurrent use. Copying one copies its fixed
// storage but shares its heap buffers (reassembly, and lists longer than 32
// entries), so a copy's borrowed slices are valid only until either Hello is
// passed to Parse again.
type Hello struct {
	legacyVersion uint16
	hasSessionID  bool
	hasECH        bool
	serverName    []byte

	supportedVersions list[uint16]
	cipherSuites      list[uint16]
	supportedGroups   list[Group]
	keyShareGroups    list[Group]
	signatureAlgs     list[uint16]
	alpn              list[[]byte]
	extensions        list[uint16]

	// reassembly holds the handshake message when it spans records.
	reassembly []byte
	// sortedExtensions is scratch for finding duplicates in long extension
	// lists.
	sortedExtensions []uint16
}

func (h *Hello) reset() {
	h.legacyVersion = 0
	h.hasSessionID = false
	h.hasECH = false
	h.serverName = nil
	h.supportedVersions.reset()
	h.cipherSuites.reset()
	h.supportedGroups.reset()
	h.keyShareGroups.reset()
	h.signatureAlgs.reset()
	h.alpn.reset()
	h.extensions.reset()
}

// LegacyVersion returns the legacy_version field, 0x0303 (TLS 1.2) for every
// TLS 1.2 and 1.3 client; TLS 1.3 is offered through [Hello.SupportedVersions].
func (h *Hello) LegacyVersion() uint16 { return h.legacyVersion }

// SupportedVersions returns the versions in the supported_versions extension
// in the client's order (GREASE values included), or nil when the extension
// is absent, which means the client speaks at most [Hello.LegacyVersion].
func (h *Hello) SupportedVersions() []uint16 { return h.supportedVersions.items() }

// CipherSuites returns the offered cipher suites in the client's order.
func (h *Hello) CipherSuites() []uint16 { return h.cipherSuites.items() }

// HasSessionID reports whether legacy_session_id is non-empty: a TLS 1.2
// resumption attempt or, for TLS 1.3 clients, middlebox compatibility mode.
func (h *Hello) HasSessionID() bool { return h.hasSessionID }

// ServerName returns the host_name from the server_name (SNI) extension as
// sent, without case folding, or nil when the client sent none (clients omit
// it for IP addresses). With ECH it is the outer, public name. The slice is
// borrowed.
func (h *Hello) ServerName() []byte { return h.serverName }

// SNI returns [Hello.ServerName] as a newly allocated string, "" when absent.
func (h *Hello) SNI() string { return string(h.serverName) }

// ALPN returns the protocols of the application_layer_protocol_negotiation
// extension in the client's order, or nil when absent. The slices are
// borrowed; comparing one with string(p) == "h2" does not allocate.
func (h *Hello) ALPN() [][]byte { return h.alpn.items() }

// SupportedGroups returns the supported_groups extension in the client's
// order, or nil when absent.
func (h *Hello) SupportedGroups() []Group { return h.supportedGroups.items() }

// KeyShareGroups returns the group of each key share the client sent, in
// order, or nil when it sent no key_share extension or an empty one (it then
// waits for a HelloRetryRequest).
func (h *Hello) KeyShareGroups() []Group { return h.keyShareGroups.items() }

// SignatureAlgorithms returns the signature_algorithms extension (TLS
// SignatureScheme values) in the client's order, or nil when absent.
func (h *Hello) SignatureAlgorithms() []uint16 { return h.signatureAlgs.items() }

// HasECH reports whether the client sent the encrypted_client_hello extension
// (0xfe0d), as an outer hello or a GREASE placeholder.
func (h *Hello) HasECH() bool { return h.hasECH }

// Extensions returns the type of every extension in the order sent.
func (h *Hello) Extensions() []uint16 { return h.extensions.items() }

// OffersPostQuantum reports whether any group in supported_groups is
// post-quantum (see [Group.PostQuantum]).
func (h *Hello) OffersPostQuantum() bool { return anyPostQuantum(h.SupportedGroups()) }

// KeySharePostQuantum reports whether the client sent a post-quantum key
// share, so that the handshake completes post-quantum without a
// HelloRetryRequest round trip.
func (h *Hello) KeySharePostQuantum() bool { return anyPostQuantum(h.KeyShareGroups()) }

func anyPostQuantum(groups []Group) bool {
	for _, g := range groups {
		if g.PostQuantum() {
			return true
		}
	}
	return false
}
