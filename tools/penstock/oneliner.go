package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/penstock-proxy/penstock/internal/spec"
)

// mode is a one-liner subcommand: a pipeline of one stage, with the flags
// that apply to it and no others.
type mode struct {
	name, summary, example string
	// scheme is the listen scheme a bare host:port gets.
	scheme string
	// stage is the terminal stage's kind.
	stage string
	// flags are the mode's own flags beyond --listen, --to, --allow,
	// --deny, --loops, --sndbuf, --rcvbuf, --log-level and --log-format.
	flags []modeFlag
	// tls adds the TLS flags: --tls-cert, --tls-key and --tls-client-ca
	// (a tls stage before the terminal) and --upstream-tls,
	// --upstream-ca and --upstream-sni (the group's tls block).
	tls bool
}

// modeFlag is a flag and where its value goes in the pipeline: a
// timeouts key, a session key, or a key of the stage.
type modeFlag struct {
	name, usage string
	// key is the key path under the pipeline, such as timeouts.idle or
	// stages[0].hash_tag.
	key      string
	duration bool
	integer  bool
}

var modes = map[string]*mode{
	"tcp": {name: "tcp", scheme: "tcp", stage: "relay", tls: true,
		summary: "Relays TCP connections to the upstreams, round robin, failing over to the next when a connect fails.",
		example: "penstock tcp --listen 127.0.0.1:8000 --to 127.0.0.1:9001,127.0.0.1:9002 --allow 127.0.0.0/8\n" +
			"  penstock tcp --listen :8443 --to 127.0.0.1:9001 --tls-cert site.crt --tls-key site.key",
		flags: []modeFlag{
			{name: "connect-timeout", usage: "bound each upstream connect (0: 5s)", key: "timeouts.connect", duration: true},
			{name: "idle", usage: "close connections that moved no byte for this long (0: never)", key: "timeouts.idle", duration: true},
		}},
	"udp": {name: "udp", scheme: "udp", stage: "relay",
		summary: "Relays UDP datagrams to the upstreams, one upstream socket per client address.",
		example: "penstock udp --listen 127.0.0.1:5353 --to 127.0.0.1:53",
		flags: []modeFlag{
			{name: "session-idle", usage: "expire a client's session after this long without a datagram (0: 60s)", key: "session.idle", duration: true},
			{name: "max-sessions", usage: "cap the live sessions (0: what the open-file limit leaves room for)", key: "session.max_sessions", integer: true},
		}},
	"redis": {name: "redis", scheme: "tcp", stage: "redis_proxy",
		summary: "Shards Redis commands over the upstreams as twemproxy does (fnv1a_64; ketama, modula or random): a drop-in for it.",
		example: "penstock redis --listen 127.0.0.1:22121 --to 127.0.0.1:6379,127.0.0.1:6380 --hash-tag {}",
		flags: []modeFlag{
			{name: "hash-tag", usage: "hash only the part of a key between these two characters, e.g. {}", key: "stages[0].hash_tag"},
			{name: "connect-timeout", usage: "bound each shard connect (0: 1s)", key: "timeouts.connect", duration: true},
			{name: "distribution", usage: "place keys as twemproxy's ketama (the default), modula or random", key: "stages[0].distribution"},
			{name: "timeout", usage: "bound the wait for a shard's reply, as twemproxy's timeout (0: none)", key: "timeouts.response", duration: true},
		}},
	"http": {name: "http", scheme: "tcp", stage: "http_proxy", tls: true,
		summary: "Proxies HTTP/1.1 and HTTP/2 clients (h2c by prior knowledge; h2 by ALPN with --tls-cert) to HTTP/1.1 upstreams: keep-alive upstream connections, X-Forwarded-*, WebSocket, 502/504.",
		example: "penstock http --listen 127.0.0.1:8080 --to 127.0.0.1:9080,127.0.0.1:9081 --access-log stdout\n" +
			"  penstock http --listen :8443 --to api.internal:443 --tls-cert site.crt --tls-key site.key --upstream-tls --upstream-ca ca.pem",
		flags: []modeFlag{
			{name: "access-log", usage: "a line per request to stdout, stderr or this file (SIGUSR1 reopens it)", key: "stages[0].access_log"},
			{name: "connect-timeout", usage: "bound each upstream connect (0: 5s)", key: "timeouts.connect", duration: true},
			{name: "response-timeout", usage: "bound the wait for an upstream's response head (0: 60s)", key: "timeouts.response", duration: true},
			{name: "read-timeout", usage: "bound every wait for upstream bytes, head and body (0: 60s)", key: "timeouts.read", duration: true},
			{name: "client-body-timeout", usage: "bound every wait for request body bytes (0: 60s)", key: "timeouts.client_body", duration: true},
			{name: "send-timeout", usage: "close a client that takes none of a congested response for this long (0: 60s)", key: "timeouts.send", duration: true},
			{name: "idle", usage: "close idle keep-alive client connections after this long (0: 60s)", key: "timeouts.idle", duration: true},
		}},
}

