package http2_test

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/penstock-proxy/penstock/codecs/http2"
)

// h2spec (github.com/summerwind/h2spec v2.2.1, installed by .ci/run) runs
// its 146 conformance cases against the codec driven over loopback, in the
// default and the strict run: every case must pass.
func TestH2spec(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		t.Skip("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (.ci/run does)")
	}
	addr, _ := serveH2C(t, http2.Config{})
	host, port, _ := net.SplitHostPort(addr)
	for _, strict := range []bool{false, true} {
		args := []string{"-h", host, "-p", port, "-o", "3"}
		if strict {
			args = append(args, "-S")
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		summary := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
		if summary == nil {
			t.Fatalf("h2spec %v: no summary (%v):\n%s", args, err, out)
		}
		t.Logf("h2spec strict=%v: %s", strict, summary[0])
		if summary[4] != "0" || err != nil {
			t.Errorf("h2spec strict=%v failed cases:\n%s", strict, failures(string(out)))
		}
	}
}

// failures keeps the lines of h2spec's failure report.
func failures(out string) string {
	if i := strings.Index(out, "Failures:"); i >= 0 {
		return out[i:]
	}
	return out
}
