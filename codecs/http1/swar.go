package http1

import "encoding/binary"

// Word-at-a-time byte tests: eight bytes per step where a byte loop takes
// eight table lookups and branches. Each reports, exactly, whether any
// byte of w is in the class; callers fall back to a byte loop for a word
// that has one.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// wordHasCtl reports whether a byte of w is below 0x20 (controls: NUL, CR,
// LF, and HTAB too) or is DEL.
func wordHasCtl(w uint64) bool {
	d := w ^ (0x7f * ones)
	return ((w-0x20*ones)&^w|(d-ones)&^d)&highs != 0
}

// wordHasLow reports whether a byte of w is below 0x20.
func wordHasLow(w uint64) bool { return (w-0x20*ones)&^w&highs != 0 }

// validValue reports whether every byte of b is a field-vchar, SP or HTAB
// (RFC 9110 §5.5): field values and reason phrases.
func validValue(b []byte) bool {
	for len(b) >= 8 {
		if wordHasCtl(binary.LittleEndian.Uint64(b)) && !all(b[:8], classValue) {
			return false
		}
		b = b[8:]
	}
	return all(b, classValue)
}

// sanitize replaces CR, LF and NUL in b with spaces.
func sanitize(b []byte) {
	for len(b) >= 8 {
		if wordHasLow(binary.LittleEndian.Uint64(b)) {
			sanitizeBytes(b[:8])
		}
		b = b[8:]
	}
	sanitizeBytes(b)
}

func sanitizeBytes(b []byte) {
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
}
