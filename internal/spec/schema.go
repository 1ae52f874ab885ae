// Package spec is Penstock's one schema for pipelines: it reads a file
// (YAML, or JSON) that declares pipelines and their shared upstream groups,
// checks it, and returns the checked Plan. pipegen (package gen) generates
// Go from a Plan and the penstock daemon builds its listeners from one, so
// a pipeline is written, validated and reported on in one language, with
// one error type that names the file, the line and the key path.
//
// A Plan keeps each pipeline's Shape (its stage kinds, their order and
// what defines the wire format) apart from its Values (addresses,
// upstream groups, limits, timeouts, filter lists and route tables): a
// shape is fixed once code is generated or a listener is built, values
// may be swapped at run time.
//
// spec imports no runtime package of Penstock, so that pipegen, which
// uses it, stays free of them. Everything in it is safe from any
// goroutine: a Plan is not changed after Parse returns it.
package spec

// File is a file as written: the daemon's settings, the pipelines and the
// upstream groups they share. docs/config.md is its reference.
type File struct {
	Version      int                 `yaml:"version"`
	Log          Log                 `yaml:"log"`
	Loops        int                 `yaml:"loops"`
	DrainTimeout Duration            `yaml:"drain_timeout"`
	Admin        string              `yaml:"admin"`
	AdminPprof   bool                `yaml:"admin_pprof"`
	PidFile      string              `yaml:"pid_file"`
	Tracing      Tracing             `yaml:"tracing"`
	Pipelines    []PipelineSpec      `yaml:"pipelines"`
	Upstreams    map[string]Upstream `yaml:"upstreams"`
}

func (*File) renamed() map[string]string {
	return map[string]string{
		"listeners": "listeners are pipelines now, each with listen, stages and timeouts (docs/config.md, \"Migrating from the listeners format\")",
		"name":      "a file holds pipelines: write name, listen and stages in an entry of pipelines",
		"listen":    "a file holds pipelines: write name, listen and stages in an entry of pipelines",
		"stages":    "a file holds pipelines: write name, listen and stages in an entry of pipelines",
	}
}

// Tracing sets the daemon's OpenTelemetry tracing of HTTP requests.
type Tracing struct {
	OTLP    string  `yaml:"otlp"`
	Sample  float64 `yaml:"sample"`
	Service string  `yaml:"service"`
}

// Log sets the daemon's structured log.
type Log struct {
	Level    string `yaml:"level"`
	Format   string `yaml:"format"`
	Syslog   string `yaml:"syslog"`
	Facility string `yaml:"facility"`
}

// PipelineSpec is one pipeline as written: where it listens, which filters run
// at accept, and its stages.
type PipelineSpec struct {
	Name     string   `yaml:"name"`
	Package  string   `yaml:"package"`
	Doc      string   `yaml:"doc"`
	Listen   []string `yaml:"listen" spec:"one"`
	Filters  Filters  `yaml:"filters"`
	Stages   []Stage  `yaml:"stages"`
	Timeouts Timeouts `yaml:"timeouts"`
	Session  Session  `yaml:"session"`
	Loops    int      `yaml:"loops"`
	Socket   Socket   `yaml:"socket"`
}

func (*PipelineSpec) renamed() map[string]string {
	stage := func(s string) string { return "it is a stage now: stages: [" + s + "]" }
	return map[string]string{
		"upstream":            stage("{kind: relay, upstream: GROUP}") + ", or the upstream of a redis_proxy or http_proxy stage",
		"routes":              "routes are a match stage's (tls_sni, prefix) or an http_proxy stage's (host, path_prefix)",
		"serve":               stage("{kind: serve, service: echo}"),
		"protocol":            stage("{kind: redis_proxy, upstream: GROUP}") + " or an http_proxy stage",
		"hash_tag":            "hash_tag is a key of the redis_proxy stage",
		"access_log":          "access_log is a key of the http_proxy stage",
		"connect_timeout":     "renamed timeouts.connect",
		"idle_timeout":        "renamed timeouts.idle",
		"response_timeout":    "renamed timeouts.response",
		"read_timeout":        "renamed timeouts.read",
		"client_body_timeout": "renamed timeouts.client_body",
		"send_timeout":        "renamed timeouts.send",
		"header_timeout":      "renamed timeouts.header",
		"peek_timeout":        "it is the match stage's timeout",
		"peek_max_bytes":      "it is the match stage's max_bytes",
		"max_sessions":        "renamed session.max_sessions",
		"session_idle":        "renamed session.idle",
	}
}

// Filters are the connection filters that run at accept, before any byte
// is read.
type Filters struct {
	Allow         []string `yaml:"allow"`
	Deny          []string `yaml:"deny"`
	MaxConns      int      `yaml:"max_conns"`
	MaxConnsPerIP int      `yaml:"max_conns_per_ip"`
	RatePerIP     float64  `yaml:"rate_per_ip"`
	BurstPerIP    int      `yaml:"burst_per_ip"`
}

