package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/penstock-proxy/penstock/gen"
)

func TestDefaultConfigIsValid(t *testing.T) {
	dir, err := demoTLS()
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	cfg, err := ParseConfig("default", withDemoTLS(defaultConfig, dir))
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Pipelines)
	// pipegen checks it as the daemon does: one schema, one validation.
	require.NoError(t, gen.Check("default", defaultConfig))
}

// Every broken config is refused with a message that names the line and
// the key at fault.
func TestConfigErrorsNameLineAndKey(t *testing.T) {
	const group = "upstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n"
	cases := []struct {
		name, config, want string
	}{
		{"unknown key", "version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:1\n    stages:\n      - kind: relay\n        upstrem: u\n" + group,
			"cfg:7: pipelines[0].stages[0].upstrem: unknown key: did you mean upstream?"},
		{"bad scheme", "version: 1\npipelines:\n  - name: x\n    listen: tpc://127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n",
			"cfg:4: pipelines[0].listen: unknown scheme \"tpc\": did you mean tcp?"},
		{"missing group", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - kind: relay\n        upstream: nope\n",
			"cfg:7: pipelines[0].stages[0].upstream: no upstream group named \"nope\""},
		{"bad cidr", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n    filters:\n      deny: [10.0.0.0/33]\n",
			"cfg:7: pipelines[0].filters.deny[0]: \"10.0.0.0/33\" is not an IP address or CIDR prefix"},
		{"bad endpoint", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\nupstreams:\n  u:\n    endpoints: [nohost]\n",
			"cfg:8: upstreams.u.endpoints[0]: \"nohost\" is not host:port or unix:/path"},
		{"bad duration", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\n    timeouts:\n      idle: soon\n" + group,
			"cfg:7: pipelines[0].timeouts.idle: \"soon\" is not a duration such as 5s, 250ms or 1m30s"},
		{"duration without unit", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\n    timeouts:\n      idle: 20\n" + group,
			"cfg:7: pipelines[0].timeouts.idle: a duration needs a unit: did you mean 20s?"},
		{"yaml syntax", "version: 1\npipelines:\n  - listen: [\n", "cfg:3: did not find expected node content"},
		{"no pipelines", "version: 1\nloops: 1\n", "cfg:1: pipelines: at least one pipeline is needed"},
		{"old format", "listeners:\n  - listen: 127.0.0.1:1\n    serve: echo\n", "cfg:1: listeners: unknown key: listeners are pipelines now"},
		{"two terminals", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - {kind: serve, service: echo}\n      - {kind: relay, upstream: u}\n" + group,
			"cfg:6: pipelines[0].stages[0].kind: serve is a terminal and must be the last stage"},
		{"match on udp", "version: 1\npipelines:\n  - name: x\n    listen: udp://127.0.0.1:1\n    stages:\n      - kind: match\n        routes: [{upstream: u}]\n      - kind: relay\n" + group,
			"cfg:6: pipelines[0].stages[0].kind: match works on streams: it needs tcp or unix listeners, and this pipeline listens on UDP"},
		{"default route first", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - kind: match\n        routes:\n          - upstream: u\n          - prefix: [x]\n            upstream: u\n      - kind: relay\n" + group,
			"cfg:8: pipelines[0].stages[0].routes[0]: a default route (no tls_sni, no prefix) must come last"},
		{"duplicate listen", "version: 1\npipelines:\n  - name: a\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n  - name: b\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n",
			"cfg:7: pipelines[1].listen: tcp://127.0.0.1:1 is also where pipelines[0].listen listens"},
		{"hostname listen", "version: 1\npipelines:\n  - name: x\n    listen: localhost:1\n    stages: [{kind: serve, service: echo}]\n",
			"cfg:4: pipelines[0].listen: \"localhost:1\": the listen host must be an IP address"},
		{"port out of range", "version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:154320\n    stages: [{kind: serve, service: echo}]\n",
			"cfg:4: pipelines[0].listen: \"tcp://127.0.0.1:154320\": the port must be a number from 0 to 65535"},
		{"log level", "version: 1\nlog: {level: loud}\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n",
			"cfg:2: log.level: unknown level \"loud\""},
		{"access log on a relay", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - kind: relay\n        upstream: u\n        access_log: stderr\n" + group,
			"cfg:8: pipelines[0].stages[0].access_log: does not apply to a relay stage"},
		{"access log directory", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - kind: http_proxy\n        upstream: u\n        access_log: /nonexistent-penstock-dir/access.log\n" + group,
			"cfg:8: pipelines[0].stages[0].access_log: the directory of \"/nonexistent-penstock-dir/access.log\" does not exist"},
		{"handler not compiled in", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - kind: line\n      - kind: handle\n        type: example.org/app.Upper\n",
			"cfg:8: pipelines[0].stages[1].type: \"example.org/app.Upper\" is not compiled into the daemon"},
		{"framer the codec refuses", "version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages:\n      - {kind: length_field, length: 2, offset: 1, adjust: -9}\n      - {kind: handle, type: github.com/penstock-proxy/penstock/pipelines/kvproto.Store}\n",
			""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("cfg", []byte(tc.config))
			if tc.want == "" {
				// Whatever the codec says, it is said at run and check alike.
				if err != nil {
					require.NotEmpty(t, asErrors(err), "%v", err)
				}
				return
			}
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want), "error %q does not contain %q", err, tc.want)
		})
	}
}

