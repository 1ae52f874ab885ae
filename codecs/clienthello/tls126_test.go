//go:build go1.26

package clienthello

import "crypto/tls"

// crypto/tls names the NIST-curve hybrids, and offers them by default,
// from Go 1.26 on. The module builds with Go 1.25 (see tls125_test.go).
const (
	tlsSecP256r1MLKEM768  = tls.SecP256r1MLKEM768
	tlsSecP384r1MLKEM1024 = tls.SecP384r1MLKEM1024
)

// goDefault is the groups a Go client offers by default.
var goDefault = []Group{X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, Secp256r1, Secp384r1, Secp521r1}
