package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLSInfo sums up a TLS connection for logs, headers and routing: what was
// negotiated and who the client proved to be. A stream computes it once
// and keeps it; it must not be changed.
type TLSInfo struct {
	// Version is "TLS 1.3" or "TLS 1.2"; Cipher the suite's IANA name;
	// Group the key exchange group, such as X25519MLKEM768.
	Version, Cipher, Group string
	// PostQuantum says the key exchange resists a quantum computer
	// (X25519MLKEM768 and its kin).
	PostQuantum bool
	// ServerName is the SNI the client asked for (the inner one with ECH);
	// ALPN the protocol negotiated.
	ServerName, ALPN string
	Resumed, ECH     bool
	// Client is the client certificate the handshake verified; nil when
	// the client sent none (or client authentication is off).
	Client *CertInfo
}

// CertInfo describes a certificate.
type CertInfo struct {
	Subject, Issuer string
	// Serial is the serial number in hex.
	Serial string
	// DNSNames, IPs, Emails and URIs are its subject alternative names;
	// URIs carry SPIFFE IDs (spiffe://trust-domain/path).
	DNSNames, IPs, Emails, URIs []string
	NotBefore, NotAfter         time.Time
	// SHA256 is the fingerprint of the DER certificate, in hex.
	SHA256 string
}

// NewCertInfo describes c. Safe from any goroutine.
func NewCertInfo(c *x509.Certificate) *CertInfo {
	sum := sha256.Sum256(c.Raw)
	ci := &CertInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
		DNSNames: c.DNSNames, Emails: c.EmailAddresses, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		SHA256: hex.EncodeToString(sum[:])}
	for _, ip := range c.IPAddresses {
		ci.IPs = append(ci.IPs, ip.String())
	}
	for _, u := range c.URIs {
		ci.URIs = append(ci.URIs, u.String())
	}
	return ci
}

// SPIFFEID returns the certificate's SPIFFE ID (its one spiffe:// URI
// SAN), or "". Safe from any goroutine.
func (c *CertInfo) SPIFFEID() string {
	id := ""
	for _, u := range c.URIs {
		if strings.HasPrefix(u, "spiffe://") {
			if id != "" {
				return "" // a SPIFFE SVID has exactly one
			}
			id = u
		}
	}
	return id
}

// AppendXFCC appends c in the format of Envoy's
// x-forwarded-client-cert field, which upstream servers already parse:
// Hash=<sha256>;Subject="...";URI=...;DNS=... (quotes and backslashes in
// values escaped). Safe from any goroutine.
func (c *CertInfo) AppendXFCC(dst []byte) []byte {
	dst = append(dst, "Hash="...)
	dst = append(dst, c.SHA256...)
	dst = append(dst, `;Subject="`...)
	dst = appendEscaped(dst, c.Subject)
	dst = append(dst, '"')
	for _, u := range c.URIs {
		dst = append(dst, ";URI="...)
		dst = append(dst, url.PathEscape(u)...)
	}
	for _, d := range c.DNSNames {
		dst = append(dst, ";DNS="...)
		dst = append(dst, d...)
	}
	return dst
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b < 0x20 || b == 0x7f:
			dst = append(dst, `\x`...)
			dst = strconv.AppendUint(dst, uint64(b), 16)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// IsTLS reports whether s is a TLS stream, at no cost. Loop only.
func IsTLS(s Stream) bool {
	_, ok := s.(interface{ TLSInfo() *TLSInfo })
	return ok
}

// TLSInfoOf returns the TLS summary of s, or nil when s is not a TLS
// stream. The first call for a connection builds it. Loop only.
func TLSInfoOf(s Stream) *TLSInfo {
	if ts, ok := s.(interface{ TLSInfo() *TLSInfo }); ok {
		return ts.TLSInfo()
	}
	return nil
}

// TLSInfo returns the connection's summary, built on first use. Loop
// only.
func (ts *tlsStream) TLSInfo() *TLSInfo {
	if ts.info != nil {
		return ts.info
	}
	cs := ts.tc.ConnectionState()
	info := &TLSInfo{Version: tls.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite),
		Group: cs.CurveID.String(), PostQuantum: postQuantumGroup(cs.CurveID), ServerName: cs.ServerName,
		ALPN: cs.NegotiatedProtocol, Resumed: cs.DidResume, ECH: cs.ECHAccepted}
	if len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 {
		info.Client = NewCertInfo(cs.PeerCertificates[0])
	}
	ts.info = info
	return info
}

// postQuantumGroup reports whether a negotiated group is a post-quantum
// hybrid (or pure ML-KEM).
func postQuantumGroup(id tls.CurveID) bool {
	return strings.Contains(strings.ToUpper(id.String()), "MLKEM")
}
