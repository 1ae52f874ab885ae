package spec

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penstock-proxy/penstock/internal/yamlpath"
)

// Plan is a checked file: the daemon's settings, each pipeline's shape and
// values, and the upstream groups. pipegen generates code from it; the
// daemon builds listeners from it.
type Plan struct {
	// File names the file in errors.
	File   string
	Daemon Daemon
	// Pipelines are in the order written.
	Pipelines []*Pipeline
	// Groups are the upstream groups, sorted by name.
	Groups []*Group

	root *yaml.Node
}

// Daemon holds the settings only the daemon uses: its log, event loops
// and drain. pipegen checks them and leaves them out.
type Daemon struct {
	LogLevel, LogFormat string
	Loops               int
	// DrainTimeout is how long SIGTERM lets open connections finish
	// (default 30s).
	DrainTimeout time.Duration
	// Admin is the admin listener's host:port (/metrics, /healthz,
	// /readyz; empty: none), AdminPprof whether it serves
	// /debug/pprof/ too.
	Admin      string
	AdminPprof bool
	// PidFile is where the daemon writes its process ID (empty: nowhere).
	PidFile string
	// Syslog, when set, sends the daemon's log (and access logs whose
	// destination is "syslog") to a syslog daemon: unix:///dev/log,
	// udp://HOST:PORT or tcp://HOST:PORT, RFC 5424, with SyslogFacility
	// (default daemon).
	Syslog, SyslogFacility string
	// TracingOTLP, when set, is the OTLP/HTTP endpoint (http://host:4318
	// or a full /v1/traces URL) the http_proxy stages' traces go to, a
	// TracingSample share of the requests that come without a sampling
	// decision (0 to 1, default 1) under TracingService (default
	// penstock).
	TracingOTLP    string
	TracingSample  float64
	TracingService string
}

// SyslogFacilities are the facility names of RFC 5424, by code.
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Pipeline is one checked pipeline.
type Pipeline struct {
	// Path is the pipeline's key path, such as pipelines[0].
	Path   string
	Shape  Shape
	Values Values
}

// Shape is what is fixed once a pipeline is generated or built: its name,
// its stage kinds in order, its network, the framer that defines its wire
// format, the handler type or built-in service it serves with. Changing
// any of it means generating (or building) the pipeline again.
type Shape struct {
	Name, Package, Doc string
	// UDP is true for a pipeline that listens on UDP; the others listen on
	// streams (tcp, unix).
	UDP bool
	// Kinds are the stage kinds in order.
	Kinds []string
	// ProxyProtocol, Match and TLS are the phases present.
	ProxyProtocol, Match, TLS bool
	// Framer is the framer stage, nil without one.
	Framer *Framer
	// Terminal is the last stage's kind: handle, relay, redis_proxy,
	// http_proxy or serve.
	Terminal string
	// HandlerType is the handle stage's Go type as written, such as Store
	// or example.org/app/kv.Store.
	HandlerType string
	// Service is the serve stage's built-in service: echo, discard or
	// http.
	Service string
}

// Framer is a framer stage, with its defaults filled in.
type Framer struct {
	Kind string
	// length_field
	Offset, Length, Adjust, Strip int
	BigEndian, FailFast           bool
	// length_field, delimiter, line, datagram: the largest frame.
	Max int
	// delimiter
	Delimiters []string
	// delimiter, line
	StripDelimiter bool
	// fixed
	Size int
}

// Values are what may change while a pipeline runs: where it listens, its
// filters, route tables, upstream groups, limits and timeouts. A program
// swaps them as a whole (the daemon keeps an atomically swapped snapshot
// per listener); the stages stay as the Shape says.
type Values struct {
	// Listen are listen URLs with their scheme (tcp://, tcp4://, tcp6://,
	// udp://, udp4://, udp6://, unix://).
	Listen  []string
	Filters Filters
	// Each is set when its stage is present.
	ProxyProtocol *ProxyProtocol
	Match         *Match
	TLS           *TLS
	Relay         *Relay
	Redis         *Redis
	HTTP          *HTTP
	Timeouts      TimeoutValues
	Session       SessionValues
	// Loops is the daemon's: the event loops of the pipeline's own
	// transport (0: the daemon's loops). A start applies it.
	Loops int
	// Socket is the daemon's too: the socket buffer sizes of the
	// pipeline's transport. A start applies it.
	Socket Socket
	// Groups are the upstream groups the pipeline names, sorted.
	Groups []string
}

