package gen

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
			requireReadsAsHandWritten(t, got)
		})
	}
}

// requireReadsAsHandWritten checks what a reviewer would: gofmt -s has
// nothing to simplify, no zero field is spelled out, sizes are shifts, and
// the Pipeline type's doc starts with its name.
func requireReadsAsHandWritten(t *testing.T, src []byte) {
	t.Helper()
	if gofmt, err := exec.LookPath("gofmt"); err == nil {
		cmd := exec.Command(gofmt, "-s", "-d")
		cmd.Stdin = bytes.NewReader(src)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		require.Empty(t, string(out), "gofmt -s would change the generated code")
	}
	for _, re := range []string{`\w: (0|""|false|nil),`, `\w: (0|""|false)}`, `prefixes\(\)`, `(Bytes|Max|Size|[sS]pliceAfter)\s*[:=] \d{4,}\b`} {
		require.NotRegexp(t, regexp.MustCompile(re), string(src))
	}
	require.Regexp(t, `(?m)^// Pipeline is the \w+ pipeline`, string(src))
}

// The problems only pipegen has: what it cannot generate, and a package
// name that would clash with an import.
func TestGeneratorErrors(t *testing.T) {
	const head = "version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:1\n"
	const group = "upstreams:\n  u: {endpoints: [\"127.0.0.1:2\"]}\n"
	cases := []struct{ name, spec, want string }{
		{"package clash", "version: 1\npipelines:\n  - name: edge\n    package: httpproxy\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: http_proxy, upstream: u}]\n" + group,
			"s.yaml:4: pipelines[0].package: package httpproxy has the name of github.com/penstock-proxy/penstock/l7/httpproxy, which the generated code imports: choose another package name, such as httpproxypipe"},
		{"package clash from the name", "version: 1\npipelines:\n  - name: http_proxy\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: http_proxy, upstream: u}]\n" + group,
			"s.yaml:3: pipelines[0].name: package httpproxy has the name of github.com/penstock-proxy/penstock/l7/httpproxy"},
		{"package clash with the standard library", "version: 1\npipelines:\n  - name: time\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\n" + group,
			"s.yaml:3: pipelines[0].name: package time has the name of time"},
		{"serve", head + "    stages: [{kind: serve, service: echo}]\n", "s.yaml:5: pipelines[0].stages[0].kind: serve runs the penstock daemon's built-in services"},
		{"access log", head + "    stages:\n      - kind: http_proxy\n        upstream: u\n        access_log: stderr\n" + group,
			"s.yaml:8: pipelines[0].stages[0].access_log: the penstock daemon writes access logs; in generated code set Pipeline.Proxy.Logging"},
		{"two pipelines", "version: 1\npipelines:\n  - name: a\n    listen: 127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\n  - name: b\n    listen: 127.0.0.1:2\n    stages: [{kind: relay, upstream: u}]\n" + group,
			"s.yaml:2: pipelines: pipegen generates one pipeline per file and this one has 2"},
		// The schema's own problems come out as they do from the daemon.
		{"schema problem", head + "    stages: [{kind: relay, upstream: u}]\n    timeouts: {idle: 20}\n" + group,
			"s.yaml:6: pipelines[0].timeouts.idle: a duration needs a unit: did you mean 20s?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate("s.yaml", []byte(tc.spec), "example.org/x")
			require.Error(t, err)
			var es Errors
			require.True(t, errors.As(err, &es))
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Check validates a file of several pipelines as the daemon does.
	require.NoError(t, Check("s.yaml", []byte("version: 1\npipelines:\n  - name: a\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n  - name: b\n    listen: 127.0.0.1:2\n    stages: [{kind: relay, upstream: u}]\n"+group)))
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

// yamlBlock returns the first ```yaml block of a markdown file after a
// marker, dedented.
func yamlBlock(t *testing.T, file, after string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	s := string(data)
	i := strings.Index(s, after)
	require.GreaterOrEqual(t, i, 0, "%s has no %q", file, after)
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	require.GreaterOrEqual(t, start, 0)
	indent := s[strings.LastIndexByte(s[:start], '\n')+1 : start]
	s = s[start+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	var out []string
	for _, line := range strings.Split(strings.TrimRight(s, " \n"), "\n") {
		out = append(out, strings.TrimPrefix(line, indent))
	}
	return strings.Join(out, "\n") + "\n"
}

// The README's spec generates, and the error it shows for it is the one
// pipegen gives, line number included.
func TestReadmeSpecExample(t *testing.T) {
	spec := yamlBlock(t, "../README.md", "1. Write the spec")
	_, err := Generate("kv_proto.yaml", []byte(spec), "example.org/app/kv")
	require.NoError(t, err)
	_, err = Generate("kv_proto.yaml", []byte(strings.Replace(spec, "tcp://127.0.0.1:7000", "udp://127.0.0.1:7000", 1)), "example.org/app/kv")
	require.Error(t, err)
	for _, doc := range []string{"../README.md", "../docs/pipeline-spec.md"} {
		data, rerr := os.ReadFile(doc)
		require.NoError(t, rerr)
		require.Contains(t, string(data), err.Error(), doc)
	}
}
