package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/penstock-proxy/penstock/transport"
)

// echKeygen is `penstock ech-keygen`: it writes an Encrypted Client Hello
// key pair for a tls stage's ech_keys and prints the config list clients
// need, base64-encoded as DNS HTTPS records carry it (ech=...).
func echKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("penstock ech-keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("public-name", "", "the name in the outer, visible SNI (a name the server also has a certificate for)")
	out := fs.String("out", "ech", "write OUT.config and OUT.key")
	id := fs.Uint("id", 1, "the config id (0-255), to tell keys apart when rotating")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage of penstock ech-keygen:\n  penstock ech-keygen --public-name NAME [--out PREFIX] [--id N]\n\n"+
			"Makes an Encrypted Client Hello key (X25519, HKDF-SHA256, AES-128-GCM) for a tls stage's ech_keys,\n"+
			"and prints the ECHConfigList clients are given (the ech= value of a DNS HTTPS record).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nExample:\n  penstock ech-keygen --public-name public.example.org --out /etc/penstock/ech\n")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *name == "" || *id > 255 {
		fmt.Fprintln(stderr, "penstock ech-keygen: --public-name is required and --id is 0 to 255")
		return 2
	}
	config, key, err := transport.ECHKeygen(*name, uint8(*id))
	if err == nil {
		err = os.WriteFile(*out+".config", config, 0o644)
	}
	if err == nil {
		err = os.WriteFile(*out+".key", key, 0o600)
	}
	if err != nil {
		fmt.Fprintf(stderr, "penstock ech-keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s.config and %s.key\nECHConfigList (base64): %s\n", *out, *out,
		base64.StdEncoding.EncodeToString(transport.ECHConfigList(config)))
	return 0
}