// ProxyProtocol are the values of a proxy_protocol stage.
type ProxyProtocol struct {
	// Trusted are the sources that must send a PROXY header.
	Trusted []string
	// V1 and V2 are the versions accepted.
	V1, V2  bool
	Timeout time.Duration
}

// TLS are the values of a tls stage: what a listener terminates TLS
// with. Files are named as written (relative to the daemon's working
// directory); the daemon reads them when it builds the pipeline.
type TLS struct {
	Certificates []CertPair
	// ClientAuth is none, optional or require.
	ClientAuth string
	ClientCA   string
	ALPN       []string
	// MinVersion is "1.2" or "1.3".
	MinVersion         string
	RequirePostQuantum bool
	HandshakeTimeout   time.Duration
	TicketRotation     time.Duration
	ECHKeys            []ECHKey
	// Watch is how often the certificate files are checked for changes
	// (0: DefaultWatch; negative: never).
	Watch time.Duration
}

// DefaultWatch is how often a tls stage's files are checked for changes.
const DefaultWatch = 5 * time.Second

// Match are the values of a match stage.
type Match struct {
	MaxBytes int
	Timeout  time.Duration
	// Routes have TLSSNI or Prefix, or neither for the default (last).
	Routes []Route
}

// Relay are the values of a relay stage.
type Relay struct {
	// Upstream is the group relayed to; empty when a match stage picks.
	Upstream string
	// SendProxy is the PROXY protocol version sent upstream (0: none).
	SendProxy   int
	SpliceAfter int64
}

// Redis are the values of a redis_proxy stage.
type Redis struct {
	Upstream, HashTag string
	// Distribution is ketama (also ""), modula or random.
	Distribution string
	// Password and User are redis_auth and redis_auth_user; DB redis_db.
	Password, User string
	DB             int
	// RetryAfter is retry_after: 0 unset (the runtime's default),
	// negative to retry on every request (retry_after: 0).
	RetryAfter time.Duration
	// MaxBulk is proto_max_bulk_len (0: the default, 512 MiB).
	MaxBulk int64
}

// HTTP are the values of an http_proxy stage.
type HTTP struct {
	// Upstream takes the requests no route matches; empty: 404.
	Upstream string
	// Routes have Host, PathPrefix or both.
	Routes  []Route
	MaxIdle int
	Via     string
	// The codecs/http1 limits of client requests (0: http1's defaults).
	MaxHeaderBytes, MaxHeaders, MaxLineBytes int
	MaxBodyBytes                             int64
	// AccessLog is where the daemon writes a line per request: stdout,
	// stderr or a file; empty for none.
	AccessLog string
	// ClientCertHeader names the request field that carries the verified
	// client certificate's details upstream (empty: none is sent).
	ClientCertHeader string
	// HTTP2 serves HTTP/2 besides HTTP/1.1 (the default): by prior
	// knowledge on cleartext, by ALPN "h2" behind a tls stage.
	HTTP2 bool
}

// TimeoutValues are a pipeline's timeouts; 0 takes the runtime's default.
type TimeoutValues struct {
	Connect, Idle, Response, Header, Read, ClientBody, Send time.Duration
}

// SessionValues tune a UDP pipeline's sessions.
type SessionValues struct {
	Idle        time.Duration
	MaxSessions int
}

// Group is an upstream group.
type Group struct {
	Name        string
	Endpoints   []string
	FailTimeout time.Duration
	// Names and Weights place redis_proxy keys (empty: by address, weight
	// 1).
	Names   []string
	Weights []int
	// TLS is how connections to the endpoints speak TLS; nil for none.
	TLS *UpstreamTLS
	// Protocol is http1, h2, h2c or auto (checked; "" is http1).
	Protocol string
}

// Group returns the group of that name, or nil.
func (p *Plan) Group(name string) *Group {
	for _, g := range p.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// Errorf returns a problem at a key path of the file, with its line: for
// the checks a user of the Plan adds (what pipegen cannot generate, what
// the daemon cannot run), so that they read as the schema's own.
func (p *Plan) Errorf(path, format string, args ...any) *Error {
	return newError(p.File, p.root, path, format, args...)
}

// Written reports whether the file has a value at a key path.
func (p *Plan) Written(path string) bool {
	return p.root != nil && lookup(p.root, path) != nil
}

func newError(file string, root *yaml.Node, path, format string, args ...any) *Error {
	line := 0
	if root != nil {
		line = yamlpath.Line(root, path)
	}
	return &Error{File: file, Line: line, Path: path, Msg: sprintf(format, args...)}
}
