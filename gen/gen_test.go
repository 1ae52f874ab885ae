package gen

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Each testdata case is a spec and the code it must generate.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			specs, _ := filepath.Glob(filepath.Join(dir, "spec.*"))
			require.Len(t, specs, 1)
			data, err := os.ReadFile(specs[0])
			require.NoError(t, err)
			got, err := Generate(filepath.Base(specs[0]), data, "example.org/app/pipelines/"+filepath.Base(dir))
			require.NoError(t, err)
			want := filepath.Join(dir, "want.go.golden")
			if *update {
				require.NoError(t, os.WriteFile(want, got, 0o644))
			}
			exp, err := os.ReadFile(want)
			require.NoError(t, err, "run go test ./gen -update to create it")
			require.Equal(t, string(exp), string(got))
			again, err := Generate(filepath.Base(specs[0]), data, "example.org/app/pipelines/"+filepath.Base(dir))
			require.NoError(t, err)
			require.Equal(t, got, again, "output must be deterministic")
			require.True(t, strings.HasPrefix(string(got), Header+"\n"))
		})
	}
}

// Every broken spec is refused with an error that names its line and key.
func TestSpecErrors(t *testing.T) {
	const base = "version: 1\nname: x\nlisten: [tcp://127.0.0.1:1]\n"
	cases := []struct{ name, spec, want string }{
		{"unknown kind", base + "stages:\n  - kind: frobnicate\n", "s.yaml:5: stages[0].kind: unknown stage kind \"frobnicate\""},
		{"wrong order", base + "stages:\n  - kind: relay\n    upstream: u\n  - kind: match\n    routes: [{upstream: u}]\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:5: stages[0].kind: relay is a terminal and must be the last stage"},
		{"phase after framer", base + "stages:\n  - kind: line\n  - kind: match\n    routes: [{upstream: u}]\n  - kind: handle\n    type: T\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:6: stages[1].kind: match comes too late"},
		{"stream framer on udp", "version: 1\nname: x\nlisten: [udp://127.0.0.1:1]\nstages:\n  - kind: length_field\n    length: 2\n  - kind: handle\n    type: T\n",
			"s.yaml:5: stages[0].kind: length_field is a stream framer and this pipeline listens on UDP: use datagram"},
		{"datagram on tcp", base + "stages:\n  - kind: datagram\n  - kind: handle\n    type: T\n", "s.yaml:5: stages[0].kind: datagram framing needs a UDP listener"},
		{"missing group", base + "stages:\n  - kind: relay\n    upstream: nope\n", "s.yaml:6: stages[0].upstream: no upstream group named \"nope\""},
		{"key of another kind", base + "stages:\n  - kind: relay\n    upstream: u\n    offset: 3\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].offset: does not apply to a relay stage"},
		{"no terminal", base + "stages:\n  - kind: line\n", "stages: no terminal stage"},
		{"two framers", base + "stages:\n  - kind: line\n  - kind: fixed\n    size: 4\n  - kind: handle\n    type: T\n", "s.yaml:6: stages[1].kind: a second framer: stages[0] already has one"},
		{"bad length", base + "stages:\n  - kind: length_field\n    length: 5\n  - kind: handle\n    type: T\n", "s.yaml:6: stages[0].length: the length field is 1, 2, 3, 4 or 8 bytes, not 5"},
		{"relay after framer", base + "stages:\n  - kind: line\n  - kind: relay\n    upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n", "s.yaml:6: stages[1].kind: relay moves raw bytes"},
		{"handle without framer", base + "stages:\n  - kind: handle\n    type: T\n", "s.yaml:5: stages[0].kind: handle needs a framer"},
		{"bad type", base + "stages:\n  - kind: line\n  - kind: handle\n    type: lower\n", "s.yaml:7: stages[1].type: \"lower\" is not a Go type"},
		{"unknown top key", base + "stagez: []\n", "s.yaml:4: stagez: unknown key"},
		{"bad version", "version: 2\nname: x\nlisten: [tcp://127.0.0.1:1]\nstages: [{kind: line}, {kind: handle, type: T}]\n", "s.yaml:1: version: unsupported spec version 2"},
		{"mixed networks", "version: 1\nname: x\nlisten: [tcp://127.0.0.1:1, udp://127.0.0.1:2]\nstages: [{kind: relay, upstream: u}]\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n", "s.yaml:3: listen[1]: mixes udp with tcp"},
		{"default route first", base + "stages:\n  - kind: match\n    routes:\n      - upstream: u\n      - prefix: [a]\n        upstream: u\n  - kind: relay\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n", "s.yaml:7: stages[0].routes[0]: a default route"},
		{"proxy after match", base + "stages:\n  - kind: match\n    routes: [{upstream: u}]\n  - kind: proxy_protocol\n    trusted: [10.0.0.0/8]\n  - kind: relay\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[1].kind: proxy_protocol comes too late"},
		{"proxy without trusted", base + "stages:\n  - kind: proxy_protocol\n  - kind: relay\n    upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:5: stages[0].trusted: name the load balancers"},
		{"bad duration", base + "stages: [{kind: relay, upstream: u}]\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\ntimeouts: {idle: soon}\n", "s.yaml:6: timeouts.idle: \"soon\" is not a duration"},
		{"http on udp", "version: 1\nname: x\nlisten: [udp://127.0.0.1:1]\nstages:\n  - kind: http_proxy\n    upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:5: stages[0].kind: http_proxy serves streams: it needs tcp or unix listeners"},
		{"http after framer", base + "stages:\n  - kind: line\n  - kind: http_proxy\n    upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:6: stages[1].kind: http_proxy frames HTTP itself: remove the line framer"},
		{"http with match", base + "stages:\n  - kind: match\n    routes: [{upstream: u}]\n  - kind: http_proxy\n    upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[1].kind: match routes to upstream groups: it works with relay, not http_proxy"},
		{"http no upstream", base + "stages:\n  - kind: http_proxy\n    via: edge\n", "s.yaml:5: stages[0].upstream: missing: an http_proxy stage needs an upstream"},
		{"http unknown group", base + "stages:\n  - kind: http_proxy\n    upstream: nope\n", "s.yaml:6: stages[0].upstream: no upstream group named \"nope\""},
		{"http route group", base + "stages:\n  - kind: http_proxy\n    routes:\n      - path_prefix: /a\n        upstream: nope\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:8: stages[0].routes[0].upstream: no upstream group named \"nope\""},
		{"http path prefix", base + "stages:\n  - kind: http_proxy\n    upstream: u\n    routes:\n      - path_prefix: api\n        upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:8: stages[0].routes[0].path_prefix: \"api\" must start with /"},
		{"http route without match", base + "stages:\n  - kind: http_proxy\n    routes:\n      - upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].routes[0]: a route needs host, path_prefix or both"},
		{"http host with port", base + "stages:\n  - kind: http_proxy\n    routes:\n      - host: example.org:80\n        upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].routes[0].host: \"example.org:80\" is not a host"},
		{"http sni route", base + "stages:\n  - kind: http_proxy\n    routes:\n      - tls_sni: [a.example.org]\n        upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].routes[0].tls_sni: tls_sni routes streams (match)"},
		{"http shadowed route", base + "stages:\n  - kind: http_proxy\n    routes:\n      - path_prefix: /a\n        upstream: u\n      - host: x.example.org\n        path_prefix: /ab\n        upstream: u\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:9: stages[0].routes[1]: never matches: routes[0] comes first"},
		{"match route with host", base + "stages:\n  - kind: match\n    routes:\n      - host: a.example.org\n        upstream: u\n  - kind: relay\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].routes[0].host: host routes HTTP requests (http_proxy)"},
		{"http bad via", base + "stages:\n  - kind: http_proxy\n    upstream: u\n    via: two words\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].via: \"two words\" is not a Via pseudonym"},
		{"http negative limit", base + "stages:\n  - kind: http_proxy\n    upstream: u\n    max_headers: -1\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].max_headers: must not be negative"},
		{"http key of relay", base + "stages:\n  - kind: http_proxy\n    upstream: u\n    splice_after: 1\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\n",
			"s.yaml:7: stages[0].splice_after: does not apply to an http_proxy stage"},
		{"response timeout on relay", base + "stages: [{kind: relay, upstream: u}]\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\ntimeouts: {response: 1s}\n",
			"s.yaml:6: timeouts.response: applies to http_proxy pipelines only"},
		{"bad response timeout", base + "stages: [{kind: http_proxy, upstream: u}]\nupstreams: {u: {endpoints: [\"1.2.3.4:5\"]}}\ntimeouts: {response: soon}\n",
			"s.yaml:6: timeouts.response: \"soon\" is not a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate("s.yaml", []byte(tc.spec), "example.org/x")
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzGenerate(f *testing.F) {
	for _, p := range []string{"testdata/relay/spec.yaml", "testdata/router/spec.yaml", "testdata/kv/spec.json", "testdata/http/spec.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Any spec either generates code, or fails with the spec's own
	// problems (Errors, each at a line): an error of any other kind, such
	// as generated code that does not parse or a template that fails, is
	// a pipegen bug.
	f.Fuzz(func(t *testing.T, spec []byte) {
		src, err := Generate("fuzz.yaml", spec, "example.org/fuzz")
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("not a spec error: %v", err)
			}
			return
		}
		if !strings.HasPrefix(string(src), Header) {
			t.Fatal("generated code without its header")
		}
	})
}
