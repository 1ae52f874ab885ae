package testutil

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	xhttp2 "golang.org/x/net/http2"
)

// H2CClient is Go's own HTTP/2 client (golang.org/x/net/http2) speaking h2c
// with prior knowledge: a real peer for the HTTP/2 server and proxy.
func H2CClient() *http.Client {
	return &http.Client{Transport: &xhttp2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// H2spec runs h2spec (github.com/summerwind/h2spec v2.2.1, which .ci/run
// installs) against addr, in its default and its strict (-S) run, with
// extra arguments (-t -k for TLS), and fails the test on any failed case.
// It skips the test when h2spec is not installed.
func H2spec(t *testing.T, addr string, extra ...string) {
	t.Helper()
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		t.Skip("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (.ci/run does)")
	}
	host, port, _ := net.SplitHostPort(addr)
	for _, strict := range []bool{false, true} {
		args := append([]string{"-h", host, "-p", port, "-o", "3"}, extra...)
		if strict {
			args = append(args, "-S")
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("h2spec %v: no summary (%v):\n%s", args, err, out)
		}
		t.Logf("h2spec %v: %s", args, m[0])
		if m[4] != "0" || err != nil {
			i := max(strings.Index(string(out), "Failures:"), 0)
			t.Errorf("h2spec %v:\n%s", args, string(out)[i:])
		}
	}
}
