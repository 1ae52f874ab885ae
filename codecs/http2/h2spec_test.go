package http2_test

import (
	"testing"

	"github.com/penstock-proxy/penstock/codecs/http2"
	"github.com/penstock-proxy/penstock/internal/testutil"
)

// h2spec (github.com/summerwind/h2spec v2.2.1, installed by .ci/run) runs
// its conformance cases against the codec driven over loopback, in the
// default and the strict run: every case must pass.
func TestH2spec(t *testing.T) {
	addr, _ := serveH2C(t, http2.Config{})
	testutil.H2spec(t, addr)
}
