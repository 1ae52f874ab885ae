package spec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// one is the start of a file with one pipeline listening on TCP.
const one = "version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:1\n"

const group = "upstreams:\n  u: {endpoints: [\"127.0.0.1:2\"]}\n"

// Every broken file is refused with errors that name the line, the key
// path, what was expected and, for a misspelt key, the nearest valid one.
func TestErrors(t *testing.T) {
	cases := []struct{ name, file, want string }{
		// Values of the wrong type: the key path and what was expected.
		{"bare number for a duration", one + "    stages: [{kind: relay, upstream: u}]\n    timeouts:\n      idle: 20\n" + group,
			"f.yaml:7: pipelines[0].timeouts.idle: a duration needs a unit: did you mean 20s?"},
		{"bad duration", one + "    stages: [{kind: relay, upstream: u}]\n    timeouts: {idle: soon}\n" + group,
			`f.yaml:6: pipelines[0].timeouts.idle: "soon" is not a duration such as 5s, 250ms or 1m30s`},
		{"text for a number", one + "    filters: {max_conns: lots}\n    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:5: pipelines[0].filters.max_conns: expected a whole number, got "lots"`},
		{"size with a unit", one + "    stages:\n      - {kind: line, max: 1MiB}\n      - {kind: handle, type: T}\n",
			`f.yaml:6: pipelines[0].stages[0].max: expected a whole number, got "1MiB" (sizes are written in bytes: 1048576, not 1MiB)`},
		{"list for a mapping", one + "    filters: [a]\n    stages: [{kind: relay, upstream: u}]\n" + group,
			"f.yaml:5: pipelines[0].filters: expected a mapping (key: value), got a list"},
		{"long value whole", one + "    stages: [{kind: relay, upstream: u}]\n    timeouts: {idle: " + strings.Repeat("9", 40) + "}\n" + group,
			"did you mean " + strings.Repeat("9", 40) + "s?"},
		// Unknown keys: the path and the nearest valid key.
		{"misspelt key", one + "    stages:\n      - kind: http_proxy\n        routes:\n          - path_prefx: /a\n            upstream: u\n" + group,
			"f.yaml:8: pipelines[0].stages[0].routes[0].path_prefx: unknown key: did you mean path_prefix?"},
		{"misspelt stage key", one + "    stages:\n      - kind: relay\n        upstrem: u\n" + group,
			"f.yaml:7: pipelines[0].stages[0].upstrem: unknown key: did you mean upstream? (valid here: kind, upstream, send_proxy, splice_after)"},
		{"misspelt top key", "version: 1\npipelinez: []\n", "f.yaml:2: pipelinez: unknown key: did you mean pipelines?"},
		{"key given twice", one + "    name: y\n    stages: [{kind: relay, upstream: u}]\n" + group,
			"f.yaml:5: pipelines[0].name: given twice (first on line 3)"},
		// Old names: where the key went.
		{"old listeners", "listeners:\n  - listen: tcp://127.0.0.1:1\n    upstream: u\n",
			"f.yaml:1: listeners: unknown key: listeners are pipelines now"},
		{"old timeout key", one + "    stages: [{kind: relay, upstream: u}]\n    connect_timeout: 2s\n" + group,
			"f.yaml:6: pipelines[0].connect_timeout: unknown key: renamed timeouts.connect"},
		{"old sni key", one + "    stages:\n      - kind: match\n        routes: [{sni: [a.example.org], upstream: u}]\n      - kind: relay\n" + group,
			"f.yaml:7: pipelines[0].stages[0].routes[0].sni: unknown key: renamed tls_sni"},
		// What run would refuse, check refuses too.
		{"port out of range", "version: 1\npipelines:\n  - name: x\n    listen: tcp://127.0.0.1:154320\n    stages: [{kind: serve, service: echo}]\n",
			`f.yaml:4: pipelines[0].listen: "tcp://127.0.0.1:154320": the port must be a number from 0 to 65535, not "154320"`},
		{"endpoint port out of range", one + "    stages: [{kind: relay, upstream: u}]\nupstreams:\n  u: {endpoints: [\"127.0.0.1:70000\"]}\n",
			`f.yaml:7: upstreams.u.endpoints[0]: "127.0.0.1:70000": the port must be a number from 1 to 65535`},
		{"same address twice", "version: 1\npipelines:\n  - name: a\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n  - name: b\n    listen: tcp://127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n",
			"f.yaml:7: pipelines[1].listen: tcp://127.0.0.1:1 is also where pipelines[0].listen listens"},
		{"same name twice", "version: 1\npipelines:\n  - name: a\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n  - name: a\n    listen: 127.0.0.1:2\n    stages: [{kind: serve, service: echo}]\n",
			`f.yaml:6: pipelines[1].name: "a" is also the name of pipelines[0]`},
		{"hostname listen", "version: 1\npipelines:\n  - name: x\n    listen: localhost:1\n    stages: [{kind: serve, service: echo}]\n",
			`the listen host must be an IP address, not "localhost"`},
		{"admin not host:port", "version: 1\nadmin: 9901\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:2: admin: "9901" is not host:port`},
		{"pprof without admin", "version: 1\nadmin_pprof: true\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			"f.yaml:2: admin_pprof: needs admin"},
		{"syslog scheme", "version: 1\nlog: {syslog: \"http://127.0.0.1:514\"}\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:2: log.syslog: "http://127.0.0.1:514": want unix:///dev/log, udp://HOST:PORT or tcp://HOST:PORT`},
		{"syslog facility", "version: 1\nlog: {syslog: \"udp://127.0.0.1:514\", facility: local9}\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:2: log.facility: unknown syslog facility "local9"`},
		{"tracing endpoint", "version: 1\ntracing: {otlp: \"127.0.0.1:4318\"}\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:2: tracing.otlp: "127.0.0.1:4318": want the OTLP/HTTP endpoint, such as http://127.0.0.1:4318`},
		{"tracing sample", "version: 1\ntracing: {otlp: \"http://127.0.0.1:4318\", sample: 2}\n" + one[len("version: 1\n"):] + "    stages: [{kind: relay, upstream: u}]\n" + group,
			`f.yaml:2: tracing.sample: 2: want a share from 0 to 1`},
		// Stages.
		{"unknown kind", one + "    stages:\n      - kind: rely\n        upstream: u\n" + group,
			`f.yaml:6: pipelines[0].stages[0].kind: unknown stage kind "rely": did you mean relay?`},
		{"wrong order", one + "    stages:\n      - kind: relay\n        upstream: u\n      - kind: match\n        routes: [{upstream: u}]\n" + group,
			"f.yaml:6: pipelines[0].stages[0].kind: relay is a terminal and must be the last stage"},
		{"stream framer on udp", "version: 1\npipelines:\n  - name: x\n    listen: udp://127.0.0.1:1\n    stages:\n      - kind: length_field\n        length: 2\n      - kind: handle\n        type: T\n",
			"f.yaml:6: pipelines[0].stages[0].kind: length_field is a stream framer and this pipeline listens on UDP: use datagram"},
		{"missing group", one + "    stages:\n      - kind: relay\n        upstream: ech\nupstreams:\n  echo: {endpoints: [\"127.0.0.1:2\"]}\n",
			`f.yaml:7: pipelines[0].stages[0].upstream: no upstream group named "ech": did you mean echo?`},
		{"key of another kind", one + "    stages:\n      - kind: relay\n        upstream: u\n        offset: 3\n" + group,
			"f.yaml:8: pipelines[0].stages[0].offset: does not apply to a relay stage (it takes: upstream, send_proxy, splice_after)"},
		{"serve unknown service", one + "    stages: [{kind: serve, service: ecko}]\n",
			`f.yaml:5: pipelines[0].stages[0].service: unknown service "ecko": did you mean echo?`},
		{"serve http on udp", "version: 1\npipelines:\n  - name: x\n    listen: udp://127.0.0.1:1\n    stages: [{kind: serve, service: http}]\n",
			"f.yaml:5: pipelines[0].stages[0].service: http serves streams"},
		{"timeout that does not apply", one + "    stages: [{kind: relay, upstream: u}]\n    timeouts: {read: 1s}\n" + group,
			"f.yaml:6: pipelines[0].timeouts.read: applies to http_proxy pipelines only"},
		{"session on tcp", one + "    stages: [{kind: relay, upstream: u}]\n    session: {idle: 1s}\n" + group,
			"f.yaml:6: pipelines[0].session: applies to UDP pipelines only"},
		{"connect on a udp relay", "version: 1\npipelines:\n  - name: x\n    listen: udp://127.0.0.1:1\n    stages: [{kind: relay, upstream: u}]\n    timeouts: {connect: 1s}\n" + group,
			"f.yaml:6: pipelines[0].timeouts.connect: applies to TCP relay, redis_proxy and http_proxy pipelines"},
		{"negative loops", one + "    stages: [{kind: relay, upstream: u}]\n    loops: -1\n" + group,
			"f.yaml:6: pipelines[0].loops: must not be negative"},
		{"negative send buffer", one + "    stages: [{kind: relay, upstream: u}]\n    socket: {send_buffer: -1}\n" + group,
			"f.yaml:6: pipelines[0].socket.send_buffer: must be between 0 (the kernel's autotuning) and 1073741824 bytes"},
		{"receive buffer with a unit", one + "    stages: [{kind: relay, upstream: u}]\n    socket: {recv_buffer: 4MiB}\n" + group,
			`f.yaml:6: pipelines[0].socket.recv_buffer: expected a whole number, got "4MiB" (sizes are written in bytes: 1048576, not 1MiB)`},
		{"unknown socket key", one + "    stages: [{kind: relay, upstream: u}]\n    socket: {sndbuf: 1}\n" + group,
			"f.yaml:6: pipelines[0].socket.sndbuf: unknown key"},
		{"redis distribution", one + "    stages: [{kind: redis_proxy, upstream: u, distribution: modulo}]\n" + group,
			`f.yaml:5: pipelines[0].stages[0].distribution: "modulo": want ketama, modula or random: did you mean modula?`},
		{"redis user without password", one + "    stages: [{kind: redis_proxy, upstream: u, redis_auth_user: app}]\n" + group,
			"f.yaml:5: pipelines[0].stages[0].redis_auth_user: needs redis_auth, the password"},
		{"redis read timeout", one + "    stages: [{kind: redis_proxy, upstream: u}]\n    timeouts: {read: 1s}\n" + group,
			"f.yaml:6: pipelines[0].timeouts.read: applies to http_proxy pipelines only"},
		{"log level", "version: 1\nlog: {level: inf}\n", `f.yaml:2: log.level: unknown level "inf": did you mean info?`},
		{"no version", "pipelines:\n  - name: x\n    listen: 127.0.0.1:1\n    stages: [{kind: serve, service: echo}]\n", "f.yaml:1: version: missing: start the file with version: 1"},
		{"yaml syntax", "version: 1\npipelines:\n  - listen: [\n", "f.yaml:3: did not find expected node content"},
		{"empty", "", "f.yaml: the file is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.file))
			require.Error(t, err)
			var es Errors
			require.True(t, errors.As(err, &es), "%T", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// A file's problems are all reported at once, in line order: a decoding
// problem does not hide the checks after it.
func TestEveryProblemAtOnce(t *testing.T) {
	file := `version: 1
pipelines:
  - name: web
    listen: tcp://127.0.0.1:99999
    stages:
      - kind: http_proxy
        upstream: app
        routes:
          - path_prefx: /api/
            upstream: api
    timeouts:
      connect: 20
      read: 1m
upstreams:
  app: {endpoints: [nohost]}
`
	_, err := Parse("web.yaml", []byte(file))
	require.Error(t, err)
	want := []string{
		`web.yaml:4: pipelines[0].listen: "tcp://127.0.0.1:99999": the port must be a number from 0 to 65535, not "99999"`,
		`web.yaml:9: pipelines[0].stages[0].routes[0].path_prefx: unknown key: did you mean path_prefix? (valid here: tls_sni, prefix, host, path_prefix, upstream)`,
		`web.yaml:9: pipelines[0].stages[0].routes[0]: a route needs host, path_prefix or both; the stage's upstream takes the requests no route matches`,
		`web.yaml:10: pipelines[0].stages[0].routes[0].upstream: no upstream group named "api": did you mean app?`,
		`web.yaml:12: pipelines[0].timeouts.connect: a duration needs a unit: did you mean 20s?`,
		`web.yaml:15: upstreams.app.endpoints[0]: "nohost" is not host:port or unix:/path`,
	}
	require.Equal(t, strings.Join(want, "\n"), err.Error())
}

// A valid file's plan keeps each pipeline's shape apart from its values.
func TestPlan(t *testing.T) {
	file := `version: 1
log: {level: debug, format: json}
drain_timeout: 5s
pipelines:
  - name: edge
    listen: 127.0.0.1:8443
    stages:
      - {kind: proxy_protocol, trusted: [10.0.0.0/8], accept: [v2]}
      - kind: match
        timeout: 2s
        routes:
          - {tls_sni: ["*.example.org"], upstream: org}
          - {upstream: fallback}
      - {kind: relay, send_proxy: v2}
    timeouts: {connect: 2s, idle: 5m}
  - name: dns
    listen: [udp://127.0.0.1:5353]
    stages: [{kind: relay, upstream: fallback}]
    session: {idle: 30s, max_sessions: 100}
upstreams:
  org: {endpoints: ["10.0.1.1:443"], fail_timeout: 3s}
  fallback: {endpoints: ["unix:/run/f.sock"]}
`
	p, err := Parse("p.yaml", []byte(file))
	require.NoError(t, err)
	require.Equal(t, Daemon{LogLevel: "debug", LogFormat: "json", DrainTimeout: 5 * time.Second}, p.Daemon)
	require.Len(t, p.Pipelines, 2)
	edge := p.Pipelines[0]
	require.Equal(t, []string{"proxy_protocol", "match", "relay"}, edge.Shape.Kinds)
	require.Equal(t, "relay", edge.Shape.Terminal)
	require.True(t, edge.Shape.Match && edge.Shape.ProxyProtocol)
	require.Equal(t, []string{"tcp://127.0.0.1:8443"}, edge.Values.Listen)
	require.Equal(t, &ProxyProtocol{Trusted: []string{"10.0.0.0/8"}, V2: true}, edge.Values.ProxyProtocol)
	require.Equal(t, 2*time.Second, edge.Values.Match.Timeout)
	require.Equal(t, &Relay{SendProxy: 2}, edge.Values.Relay)
	require.Equal(t, []string{"fallback", "org"}, edge.Values.Groups)
	require.Equal(t, TimeoutValues{Connect: 2 * time.Second, Idle: 5 * time.Minute}, edge.Values.Timeouts)
	dns := p.Pipelines[1]
	require.True(t, dns.Shape.UDP)
	require.Equal(t, SessionValues{Idle: 30 * time.Second, MaxSessions: 100}, dns.Values.Session)
	require.Equal(t, 3*time.Second, p.Group("org").FailTimeout)
	require.Nil(t, p.Group("nope"))
	// A twemproxy pool's keys.
	rp, err := Parse("r.yaml", []byte(`version: 1
pipelines:
  - name: ntest
    listen: 127.0.0.1:22121
    stages:
      - {kind: redis_proxy, upstream: s, distribution: modula, redis_auth: pw, redis_db: 2, retry_after: 0s, proto_max_bulk_len: 1000}
    timeouts: {response: 400ms}
upstreams:
  s: {endpoints: ["127.0.0.1:6379"], names: [a]}
`))
	require.NoError(t, err)
	require.Equal(t, &Redis{Upstream: "s", Distribution: "modula", Password: "pw", DB: 2, RetryAfter: -1, MaxBulk: 1000}, rp.Pipelines[0].Values.Redis)
	require.Equal(t, 400*time.Millisecond, rp.Pipelines[0].Values.Timeouts.Response)
	// A check a user of the plan adds reads as the schema's own.
	require.Equal(t, "p.yaml:14: pipelines[0].stages[2].send_proxy: no", p.Errorf("pipelines[0].stages[2].send_proxy", "no").Error())
}

func TestNearest(t *testing.T) {
	require.Equal(t, "path_prefix", nearest("path_prefx", []string{"host", "path_prefix", "upstream"}))
	require.Equal(t, "upstream", nearest("upstraem", []string{"upstream", "routes"}))
	require.Equal(t, "", nearest("zzzzzz", []string{"upstream", "routes"}))
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(one + "    stages: [{kind: relay, upstream: u}]\n" + group))
	f.Add([]byte(`{"version":1,"pipelines":[{"name":"x","listen":"udp://[::1]:1","stages":[{"kind":"serve","service":"echo"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("not a file error: %v", err)
			}
			return
		}
		if len(p.Pipelines) == 0 {
			t.Fatal("a valid file has pipelines")
		}
	})
}
