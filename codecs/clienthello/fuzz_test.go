package clienthello

import (
	"crypto/tls"
	"reflect"
	"testing"

	"github.com/penstock-proxy/penstock/codecs"
)

// seedHellos returns real crypto/tls hellos, some re-framed into several
// records, and a few inputs that are not hellos.
func seedHellos(f *testing.F) [][]byte {
	pq := defaultHello(f)
	return [][]byte{
		pq,
		reframe(pq, 7, 300),
		reframeEvery(pq[:recordHeaderLen+60], 3),
		captureHello(f, &tls.Config{ServerName: "legacy.example.org", MaxVersion: tls.VersionTLS12}),
		captureHello(f, &tls.Config{ServerName: "x.example.org", CurvePreferences: []tls.CurveID{tls.X25519}}),
		captureHello(f, &tls.Config{ServerName: "e.example.org", MinVersion: tls.VersionTLS13,
			EncryptedClientHelloConfigList: echConfigList(f, "public.example.org")}),
		builtHello(ext(extPreSharedKey, []byte{1})),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{recordTypeHandshake, 3, 1, 0, 0},
	}
}

// FuzzParse checks that Parse never panics, that n stays within the input,
// and that a result does not depend on how much input arrived: every prefix
// either needs more or gives exactly the result of the whole input, and a
// peeker holding MaxWireSize bytes always gets an answer.
func FuzzParse(f *testing.F) {
	for _, seed := range seedHellos(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, part Hello
		n, err := Parse(data, &whole)
		if err == nil && (n <= 0 || n > len(data)) {
			t.Fatalf("n = %d for %d bytes", n, len(data))
		}
		if err == codecs.ErrNeedMore && len(data) >= MaxWireSize {
			t.Fatalf("ErrNeedMore with %d bytes buffered", len(data))
		}
		for k := 0; k <= min(len(data), MaxWireSize); k++ {
			m, perr := Parse(data[:k], &part)
			switch {
			case perr == codecs.ErrNeedMore:
			case perr != err || m != n:
				t.Fatalf("prefix of %d/%d bytes: %d, %v; whole input: %d, %v", k, len(data), m, perr, n, err)
			case err == nil && k == n: // longer prefixes read the same n bytes
				if got, want := viewOf(m, &part), viewOf(n, &whole); !reflect.DeepEqual(got, want) {
					t.Fatalf("prefix of %d/%d bytes parses to\n%+v\nwhole input to\n%+v", k, len(data), got, want)
				}
			}
		}
	})
}

// FuzzCryptoTLSAgreement compares Parse with the crypto/tls server's decoder
// on the same bytes: when both accept a hello they must agree on every field
// crypto/tls exposes, and Parse must accept every hello crypto/tls accepts
// except where it is documented to be stricter.
func FuzzCryptoTLSAgreement(f *testing.F) {
	for _, seed := range seedHellos(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Hello
		n, err := Parse(data, &h)
		if err == codecs.ErrNeedMore {
			return // crypto/tls would wait for more
		}
		info := cryptoTLSView(data[:max(n, min(len(data), MaxWireSize))])
		switch {
		case err == nil:
			if info == nil && !validatesMore(h.Extensions()) {
				t.Fatalf("crypto/tls rejects a hello Parse accepts: %x", data)
			}
			if info != nil {
				checkAgainstCryptoTLS(t, &h, info)
			}
		case info != nil && !stricterThanCryptoTLS(err):
			t.Fatalf("Parse: %v on a hello crypto/tls accepts: %x", err, data)
		}
	})
}

// validatesMore reports whether exts holds an extension crypto/tls decodes
// and validates but Parse skips, so crypto/tls may reject what Parse accepts.
func validatesMore(exts []uint16) bool {
	for _, e := range exts {
		switch e {
		case 5, // status_request
			11,              // ec_point_formats
			18,              // signed_certificate_timestamp
			23,              // extended_master_secret
			extPreSharedKey, // pre_shared_key
			42,              // early_data
			44,              // cookie
			45,              // psk_key_exchange_modes
			50,              // signature_algorithms_cert
			57,              // quic_transport_parameters
			extECH,          // encrypted_client_hello
			0xff01:          // renegotiation_info
			return true
		}
	}
	return false
}

// stricterThanCryptoTLS reports whether err is a check Parse makes and the
// crypto/tls server does not make before GetConfigForClient: it takes any
// first record version below 0x1000, skips empty and warning alert records
// between fragments, reads one message out of a record, and leaves the
// vector bounds of the fixed fields to later checks.
func stricterThanCryptoTLS(err error) bool {
	switch err {
	case ErrNotTLS, ErrTooLarge, errEmptyRecord, errRecordOverflow, errInterleaved,
		errTrailingData, errSessionID, errCipherSuites, errCompression:
		return true
	}
	return false
}
