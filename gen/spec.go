// Package gen is pipegen: it reads a declarative pipeline spec (JSON or
// YAML), checks it against the registry of stage kinds, and emits one
// concrete Go struct per pipeline whose stages are value fields called
// directly, with no interface call per frame and no reflection. Users run
// it through go generate; docs/pipeline-spec.md is the spec reference.
//
// gen imports no runtime package of Penstock: it knows the stages by name
// and emits code that uses them.
package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/penstock-proxy/penstock/internal/yamlpath"
)

// Spec is a pipeline spec as written.
type Spec struct {
	Version   int                 `yaml:"version"`
	Name      string              `yaml:"name"`
	Package   string              `yaml:"package"`
	Doc       string              `yaml:"doc"`
	Listen    []string            `yaml:"listen"`
	Filters   Filters             `yaml:"filters"`
	Stages    []Stage             `yaml:"stages"`
	Upstreams map[string]Upstream `yaml:"upstreams"`
	Timeouts  Timeouts            `yaml:"timeouts"`
	Session   Session             `yaml:"session"`
}

// Filters are the connection filters' default values.
type Filters struct {
	Allow         []string `yaml:"allow"`
	Deny          []string `yaml:"deny"`
	MaxConns      int      `yaml:"max_conns"`
	MaxConnsPerIP int      `yaml:"max_conns_per_ip"`
	RatePerIP     float64  `yaml:"rate_per_ip"`
	BurstPerIP    int      `yaml:"burst_per_ip"`
}

// Stage is one step of the pipeline; Kind decides which other keys apply.
type Stage struct {
	Kind string `yaml:"kind"`

	// proxy_protocol
	Accept  []string `yaml:"accept"`
	Trusted []string `yaml:"trusted"`

	// match, proxy_protocol
	Timeout string `yaml:"timeout"`
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
	StripDelim *bool    `yaml:"strip_delimiter"`
	// fixed
	Size int `yaml:"size"`

	// handle
	Type string `yaml:"type"`

	// redis_proxy
	HashTag      string `yaml:"hash_tag"`
	Hash         string `yaml:"hash"`
	Distribution string `yaml:"distribution"`

	// http_proxy
	MaxIdle        int    `yaml:"max_idle"`
	Via            string `yaml:"via"`
	MaxHeaderBytes int    `yaml:"max_header_bytes"`
	MaxHeaders     int    `yaml:"max_headers"`
	MaxLineBytes   int    `yaml:"max_line_bytes"`
	MaxBodyBytes   int64  `yaml:"max_body_bytes"`

	// relay, redis_proxy, http_proxy
	Upstream    string `yaml:"upstream"`
	SendProxy   string `yaml:"send_proxy"`
	SpliceAfter int64  `yaml:"splice_after"`
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

// Upstream is a group of endpoints.
type Upstream struct {
	Endpoints   []string `yaml:"endpoints"`
	FailTimeout string   `yaml:"fail_timeout"`
	// Names and Weights place keys for redis_proxy, as twemproxy's
	// "host:port:weight name" server lines do.
	Names   []string `yaml:"names"`
	Weights []int    `yaml:"weights"`
}

// Timeouts bound connection phases. Response and Header apply to
// http_proxy pipelines only.
type Timeouts struct {
	Connect  string `yaml:"connect"`
	Idle     string `yaml:"idle"`
	Response string `yaml:"response"`
	Header   string `yaml:"header"`
}

// Session tunes UDP sessions.
type Session struct {
	Idle        string `yaml:"idle"`
	MaxSessions int    `yaml:"max_sessions"`
}

// Error is a problem in a spec, at a line.
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a spec, in line order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// parsed is a spec with the document it came from, for error positions.
type parsed struct {
	file string
	spec Spec
	root yaml.Node
	errs Errors
}

func (p *parsed) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: yamlpath.Line(&p.root, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// parse reads a spec; JSON is read as YAML, which it is.
func parse(file string, data []byte) (*parsed, error) {
	p := &parsed{file: file}
	if err := yaml.Unmarshal(data, &p.root); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p.spec); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var errs Errors
			for _, m := range te.Errors {
				errs = append(errs, yamlError(file, errors.New(m)))
			}
			return nil, errs
		}
		return nil, Errors{yamlError(file, err)}
	}
	return p, nil
}

// yamlError turns "yaml: line 3: ..." into an Error at line 3.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, err := fmt.Sscanf(rest[:i], "%d", &e.Line); err == nil {
				e.Msg = rest[i+2:]
			}
		}
	}
	if f, ok := strings.CutPrefix(e.Msg, "field "); ok {
		if k, _, ok := strings.Cut(f, " not found in type"); ok {
			e.Path, e.Msg = k, "unknown key"
		}
	}
	e.Msg = strings.ReplaceAll(e.Msg, "gen.", "")
	return e
}

func (p *parsed) sortErrors() {
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
}

// duration parses an optional duration, recording a problem at path.
func (p *parsed) duration(path, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.errorf(path, "%q is not a duration such as 5s or 1m30s", s)
		return 0
	}
	return d
}
