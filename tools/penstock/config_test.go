package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := ParseConfig("default", defaultConfig)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Listeners)
}

// Every broken config is refused with a message that names the line and
// the key at fault.
func TestConfigErrorsNameLineAndKey(t *testing.T) {
	cases := []struct {
		name, config, want string
	}{
		{"unknown key", "listeners:\n  - listen: tcp://127.0.0.1:1\n    upstrem: x\n", "cfg:3: upstrem: unknown key"},
		{"bad scheme", "listeners:\n  - listen: tpc://127.0.0.1:1\n    serve: echo\n", "cfg:2: listeners[0].listen: unknown scheme \"tpc\""},
		{"missing group", "listeners:\n  - listen: 127.0.0.1:1\n    upstream: nope\n", "cfg:3: listeners[0].upstream: no upstream group named \"nope\""},
		{"bad cidr", "listeners:\n  - listen: 127.0.0.1:1\n    serve: echo\n    filters:\n      deny: [10.0.0.0/33]\n", "cfg:5: listeners[0].filters.deny[0]: \"10.0.0.0/33\" is not a CIDR prefix"},
		{"bad endpoint", "listeners:\n  - listen: 127.0.0.1:1\n    upstream: u\nupstreams:\n  u:\n    endpoints: [nohost]\n", "cfg:6: upstreams.u.endpoints[0]: \"nohost\" is not host:port or unix:/path"},
		{"bad duration", "listeners:\n  - listen: 127.0.0.1:1\n    serve: echo\n    idle_timeout: soon\n", "cfg:4: cannot unmarshal !!str `soon` into time.Duration"},
		{"yaml syntax", "listeners:\n  - listen: [\n", "cfg:2: did not find expected node content"},
		{"no listeners", "loops: 1\n", "cfg:1: listeners: at least one listener is needed"},
		{"two modes", "listeners:\n  - listen: 127.0.0.1:1\n    serve: echo\n    upstream: u\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n", "cfg:2: listeners[0]: set exactly one of upstream, routes or serve"},
		{"routes on udp", "listeners:\n  - listen: udp://127.0.0.1:1\n    routes:\n      - upstream: u\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n", "cfg:3: listeners[0].routes: routes need a TCP listener"},
		{"default route first", "listeners:\n  - listen: 127.0.0.1:1\n    routes:\n      - upstream: u\n      - prefix: [x]\n        upstream: u\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n", "cfg:4: listeners[0].routes[0]: a default route (no sni, no prefix) must come last"},
		{"duplicate listen", "listeners:\n  - listen: 127.0.0.1:1\n    serve: echo\n  - listen: tcp://127.0.0.1:1\n    serve: echo\n", "cfg:4: listeners[1].listen: tcp://127.0.0.1:1 is also used by listeners[0]"},
		{"hostname listen", "listeners:\n  - listen: localhost:1\n    serve: echo\n", "cfg:2: listeners[0].listen: listen host must be an IP address"},
		{"log level", "log: {level: loud}\nlisteners:\n  - listen: 127.0.0.1:1\n    serve: echo\n", "cfg:1: log.level: unknown level \"loud\""},
		{"access log on a relay", "listeners:\n  - listen: 127.0.0.1:1\n    upstream: u\n    access_log: stderr\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n", "cfg:4: listeners[0].access_log: access logs are for protocol: http listeners"},
		{"access log directory", "listeners:\n  - listen: 127.0.0.1:1\n    protocol: http\n    upstream: u\n    access_log: /nonexistent-penstock-dir/access.log\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n", "cfg:5: listeners[0].access_log: the directory of \"/nonexistent-penstock-dir/access.log\" does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("cfg", []byte(tc.config))
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want), "error %q does not contain %q", err, tc.want)
		})
	}
}

func TestConfigJSONIsAccepted(t *testing.T) {
	cfg, err := ParseConfig("cfg.json", []byte(`{"listeners":[{"listen":"udp://127.0.0.1:5353","upstream":"dns"}],
		"upstreams":{"dns":{"endpoints":["127.0.0.1:53"]}}}`))
	require.NoError(t, err)
	require.Equal(t, "udp://127.0.0.1:5353", cfg.Listeners[0].Listen)
}

func FuzzParseConfig(f *testing.F) {
	f.Add(defaultConfig)
	f.Add([]byte("listeners:\n  - listen: 127.0.0.1:1\n    upstream: u\nupstreams: {u: {endpoints: [\"127.0.0.1:2\"]}}\n"))
	f.Add([]byte(`{"listeners":[{"listen":"udp://[::1]:1","serve":"echo"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz", data)
		if err == nil {
			if len(cfg.Listeners) == 0 {
				t.Fatal("a valid config has listeners")
			}
			if _, err := build(cfg, quietLog(), nil); err != nil {
				t.Fatalf("a checked config must build: %v", err)
			}
		}
	})
}
