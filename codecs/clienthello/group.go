package clienthello

// Group is a TLS named group (a supported_groups or key_share codepoint, what
// crypto/tls calls a CurveID): a key exchange mechanism the client offers.
type Group uint16

// Named groups from the IANA TLS Supported Groups registry. The post-quantum
// codepoints match crypto/tls (X25519MLKEM768, SecP256r1MLKEM768,
// SecP384r1MLKEM1024) and draft-connolly-tls-mlkem-key-agreement (pure
// ML-KEM).
const (
	Secp256r1 Group = 0x0017
	Secp384r1 Group = 0x0018
	Secp521r1 Group = 0x0019
	X25519    Group = 0x001d
	X448      Group = 0x001e

	FFDHE2048 Group = 0x0100
	FFDHE3072 Group = 0x0101
	FFDHE4096 Group = 0x0102
	FFDHE6144 Group = 0x0103
	FFDHE8192 Group = 0x0104

	MLKEM512           Group = 0x0200
	MLKEM768           Group = 0x0201
	MLKEM1024          Group = 0x0202
	SecP256r1MLKEM768  Group = 0x11eb
	X25519MLKEM768     Group = 0x11ec
	SecP384r1MLKEM1024 Group = 0x11ed

	// X25519Kyber768Draft00 is the pre-standard Kyber hybrid that Chrome and
	// Go sent before ML-KEM was final; it is obsolete but still seen from
	// old clients.
	X25519Kyber768Draft00 Group = 0x6399
)

// String returns the IANA name of g, or "Group(0x....)" for a codepoint this
// package does not name (GREASE values among them).
func (g Group) String() string {
	switch g {
	case Secp256r1:
		return "secp256r1"
	case Secp384r1:
		return "secp384r1"
	case Secp521r1:
		return "secp521r1"
	case X25519:
		return "x25519"
	case X448:
		return "x448"
	case FFDHE2048:
		return "ffdhe2048"
	case FFDHE3072:
		return "ffdhe3072"
	case FFDHE4096:
		return "ffdhe4096"
	case FFDHE6144:
		return "ffdhe6144"
	case FFDHE8192:
		return "ffdhe8192"
	case MLKEM512:
		return "MLKEM512"
	case MLKEM768:
		return "MLKEM768"
	case MLKEM1024:
		return "MLKEM1024"
	case SecP256r1MLKEM768:
		return "SecP256r1MLKEM768"
	case X25519MLKEM768:
		return "X25519MLKEM768"
	case SecP384r1MLKEM1024:
		return "SecP384r1MLKEM1024"
	case X25519Kyber768Draft00:
		return "X25519Kyber768Draft00"
	}
	const hex = "0123456789abcdef"
	return "Group(0x" + string([]byte{hex[g>>12], hex[g>>8&0xf], hex[g>>4&0xf], hex[g&0xf]}) + ")"
}

// PostQuantum reports whether g resists a quantum adversary: pure ML-KEM, an
// ML-KEM hybrid, or the obsolete Kyber draft hybrid (see [Group.Draft]).
func (g Group) PostQuantum() bool {
	switch g {
	case MLKEM512, MLKEM768, MLKEM1024,
		SecP256r1MLKEM768, X25519MLKEM768, SecP384r1MLKEM1024,
		X25519Kyber768Draft00:
		return true
	}
	return false
}

// Draft reports whether g is a pre-standard post-quantum codepoint that
// current TLS stacks no longer negotiate. A policy that requires ML-KEM
// should test PostQuantum() && !Draft().
func (g Group) Draft() bool {
	return g == X25519Kyber768Draft00
}
