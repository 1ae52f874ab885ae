package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/penstock-proxy/penstock/benchmarks/internal/bench"
)

// row is one line of the table: a field of one measure's results.
type row struct {
	measure, field, label, unit string
	scale                       float64
	digits                      int
	higherBetter                bool
}

var rows = []row{
	{"keepalive", "proxy_cpu_us_per_req", "HTTPS keep-alive, proxy CPU per request", "us", 1, 1, false},
	{"keepalive", "rps", "HTTPS keep-alive requests/s, wrk -t2 -c64", "req/s", 1, 0, true},
	{"keepalive", "p99_us", "HTTPS keep-alive p99 latency", "ms", 1e-3, 2, false},
	{"hs_x25519", "proxy_cpu_us_per_conn", "new TLS 1.3 connection per request, X25519: proxy CPU per connection", "us", 1, 1, false},
	{"hs_x25519", "conns_per_s", "new TLS 1.3 connection per request, X25519: connections/s", "conn/s", 1, 0, true},
	{"hs_default", "proxy_cpu_us_per_conn", "new TLS 1.3 connection per request, Go client's default groups: proxy CPU per connection", "us", 1, 1, false},
	{"hs_default", "conns_per_s", "new TLS 1.3 connection per request, Go client's default groups: connections/s", "conn/s", 1, 0, true},
	{"hs_resumed", "proxy_cpu_us_per_conn", "resumed TLS 1.3 connection per request (ticket, X25519): proxy CPU per connection", "us", 1, 1, false},
	{"hs_resumed", "conns_per_s", "resumed TLS 1.3 connection per request: connections/s", "conn/s", 1, 0, true},
	{"hs_resumed", "resumed_pct", "resumed TLS 1.3 connection per request: share of handshakes resumed", "%", 1, 1, true},
	{"stream", "proxy_cpu_ms_per_gb", "TLS termination, one stream, TLS in, plaintext out: proxy CPU per GB", "ms", 1, 1, false},
	{"stream", "mb_s", "TLS termination, one stream: throughput", "MB/s", 1, 0, true},
	{"idle_mem", "bytes_per_conn", "memory per idle TLS keep-alive client connection, RSS of all proxy processes", "KB", 1e-3, 2, false},
}

// target is one goal of the TLS issue: penstock's median of a row against a
// peer's, times factor.
type target struct {
	measure, field, peer string
	factor               float64
	text                 string
}

var targets = []target{
	{"keepalive", "proxy_cpu_us_per_req", "nginx", 0.8, "HTTPS keep-alive: proxy CPU per request <= 0.8x nginx"},
	{"hs_x25519", "proxy_cpu_us_per_conn", "nginx", 0.9, "full handshake (X25519): proxy CPU per handshake <= 0.9x nginx"},
	{"hs_x25519", "proxy_cpu_us_per_conn", "haproxy", 1, "full handshake (X25519): proxy CPU per handshake <= HAProxy"},
	{"hs_default", "proxy_cpu_us_per_conn", "nginx", 0.9, "full handshake (client's default groups): proxy CPU per handshake <= 0.9x nginx"},
	{"hs_default", "proxy_cpu_us_per_conn", "haproxy", 1, "full handshake (client's default groups): proxy CPU per handshake <= HAProxy"},
	{"stream", "mb_s", "haproxy", 1, "TLS termination throughput >= HAProxy (MB/s)"},
	{"stream", "proxy_cpu_ms_per_gb", "haproxy", 1, "TLS termination: proxy CPU per GB <= HAProxy (the same target read by CPU)"},
	{"idle_mem", "bytes_per_conn", "nginx", 1, "memory per idle TLS keep-alive connection <= nginx"},
}

func rateMeasure(m string) bool { return m != "idle_mem" }