// durationFlag is a duration flag that says what a bare number lacks.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(v string) error {
	t, err := time.ParseDuration(v)
	switch {
	case err != nil && strings.Trim(v, "0123456789.") == "":
		return fmt.Errorf("a duration needs a unit: did you mean %ss?", v)
	case err != nil:
		return fmt.Errorf("%q is not a duration such as 5s, 250ms or 1m30s", v)
	case t < 0:
		return errors.New("must not be negative")
	}
	*d = durationFlag(t)
	return nil
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// oneLiner parses a mode's flags into a config like any other, checked by
// the same code; a problem is reported against the flag that set it.
func oneLiner(m *mode, args []string, stderr io.Writer) (*spec.Plan, error) {
	fs := flag.NewFlagSet("penstock "+m.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address to listen on, host:port")
	var to, allow, deny listFlag
	fs.Var(&to, "to", "upstream host:port, several separated by commas")
	fs.Var(&allow, "allow", "admit only these source CIDRs (repeatable, comma-separated)")
	fs.Var(&deny, "deny", "refuse these source CIDRs (repeatable, comma-separated)")
	loops := fs.Int("loops", 0, "event loops (0: one per CPU)")
	sndbuf := fs.Int("sndbuf", 0, "SO_SNDBUF in bytes for the accepted and upstream sockets (0: the kernel's autotuning)")
	rcvbuf := fs.Int("rcvbuf", 0, "SO_RCVBUF in bytes for the accepted and upstream sockets (0: the kernel's autotuning)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	adminAddr := fs.String("admin", "", "serve /metrics, /healthz and /readyz on this host:port (default: no admin listener)")
	pidFile := fs.String("pid-file", "", "write the process ID to this file once the listeners are bound")
	durations := map[string]*time.Duration{}
	ints := map[string]*int{}
	strs := map[string]*string{}
	for _, f := range m.flags {
		switch {
		case f.duration:
			d := new(time.Duration)
			fs.Var((*durationFlag)(d), f.name, f.usage)
			durations[f.name] = d
		case f.integer:
			ints[f.name] = fs.Int(f.name, 0, f.usage)
		default:
			strs[f.name] = fs.String(f.name, "", f.usage)
		}
	}
	var tlsCert, tlsKey, tlsClientCA, upCA, upSNI *string
	var upTLS, noHTTP2 *bool
	var upProto *string
	if m.stage == "http_proxy" {
		noHTTP2 = fs.Bool("no-http2", false, "serve HTTP/1.1 only (no h2c prior knowledge, no h2 by ALPN)")
		upProto = fs.String("upstream-protocol", "", "speak to the upstreams in http1 (default), h2 (with --upstream-tls), h2c or auto")
	}
	if m.tls {
		tlsCert = fs.String("tls-cert", "", "terminate TLS with this certificate chain (PEM; with --tls-key)")
		tlsKey = fs.String("tls-key", "", "the private key of --tls-cert (PEM)")
		tlsClientCA = fs.String("tls-client-ca", "", "require client certificates signed by these CAs (PEM bundle)")
		upTLS = fs.Bool("upstream-tls", false, "speak TLS to the upstreams, verifying their certificates")
		upCA = fs.String("upstream-ca", "", "verify upstream certificates with these CAs (PEM bundle; default: the system's)")
		upSNI = fs.String("upstream-sni", "", "the name sent to and verified on the upstreams (default: each one's host)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of penstock %s:\n  penstock %s --listen ADDR --to ADDR[,ADDR...] [flags]\n\n%s\n\nFlags:\n", m.name, m.name, m.summary)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExample:\n  %s\n", m.example)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *listen == "" || len(to) == 0 {
		return nil, fmt.Errorf("%s: --listen and --to are required (penstock %s --help)", m.name, m.name)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", m.name, fs.Arg(0))
	}
	addr := *listen
	if !strings.Contains(addr, "://") {
		addr = m.scheme + "://" + addr
	}
	stage := map[string]any{"kind": m.stage, "upstream": "up"}
	if noHTTP2 != nil && *noHTTP2 {
		stage["http2"] = false
	}
	pipe := map[string]any{"name": m.name, "listen": addr, "stages": []any{stage},
		"filters": map[string]any{"allow": []string(allow), "deny": []string(deny)},
		"socket":  map[string]any{"send_buffer": *sndbuf, "recv_buffer": *rcvbuf}}
	// where maps a key path of the built config to the flag that set it.
	where := map[string]string{"pipelines[0].listen": "--listen", "upstreams.up.endpoints": "--to", "pipelines[0].filters.allow": "--allow",
		"pipelines[0].filters.deny": "--deny", "loops": "--loops", "log.level": "--log-level", "log.format": "--log-format",
		"admin": "--admin", "pid_file": "--pid-file",
		"pipelines[0].socket.send_buffer": "--sndbuf", "pipelines[0].socket.recv_buffer": "--rcvbuf"}
	set := func(key string, v any) {
		if k, ok := strings.CutPrefix(key, "stages[0]."); ok {
			stage[k] = v
			return
		}
		section, k, _ := strings.Cut(key, ".")
		sub, _ := pipe[section].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			pipe[section] = sub
		}
		sub[k] = v
	}
	for _, f := range m.flags {
		switch {
		case f.duration && *durations[f.name] != 0:
			set(f.key, durations[f.name].String())
		case f.integer && *ints[f.name] != 0:
			set(f.key, *ints[f.name])
		case !f.duration && !f.integer && *strs[f.name] != "":
			set(f.key, *strs[f.name])
		}
		where["pipelines[0]."+f.key] = "--" + f.name
	}
	up := map[string]any{"endpoints": []string(to)}
	if upProto != nil && *upProto != "" {
		up["protocol"] = *upProto
		where["upstreams.up.protocol"] = "--upstream-protocol"
	}
	if m.tls {
		if *tlsCert != "" || *tlsKey != "" || *tlsClientCA != "" {
			t := map[string]any{"kind": "tls", "certificates": []any{map[string]any{"cert": *tlsCert, "key": *tlsKey}}}
			if *tlsClientCA != "" {
				t["client_auth"], t["client_ca"] = "require", *tlsClientCA
			}
			if m.stage == "http_proxy" {
				t["alpn"] = []string{"h2", "http/1.1"}
				if *noHTTP2 {
					t["alpn"] = []string{"http/1.1"}
				}
			}
			pipe["stages"] = []any{t, stage}
			// The terminal's keys move to stages[1].
			for k, f := range where {
				if rest, ok := strings.CutPrefix(k, "pipelines[0].stages[0]."); ok {
					delete(where, k)
					where["pipelines[0].stages[1]."+rest] = f
				}
			}
			where["pipelines[0].stages[0].certificates[0].cert"] = "--tls-cert"
			where["pipelines[0].stages[0].certificates[0].key"] = "--tls-key"
			where["pipelines[0].stages[0].client_ca"] = "--tls-client-ca"
		}
		if *upCA != "" || *upSNI != "" {
			*upTLS = true
		}
		if *upTLS {
			up["tls"] = map[string]any{"ca": *upCA, "sni": *upSNI}
			where["upstreams.up.tls"] = "--upstream-tls"
			where["upstreams.up.tls.sni"] = "--upstream-sni"
			where["upstreams.up.tls.ca"] = "--upstream-ca"
		}
	}
	cfg := map[string]any{"version": 1, "log": map[string]any{"level": *level, "format": *format}, "loops": *loops,
		"pipelines": []any{pipe}, "upstreams": map[string]any{"up": up}, "admin": *adminAddr, "pid_file": *pidFile}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	plan, err := ParseConfig("penstock "+m.name, data)
	if es := asErrors(err); es != nil {
		return nil, flagErrors(m, es, where)
	}
	return plan, err
}

// flagErrors reports a one-liner's config problems against its flags.
func flagErrors(m *mode, es spec.Errors, where map[string]string) error {
	var msgs []string
	for _, e := range es {
		// The longest key that leads to the problem names its flag.
		flagName, longest := "", -1
		for key, f := range where {
			if f != "" && len(key) > longest && (e.Path == key || strings.HasPrefix(e.Path, key+".") || strings.HasPrefix(e.Path, key+"[")) {
				flagName, longest = f, len(key)
			}
		}
		if flagName == "" {
			msgs = append(msgs, e.Path+": "+e.Msg)
		} else {
			msgs = append(msgs, flagName+": "+e.Msg)
		}
	}
	return fmt.Errorf("%s: %s", m.name, strings.Join(msgs, "\n"+"penstock: "+m.name+": "))
}
