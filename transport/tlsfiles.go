package transport

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// TLSFiles are a TLS server's settings as a config file names them: what a
// pipeline's tls stage holds. Load reads them into a tls.Config.
type TLSFiles struct {
	// Certificates are the chains served, picked by SNI (Certificates);
	// the first is the default.
	Certificates []CertFiles
	// ClientAuth asks for client certificates: tls.VerifyClientCertIfGiven
	// (optional) or tls.RequireAndVerifyClientCert (require), verified
	// against ClientCA, a PEM bundle.
	ClientAuth tls.ClientAuthType
	ClientCA   string
	// ALPN are the protocols offered, in the server's order of preference.
	ALPN []string
	// MinVersion is tls.VersionTLS12 (the default) or tls.VersionTLS13.
	MinVersion uint16
	// ECHKeys are the Encrypted Client Hello keys: files of an ECHConfig
	// and of its X25519 private key (as ECHKeygen writes them).
	ECHKeys []ECHKeyFiles
}

// ECHKeyFiles name an ECH key: the ECHConfig clients are given and its
// private key, binary files.
type ECHKeyFiles struct {
	Config, Key string
}

// Paths are every file f names, for a FileWatch. Safe from any goroutine.
func (f TLSFiles) Paths() []string {
	var out []string
	for _, c := range f.Certificates {
		out = append(out, c.Cert, c.Key)
	}
	if f.ClientCA != "" {
		out = append(out, f.ClientCA)
	}
	for _, k := range f.ECHKeys {
		out = append(out, k.Config, k.Key)
	}
	return out
}

// Load reads the files and returns a server tls.Config that picks its
// certificate by SNI, with the Certificates it picks from. The error names
// each file that is missing or wrong. Safe from any goroutine.
func (f TLSFiles) Load() (*tls.Config, *Certificates, error) {
	certs, err := LoadCertificates(f.Certificates)
	if err != nil {
		return nil, nil, err
	}
	set, err := NewCertificates(certs)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{GetCertificate: set.GetCertificate, NextProtos: f.ALPN, MinVersion: max(f.MinVersion, tls.VersionTLS12),
		ClientAuth: f.ClientAuth}
	if f.ClientCA != "" {
		pool, err := LoadCertPool(f.ClientCA)
		if err != nil {
			return nil, nil, err
		}
		cfg.ClientCAs = pool
	}
	for _, k := range f.ECHKeys {
		conf, err := os.ReadFile(k.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("ECH config: %w", err)
		}
		key, err := os.ReadFile(k.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("ECH key: %w", err)
		}
		if _, err := ecdh.X25519().NewPrivateKey(key); err != nil {
			return nil, nil, fmt.Errorf("ECH key %s: not a raw X25519 private key: %w", k.Key, err)
		}
		if err := checkECHConfig(conf); err != nil {
			return nil, nil, fmt.Errorf("ECH config %s: %w", k.Config, err)
		}
		cfg.EncryptedClientHelloKeys = append(cfg.EncryptedClientHelloKeys,
			tls.EncryptedClientHelloKey{Config: conf, PrivateKey: key, SendAsRetry: true})
	}
	return cfg, set, nil
}

// LoadCertPool reads a PEM bundle of CA certificates. Safe from any
// goroutine.
func LoadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ECH (draft-ietf-tls-esni) constants of the configs ECHKeygen makes.
const (
	echVersion    = 0xfe0d
	echKEMX25519  = 0x0020
	echKDFSHA256  = 0x0001
	echAEADAES128 = 0x0001
)

// ECHKeygen makes an Encrypted Client Hello key for the public name (the
// name clients put in the outer, visible SNI): an ECHConfig (X25519,
// HKDF-SHA256, AES-128-GCM) with config id id, and its private key. The
// config goes to clients inside an ECHConfigList (ECHConfigList), usually
// through DNS HTTPS records. Safe from any goroutine.
func ECHKeygen(publicName string, id uint8) (config, key []byte, err error) {
	if publicName == "" || len(publicName) > 255 {
		return nil, nil, errors.New("penstock/transport: an ECH public name is 1 to 255 bytes")
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pub := priv.PublicKey().Bytes()
	var body []byte
	body = append(body, id)
	body = binary.BigEndian.AppendUint16(body, echKEMX25519)
	body = binary.BigEndian.AppendUint16(body, uint16(len(pub)))
	body = append(body, pub...)
	body = binary.BigEndian.AppendUint16(body, 4) // one cipher suite
	body = binary.BigEndian.AppendUint16(body, echKDFSHA256)
	body = binary.BigEndian.AppendUint16(body, echAEADAES128)
	body = append(body, 0) // maximum_name_length: let clients pad as they do
	body = append(body, byte(len(publicName)))
	body = append(body, publicName...)
	body = binary.BigEndian.AppendUint16(body, 0) // no extensions
	config = binary.BigEndian.AppendUint16(nil, echVersion)
	config = binary.BigEndian.AppendUint16(config, uint16(len(body)))
	config = append(config, body...)
	return config, priv.Bytes(), nil
}

// ECHConfigList wraps configs in the list a client is given
// (tls.Config.EncryptedClientHelloConfigList). Safe from any goroutine.
func ECHConfigList(configs ...[]byte) []byte {
	n := 0
	for _, c := range configs {
		n += len(c)
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(n))
	for _, c := range configs {
		out = append(out, c...)
	}
	return out
}

// checkECHConfig checks the framing of one ECHConfig.
func checkECHConfig(b []byte) error {
	if len(b) < 4 || binary.BigEndian.Uint16(b) != echVersion {
		return errors.New("not an ECHConfig (version 0xfe0d)")
	}
	if int(binary.BigEndian.Uint16(b[2:]))+4 != len(b) {
		return errors.New("ECHConfig length does not match the file")
	}
	return nil
}

// ClientTLSFiles are how connections to an upstream speak TLS, as a config
// file names them (an upstream group's tls block). Load reads them into a
// client tls.Config.
type ClientTLSFiles struct {
	// SNI is the name sent and verified (empty: each endpoint's host, see
	// l4.Group.SetTLS).
	SNI string
	// CA is a PEM bundle of the roots to verify with (empty: the
	// system's).
	CA string
	// InsecureSkipVerify turns verification off; it is never the default.
	InsecureSkipVerify bool
	// Cert and Key are a client certificate, for mTLS upstream.
	Cert, Key string
	// ALPN are the protocols offered.
	ALPN []string
}

// Load reads the files and returns a client configuration with TLS 1.2 as
// its floor and a session cache, so reconnections resume. Safe from any
// goroutine.
func (f ClientTLSFiles) Load() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: f.SNI, InsecureSkipVerify: f.InsecureSkipVerify, NextProtos: f.ALPN,
		MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(256)}
	if f.CA != "" {
		pool, err := LoadCertPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		certs, err := LoadCertificates([]CertFiles{{Cert: f.Cert, Key: f.Key}})
		if err != nil {
			return nil, err
		}
		cfg.Certificates = certs
	}
	return cfg, nil
}
