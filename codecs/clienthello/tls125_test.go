//go:build !go1.26

package clienthello

import "crypto/tls"

// Before Go 1.26 crypto/tls has no NIST-curve hybrids: the cases that need
// them are skipped, and the default hello offers X25519MLKEM768 alone.
const (
	tlsSecP256r1MLKEM768  tls.CurveID = 0
	tlsSecP384r1MLKEM1024 tls.CurveID = 0
)

// goDefault is the groups a Go client offers by default.
var goDefault = []Group{X25519MLKEM768, X25519, Secp256r1, Secp384r1, Secp521r1}