// Stage is one step of a pipeline; Kind decides which other keys apply.
type Stage struct {
	Kind string `yaml:"kind"`

	// proxy_protocol
	Accept  []string `yaml:"accept"`
	Trusted []string `yaml:"trusted"`

	// match, proxy_protocol
	Timeout Duration `yaml:"timeout"`
	// match
	MaxBytes int `yaml:"max_bytes"`
	// match, http_proxy
	Routes []Route `yaml:"routes"`

	// length_field
	Offset   int    `yaml:"offset"`
	Length   int    `yaml:"length"`
	Adjust   int    `yaml:"adjust"`
	Strip    *int   `yaml:"strip"`
	Endian   string `yaml:"endian"`
	FailFast bool   `yaml:"fail_fast"`
	// length_field, delimiter, line, datagram
	Max int `yaml:"max"`
	// delimiter
	Delimiters []string `yaml:"delimiters"`
	// delimiter, line
	StripDelimiter *bool `yaml:"strip_delimiter"`
	// fixed
	Size int `yaml:"size"`

	// handle
	Type string `yaml:"type"`
	// serve
	Service string `yaml:"service"`

	// redis_proxy
	HashTag         string    `yaml:"hash_tag"`
	Hash            string    `yaml:"hash"`
	Distribution    string    `yaml:"distribution"`
	RedisAuth       string    `yaml:"redis_auth"`
	RedisAuthUser   string    `yaml:"redis_auth_user"`
	RedisDB         int       `yaml:"redis_db"`
	RetryAfter      *Duration `yaml:"retry_after"`
	ProtoMaxBulkLen int64     `yaml:"proto_max_bulk_len"`

	// http_proxy
	MaxIdle        int    `yaml:"max_idle"`
	Via            string `yaml:"via"`
	MaxHeaderBytes int    `yaml:"max_header_bytes"`
	MaxHeaders     int    `yaml:"max_headers"`
	MaxLineBytes   int    `yaml:"max_line_bytes"`
	MaxBodyBytes   int64  `yaml:"max_body_bytes"`
	AccessLog      string `yaml:"access_log"`

	// tls
	Certificates       []CertPair `yaml:"certificates"`
	ClientAuth         string     `yaml:"client_auth"`
	ClientCA           string     `yaml:"client_ca"`
	ALPN               []string   `yaml:"alpn"`
	MinVersion         string     `yaml:"min_version"`
	RequirePostQuantum bool       `yaml:"require_post_quantum"`
	TicketRotation     Duration   `yaml:"ticket_rotation"`
	ECHKeys            []ECHKey   `yaml:"ech_keys"`
	Watch              Duration   `yaml:"watch"`

	// http_proxy
	ClientCertHeader string `yaml:"client_cert_header"`
	HTTP2            *bool  `yaml:"http2"`

	// relay, redis_proxy, http_proxy
	Upstream    string `yaml:"upstream"`
	SendProxy   string `yaml:"send_proxy"`
	SpliceAfter int64  `yaml:"splice_after"`

	keys  []string
	lines map[string]int
}

func (s *Stage) setKeys(keys []string, lines map[string]int) { s.keys, s.lines = keys, lines }

// CertPair names a certificate chain and its key, PEM files.
type CertPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ECHKey names an Encrypted Client Hello key: the ECHConfig clients
// are given (a file with the config, binary) and its private key (a file,
// binary, the raw X25519 key).
type ECHKey struct {
	Config string `yaml:"config"`
	Key    string `yaml:"key"`
}

// UpstreamTLS is how the proxy speaks TLS to an upstream group's
// endpoints.
type UpstreamTLS struct {
	// SNI is the server name sent and verified (default: the endpoint's
	// host when it is a name).
	SNI string `yaml:"sni"`
	// CA is a PEM bundle of the roots to verify with (default: the
	// system's).
	CA string `yaml:"ca"`
	// InsecureSkipVerify turns verification off: it must be written.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Cert and Key are the client certificate for mTLS upstream.
	Cert string   `yaml:"cert"`
	Key  string   `yaml:"key"`
	ALPN []string `yaml:"alpn"`
}

// Route sends the streams a matcher accepts (match: TLSSNI, Prefix), or
// the requests whose host and path fit (http_proxy: Host, PathPrefix), to
// an upstream group.
type Route struct {
	TLSSNI     []string `yaml:"tls_sni"`
	Prefix     []string `yaml:"prefix"`
	Host       string   `yaml:"host"`
	PathPrefix string   `yaml:"path_prefix"`
	Upstream   string   `yaml:"upstream"`
}

func (*Route) renamed() map[string]string {
	return map[string]string{"sni": "renamed tls_sni"}
}

// Upstream is a group of endpoints.
type Upstream struct {
	Endpoints   []string `yaml:"endpoints"`
	FailTimeout Duration `yaml:"fail_timeout"`
	// Names and Weights place keys for redis_proxy, as twemproxy's
	// "host:port:weight name" server lines do.
	Names   []string `yaml:"names"`
	Weights []int    `yaml:"weights"`
	// TLS, when set, makes every connection to the group's endpoints TLS.
	TLS *UpstreamTLS `yaml:"tls"`
	// Protocol is how an http_proxy speaks to the group: http1 (the
	// default), h2 (TLS, by ALPN), h2c (cleartext, prior knowledge) or
	// auto (h2 when ALPN chooses it).
	Protocol string `yaml:"protocol"`
}

// Timeouts bound the phases of a connection or request; which apply
// depends on the terminal stage.
type Timeouts struct {
	Connect    Duration `yaml:"connect"`
	Idle       Duration `yaml:"idle"`
	Response   Duration `yaml:"response"`
	Header     Duration `yaml:"header"`
	Read       Duration `yaml:"read"`
	ClientBody Duration `yaml:"client_body"`
	Send       Duration `yaml:"send"`
}

// Session tunes UDP sessions.
// Socket sets the kernel's buffer sizes on a pipeline's TCP sockets, the
// accepted ones and the upstreams it dials: SO_SNDBUF and SO_RCVBUF in
// bytes (0: the kernel's autotuning). The daemon applies them when it
// starts the pipeline's transport.
type Socket struct {
	SendBuffer int `yaml:"send_buffer"`
	RecvBuffer int `yaml:"recv_buffer"`
}

type Session struct {
	Idle        Duration `yaml:"idle"`
	MaxSessions int      `yaml:"max_sessions"`
}
