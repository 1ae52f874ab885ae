//go:build go1.26

// The module's go line (1.25) gives its builds Go 1.25's defaults, under
// which crypto/tls does not offer the NIST hybrids; these tests check Go
// 1.26's behaviour, so they ask for it.
//go:debug tlssecpmlkem=1

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