// A broken key gets the same error, file:line and key path, from pipegen
// and from the daemon.
func TestSameErrorFromPipegenAndDaemon(t *testing.T) {
	data, err := os.ReadFile("../../pipelines/webproxy/web_proxy.yaml")
	require.NoError(t, err)
	broken := strings.Replace(string(data), "path_prefix: /static/", "path_prefx: /static/", 1)
	broken = strings.Replace(broken, "idle: 60s", "idle: 60", 1)
	_, genErr := gen.Generate("web_proxy.yaml", []byte(broken), "github.com/penstock-proxy/penstock/pipelines/webproxy")
	require.Error(t, genErr)
	_, daemonErr := ParseConfig("web_proxy.yaml", []byte(broken))
	require.Error(t, daemonErr)
	require.Equal(t, genErr.Error(), daemonErr.Error())
	require.Contains(t, daemonErr.Error(), "web_proxy.yaml:22: pipelines[0].stages[0].routes[1].path_prefx: unknown key: did you mean path_prefix?")
	require.Contains(t, daemonErr.Error(), "web_proxy.yaml:32: pipelines[0].timeouts.idle: a duration needs a unit: did you mean 60s?")
}

// Every spec under pipelines/ passes the daemon's check as written.
func TestEverySpecPassesCheck(t *testing.T) {
	specs, err := filepath.Glob("../../pipelines/*/*.yaml")
	require.NoError(t, err)
	require.Len(t, specs, 7)
	for _, s := range specs {
		data, err := os.ReadFile(s)
		require.NoError(t, err)
		_, err = ParseConfig(s, data)
		require.NoError(t, err, s)
	}
}

func TestConfigJSONIsAccepted(t *testing.T) {
	cfg, err := ParseConfig("cfg.json", []byte(`{"version":1,"pipelines":[{"name":"dns","listen":"udp://127.0.0.1:5353","stages":[{"kind":"relay","upstream":"dns"}]}],
		"upstreams":{"dns":{"endpoints":["127.0.0.1:53"]}}}`))
	require.NoError(t, err)
	require.Equal(t, []string{"udp://127.0.0.1:5353"}, cfg.Pipelines[0].Values.Listen)
}

func FuzzParseConfig(f *testing.F) {
	f.Add(defaultConfig)
	f.Add([]byte("version: 1\npipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n"))
	f.Add([]byte(`{"version":1,"pipelines":[{"name":"x","listen":"udp://[::1]:1","stages":[{"kind":"serve","service":"echo"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz", data)
		if err == nil {
			if len(cfg.Pipelines) == 0 {
				t.Fatal("a valid config has pipelines")
			}
			if _, err := build(cfg, quietLog(), nil, nil, nil); err != nil {
				t.Fatalf("a checked config must build: %v", err)
			}
		} else if asErrors(err) == nil {
			t.Fatalf("not a config error: %v", err)
		}
	})
}

// The README's config example is valid, and the error it quotes for a
// misspelt key is the daemon's.
func TestReadmeConfigExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	s := string(data)
	start := strings.Index(s, "```yaml\nversion: 1\npipelines:\n  - name: web\n")
	require.GreaterOrEqual(t, start, 0)
	cfg := s[start+len("```yaml\n"):]
	cfg = cfg[:strings.Index(cfg, "```")]
	_, err = ParseConfig("penstock.yaml", []byte(cfg))
	require.NoError(t, err)
	_, err = ParseConfig("penstock.yaml", []byte(strings.Replace(cfg, "path_prefix", "path_prefx", 1)))
	require.Error(t, err)
	line := strings.SplitN(err.Error(), " (valid here", 2)[0]
	require.Contains(t, s, "`"+line+"`")
}