func table(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	raw := fs.String("raw", "", "raw JSON lines written by tls.sh")
	machine := fs.String("machine", "", "markdown file with machine info to include")
	out := fs.String("out", "", "also write the markdown here")
	title := fs.String("title", "Penstock TLS benchmark", "heading")
	clist := fs.String("contenders", "penstock nginx haproxy caddy", "columns, in this order")
	self := fs.String("self", "penstock", "ratios are this contender's median over each other's")
	busyPct := fs.Float64("busy-pct", 10, "flag results measured while other processes used more than this % of a CPU")
	fs.Parse(args)
	if *raw == "" {
		return errors.New("-raw is required")
	}
	f, err := os.Open(*raw)
	if err != nil {
		return err
	}
	defer f.Close()
	contenders := strings.Fields(*clist)

	type key struct{ measure, contender string }
	type vkey struct{ measure, field, contender string }
	values := map[vkey][]float64{}
	notes := map[key][]string{}
	negotiated := map[key]map[string]bool{}
	errCount := map[key]float64{}
	failed := map[key]int{}
	cannot := map[key]bool{}
	results := map[key]int{}
	skipped := map[string]string{}
	meta := bench.Record{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r bench.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", *raw, line, err)
		}
		if r.Str("kind") == "meta" {
			for k, v := range r {
				meta[k] = v
			}
			continue
		}
		c, m := r.Str("contender"), r.Str("measure")
		if s := r.Str("skipped"); s != "" {
			if m == "" {
				skipped[c] = s
			} else {
				notes[key{m, c}] = append(notes[key{m, c}], "n/a: "+s)
				cannot[key{m, c}] = true
			}
			continue
		}
		k := key{m, c}
		if s := r.Str("failed"); s != "" {
			failed[k]++
			notes[k] = append(notes[k], fmt.Sprintf("round %v failed: %s", r["round"], s))
			continue
		}
		results[k]++
		for _, rw := range rows {
			if rw.measure == m {
				if v, ok := r.Num(rw.field); ok {
					values[vkey{m, rw.field, c}] = append(values[vkey{m, rw.field, c}], v*rw.scale)
				}
			}
		}
		if v, ok := r.Num("other_cpu_pct"); ok && v > *busyPct && rateMeasure(m) {
			notes[k] = append(notes[k], fmt.Sprintf("round %v ran on a busy machine (other processes used %v%% of a CPU during the test)", r["round"], v))
		}
		if v, ok := r.Num("steal_pct"); ok && v > *busyPct && rateMeasure(m) {
			notes[k] = append(notes[k], fmt.Sprintf("round %v ran on a busy host (steal time: %v%% of a CPU during the test)", r["round"], v))
		}
		if v, ok := r.Num("errors"); ok {
			errCount[k] += v
		}
		for _, f := range []string{"note", "first_error"} {
			if s := r.Str(f); s != "" {
				notes[k] = append(notes[k], s)
			}
		}
		if g, ci := r.Str("group"), r.Str("cipher"); g != "" || ci != "" {
			if negotiated[k] == nil {
				negotiated[k] = map[string]bool{}
			}
			negotiated[k][g+", "+ci] = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", *title)
	if d := meta.Str("date"); d != "" {
		fmt.Fprintf(&b, "Run %s", d)
		if cmd := meta.Str("command"); cmd != "" {
			fmt.Fprintf(&b, " with `%s`", cmd)
		}
		if rounds, ok := meta.Num("rounds"); ok {
			fmt.Fprintf(&b, ", %v interleaved round(s)", rounds)
		}
		b.WriteString(". ")
	}
	b.WriteString("Medians; with more than one round the min-max range is in brackets. " +
		"Proxy pinned to one CPU with one worker/thread (GOMAXPROCS=1 for Caddy; penstock --loops 1), " +
		"the load generators and the backends on the other CPU, loopback.\n\n")

	var peers []string
	hasSelf := false
	for _, c := range contenders {
		if c == *self {
			hasSelf = true
		} else {
			peers = append(peers, c)
		}
	}
	header, sep := "| measure | unit |", "|---|---|"
	for _, c := range contenders {
		header += " " + c + " |"
		sep += "---|"
	}
	if hasSelf {
		for _, c := range peers {
			header += " " + *self + "/" + c + " |"
			sep += "---|"
		}
	}
	b.WriteString(header + "\n" + sep + "\n")
	med := func(m, field, c string) float64 {
		v := values[vkey{m, field, c}]
		if len(v) == 0 {
			return math.NaN()
		}
		return bench.Median(v)
	}
	for _, rw := range rows {
		ran := false
		for _, c := range contenders {
			ran = ran || len(values[vkey{rw.measure, rw.field, c}]) > 0 || failed[key{rw.measure, c}] > 0 || cannot[key{rw.measure, c}]
		}
		if !ran {
			continue
		}
		better := "lower is better"
		if rw.higherBetter {
			better = "higher is better"
		}
		line := "| " + rw.label + " (" + better + ") | " + rw.unit + " |"
		for _, c := range contenders {
			vals := values[vkey{rw.measure, rw.field, c}]
			var s string
			switch {
			case skipped[c] != "":
				s = "skipped"
			case cannot[key{rw.measure, c}]:
				s = "n/a"
			case len(vals) == 0 && results[key{rw.measure, c}] > 0:
				s = "-"
			case len(vals) == 0 && failed[key{rw.measure, c}] > 0:
				s = "failed"
			case len(vals) == 0:
				s = "not run"
			default:
				s = bench.FmtNum(bench.Median(vals), rw.digits)
				if len(vals) > 1 {
					lo, hi := bench.MinMax(vals)
					s += " (" + bench.FmtNum(lo, rw.digits) + "-" + bench.FmtNum(hi, rw.digits) + ")"
				}
			}
			line += " " + s + " |"
		}
		if hasSelf {
			for _, c := range peers {
				line += " " + ratio(med(rw.measure, rw.field, *self), med(rw.measure, rw.field, c)) + " |"
			}
		}
		b.WriteString(line + "\n")
	}
	if hasSelf {
		fmt.Fprintf(&b, "\nRatios are %s's median divided by the peer's "+
			"(above 1 is better for higher-is-better rows, below 1 for lower-is-better rows).\n", *self)
	}

	// Targets.
	var tl []string
	for _, t := range targets {
		p, q := med(t.measure, t.field, *self), med(t.measure, t.field, t.peer)
		if math.IsNaN(p) || math.IsNaN(q) || q == 0 {
			continue
		}
		r := p / q
		higher := false
		for _, rw := range rows {
			if rw.measure == t.measure && rw.field == t.field {
				higher = rw.higherBetter
			}
		}
		met := r <= t.factor
		if higher {
			met = r >= t.factor
		}
		verdict := "not met"
		if met {
			verdict = "met"
		}
		tl = append(tl, fmt.Sprintf("| %s | %.2f | %s |", t.text, r, verdict))
	}
	if len(tl) > 0 {
		b.WriteString("\nTargets (penstock's median over the peer's):\n\n| target | ratio | met |\n|---|---|---|\n" + strings.Join(tl, "\n") + "\n")
	}

	var ns []string
	for c, s := range skipped {
		ns = append(ns, fmt.Sprintf("- %s skipped: %s", c, s))
	}
	for k, set := range negotiated {
		var l []string
		for s := range set {
			l = append(l, s)
		}
		sort.Strings(l)
		ns = append(ns, fmt.Sprintf("- %s / %s: negotiated %s", k.contender, k.measure, strings.Join(l, "; ")))
	}
	for k, v := range errCount {
		if v > 0 {
			ns = append(ns, fmt.Sprintf("- %s / %s: %v errors in total", k.contender, k.measure, v))
		}
	}
	for k, list := range notes {
		seen := map[string]bool{}
		for _, s := range list {
			if !seen[s] {
				seen[s] = true
				ns = append(ns, fmt.Sprintf("- %s / %s: %s", k.contender, k.measure, s))
			}
		}
	}
	if len(ns) > 0 {
		sort.Strings(ns)
		b.WriteString("\nNotes:\n\n" + strings.Join(ns, "\n") + "\n")
	}
	if *machine != "" {
		m, err := os.ReadFile(*machine)
		if err != nil {
			return err
		}
		b.WriteString("\n" + strings.TrimSpace(string(m)) + "\n")
	}
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

// ratio is a/b with two decimals, or "-" when either is missing.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || math.Abs(b) < 1e-9 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}
