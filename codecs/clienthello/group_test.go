package clienthello

import (
	"crypto/tls"
	"testing"
)

func TestGroup(t *testing.T) {
	tests := []struct {
		name        string
		group       Group
		curve       tls.CurveID // the crypto/tls codepoint, 0 when it has none
		postQuantum bool
		draft       bool
	}{
		{"secp256r1", Secp256r1, tls.CurveP256, false, false},
		{"secp384r1", Secp384r1, tls.CurveP384, false, false},
		{"secp521r1", Secp521r1, tls.CurveP521, false, false},
		{"x25519", X25519, tls.X25519, false, false},
		{"x448", X448, 0, false, false},
		{"ffdhe2048", FFDHE2048, 0, false, false},
		{"ffdhe3072", FFDHE3072, 0, false, false},
		{"ffdhe4096", FFDHE4096, 0, false, false},
		{"ffdhe6144", FFDHE6144, 0, false, false},
		{"ffdhe8192", FFDHE8192, 0, false, false},
		{"MLKEM512", MLKEM512, 0, true, false},
		{"MLKEM768", MLKEM768, 0, true, false},
		{"MLKEM1024", MLKEM1024, 0, true, false},
		{"SecP256r1MLKEM768", SecP256r1MLKEM768, tlsSecP256r1MLKEM768, true, false},
		{"X25519MLKEM768", X25519MLKEM768, tls.X25519MLKEM768, true, false},
		{"SecP384r1MLKEM1024", SecP384r1MLKEM1024, tlsSecP384r1MLKEM1024, true, false},
		{"X25519Kyber768Draft00", X25519Kyber768Draft00, 0, true, true},
		{"Group(0x0a0a)", 0x0a0a, 0, false, false}, // GREASE
		{"Group(0xfe30)", 0xfe30, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.group.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if tt.curve != 0 && uint16(tt.group) != uint16(tt.curve) {
				t.Errorf("codepoint %#04x, crypto/tls %s is %#04x", uint16(tt.group), tt.curve, uint16(tt.curve))
			}
			if got := tt.group.PostQuantum(); got != tt.postQuantum {
				t.Errorf("PostQuantum() = %v, want %v", got, tt.postQuantum)
			}
			if got := tt.group.Draft(); got != tt.draft {
				t.Errorf("Draft() = %v, want %v", got, tt.draft)
			}
		})
	}
}
