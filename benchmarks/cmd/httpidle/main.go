// Command httpidle is the helper of benchmarks/http.sh, the HTTP/1.1
// reverse-proxy benchmark. Every subcommand is bounded in time and prints at
// most one JSON line (or the table).
//
//	httpidle idle -addr A -n 3000 -pid P     memory per idle keep-alive client connection
//	httpidle wait -addr A [-t 5s]            until GET / through A answers 200 "hello world\n"
//	httpidle cpu -pid P                      CPU seconds of P and its descendants
//	httpidle accepts -addr A                 "accepts" of nginx's stub_status at http://A/status
//	httpidle wrk [-cpu-s S] < wrk.out        wrk output (with wrk-report.lua) to one JSON line
//	httpidle table -raw raw.jsonl [-machine m.md] [-out latest.md]
//
// idle: a warm-up (-c connections doing a few requests each, then closed)
// fills the proxy's upstream pool and its allocator; then the RSS of the
// proxy (P plus its descendants: nginx's master and worker) is read, -n
// client connections are opened, -c at a time, each sends one request, reads
// the response and stays open and idle; after -settle the RSS is read again.
// bytes_per_conn = (after - before) / open connections. A second request on
// every connection afterwards tells how many the proxy kept open ("alive").
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/penstock-proxy/penstock/benchmarks/internal/bench"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: httpidle idle|wait|cpu|accepts|wrk|table [flags]")
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "idle":
		err = idle(args)
	case "wait":
		err = wait(args)
	case "cpu":
		err = bench.CPUCommand(args)
	case "accepts":
		err = accepts(args)
	case "wrk":
		err = wrk(args, os.Stdin, os.Stdout)
	case "table":
		err = table(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "httpidle %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// ---- /proc ------------------------------------------------------------------

// ---- HTTP/1.1 client side ---------------------------------------------------

type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(addr string, timeout time.Duration) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	// A small reader: the responses are ~150 bytes and 3000 of these
	// live in this process.
	return &conn{c: c, br: bufio.NewReaderSize(c, 1024)}, nil
}

// get sends one GET / and reads the whole response. It fails on a status
// other than 200 and on a response that announces the connection's close (the
// connection would not stay as an idle keep-alive connection).
func (h *conn) get(req []byte, timeout time.Duration) error {
	h.c.SetDeadline(time.Now().Add(timeout))
	defer h.c.SetDeadline(time.Time{})
	if _, err := h.c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Close {
		return errors.New("the proxy closes the connection after the response (Connection: close)")
	}
	return nil
}

func request(addr string) []byte {
	return []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: httpidle\r\nAccept: */*\r\n\r\n")
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:26013", "proxy address (in front of the hello-world backend)")
	n := fs.Int("n", 3000, "idle client connections to hold")
	pid := fs.Int("pid", 0, "proxy PID: VmRSS of it and its descendants is read (required)")
	conc := fs.Int("c", 64, "concurrent connections while warming up and opening")
	warmReqs := fs.Int("warm", 8, "requests per warm-up connection")
	settle := fs.Duration("settle", time.Second, "wait before each RSS reading")
	timeout := fs.Duration("timeout", 60*time.Second, "overall time limit to open the connections")
	fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	if *n < 1 || *conc < 1 {
		return errors.New("bad -n or -c")
	}
	req := request(*addr)
	out, err := runIdle(*addr, req, *n, *pid, *conc, *warmReqs, *settle, *timeout)
	if out != nil {
		bench.Emit(os.Stdout, out)
	}
	return err
}

func runIdle(addr string, req []byte, n, pid, conc, warmReqs int, settle, timeout time.Duration) (map[string]any, error) {
	// Warm-up: conc connections at once (so the proxy's upstream pool
	// reaches the size the opening phase needs), a few requests each.
	var wg sync.WaitGroup
	var warmErr atomic.Value
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := dial(addr, 5*time.Second)
			if err == nil {
				for i := 0; i < warmReqs && err == nil; i++ {
					err = h.get(req, 5*time.Second)
				}
				h.c.Close()
			}
			if err != nil {
				warmErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if e := warmErr.Load(); e != nil {
		return nil, fmt.Errorf("warm-up: %v", e)
	}
	time.Sleep(settle)
	before, nproc, err := bench.TreeRSS(pid)
	if err != nil {
		return nil, err
	}

	conns := make([]*conn, n)
	var fails atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(timeout)
	var next atomic.Int64
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(deadline) {
					return
				}
				h, err := dial(addr, 5*time.Second)
				if err == nil {
					if err = h.get(req, 5*time.Second); err != nil {
						h.c.Close()
					}
				}
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = h
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, h := range conns {
		if h != nil {
			open++
		}
	}
	time.Sleep(settle)
	after, _, err := bench.TreeRSS(pid)
	if err != nil {
		return nil, err
	}
	// Did the proxy keep them? One more request on each (after the RSS
	// reading, so it does not count), c at a time.
	var alive atomic.Int64
	next.Store(0)
	aliveDeadline := time.Now().Add(timeout)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(aliveDeadline) {
					return
				}
				if h := conns[i]; h != nil && h.get(req, 5*time.Second) == nil {
					alive.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for _, h := range conns {
		if h != nil {
			h.c.Close()
		}
	}
	out := map[string]any{
		"conns":      open,
		"errors":     fails.Load(),
		"rss_before": before,
		"rss_after":  after,
		"processes":  nproc,
		"alive":      alive.Load(),
	}
	if open > 0 {
		out["bytes_per_conn"] = bench.Round(float64(after-before)/float64(open), 0)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	if a := alive.Load(); a < int64(open) {
		out["note"] = fmt.Sprintf("only %d of %d idle connections answered a second request after the measurement", a, open)
	}
	if open == 0 {
		return out, errors.New("no connection could be opened")
	}
	return out, nil
}

func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:26013", "address to GET / from")
	limit := fs.Duration("t", 5*time.Second, "give up after this long")
	fs.Parse(args)
	req := request(*addr)
	deadline := time.Now().Add(*limit)
	var last error
	for time.Now().Before(deadline) {
		h, err := dial(*addr, time.Second)
		if err == nil {
			err = checkBody(h, req)
			h.c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", *addr, *limit, last)
}

func checkBody(h *conn, req []byte) error {
	h.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := h.c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(b) != "hello world\n" {
		return fmt.Errorf("unexpected response: %d %q", resp.StatusCode, b)
	}
	return nil
}

// accepts prints the connections nginx has accepted so far, from its
// stub_status page ("Active connections: 1\nserver accepts handled
// requests\n 5 5 9\n..."). The request that reads it is one of them.
func accepts(args []string) error {
	fs := flag.NewFlagSet("accepts", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:26002", "nginx stub_status server")
	fs.Parse(args)
	h, err := dial(*addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer h.c.Close()
	h.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := h.c.Write([]byte("GET /status HTTP/1.1\r\nHost: " + *addr + "\r\nConnection: close\r\n\r\n")); err != nil {
		return err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return err
	}
	n, err := parseAccepts(string(b))
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}

func parseAccepts(s string) (int64, error) {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "server accepts") && i+1 < len(lines) {
			f := strings.Fields(lines[i+1])
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no accepts count in stub_status page %q", s)
}

// ---- wrk output -------------------------------------------------------------

type wrkResult struct {
	Requests   float64 `json:"requests"`
	DurationUS float64 `json:"duration_us"`
	Bytes      float64 `json:"bytes"`
	P50        float64 `json:"p50_us"`
	P90        float64 `json:"p90_us"`
	P99        float64 `json:"p99_us"`
	Max        float64 `json:"max_us"`
	Mean       float64 `json:"mean_us"`
	ErrConnect float64 `json:"err_connect"`
	ErrRead    float64 `json:"err_read"`
	ErrWrite   float64 `json:"err_write"`
	ErrStatus  float64 `json:"err_status"`
	ErrTimeout float64 `json:"err_timeout"`
}

func wrk(args []string, in io.Reader, w io.Writer) error {
	fs := flag.NewFlagSet("wrk", flag.ExitOnError)
	cpuS := fs.Float64("cpu-s", -1, "proxy CPU seconds used during the run (negative: unknown)")
	upConns := fs.Int64("upstream-conns", -1, "connections the backend accepted during the run (negative: unknown)")
	fs.Parse(args)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var r *wrkResult
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if s, ok := strings.CutPrefix(line, "WRKJSON "); ok {
			r = new(wrkResult)
			if err := json.Unmarshal([]byte(s), r); err != nil {
				return fmt.Errorf("parse %q: %w", s, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if r == nil {
		return errors.New("no WRKJSON line in wrk's output (was it run with -s benchmarks/http/wrk-report.lua?)")
	}
	if r.Requests <= 0 || r.DurationUS <= 0 {
		return errors.New("wrk completed no request")
	}
	errs := r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrStatus + r.ErrTimeout
	out := map[string]any{
		"rps":      bench.Round(r.Requests/(r.DurationUS/1e6), 1),
		"requests": r.Requests,
		"seconds":  bench.Round(r.DurationUS/1e6, 3),
		"p50_us":   r.P50,
		"p90_us":   r.P90,
		"p99_us":   r.P99,
		"max_us":   r.Max,
		"mean_us":  r.Mean,
		"errors":   errs,
	}
	if errs > 0 {
		out["first_error"] = fmt.Sprintf("wrk errors: connect %v, read %v, write %v, status>=400 %v, timeout %v",
			r.ErrConnect, r.ErrRead, r.ErrWrite, r.ErrStatus, r.ErrTimeout)
	}
	if *cpuS >= 0 {
		out["proxy_cpu_s"] = bench.Round(*cpuS, 2)
		out["proxy_cpu_us_per_req"] = bench.Round(*cpuS*1e6/r.Requests, 2)
	}
	if *upConns >= 0 {
		out["upstream_conns"] = *upConns
		out["upstream_conns_per_1k_req"] = bench.Round(float64(*upConns)*1000/r.Requests, 3)
	}
	bench.Emit(w, out)
	return nil
}

// ---- table ------------------------------------------------------------------

// row describes one line of the table: a field of one measure's results.
type row struct {
	measure, field, label, unit string
	scale                       float64
	digits                      int
	higherBetter                bool
}

var rows = []row{
	{"keepalive", "rps", "keep-alive requests/s, wrk -t2 -c64", "req/s", 1, 0, true},
	{"keepalive", "p99_us", "keep-alive p99 latency, wrk -t2 -c64", "ms", 1e-3, 2, false},
	{"close", "rps", "new connection per request (Connection: close), wrk -t2 -c64", "req/s", 1, 0, true},
	{"idle_mem", "bytes_per_conn", "memory per idle keep-alive client connection, RSS of all proxy processes", "KB", 1e-3, 2, false},
	{"keepalive", "proxy_cpu_us_per_req", "proxy CPU per request, keep-alive", "us", 1, 1, false},
	{"close", "proxy_cpu_us_per_req", "proxy CPU per request, Connection: close", "us", 1, 1, false},
	{"keepalive", "upstream_conns_per_1k_req", "upstream connections opened per 1000 requests, keep-alive", "conns", 1, 2, false},
	{"close", "upstream_conns_per_1k_req", "upstream connections opened per 1000 requests, Connection: close", "conns", 1, 2, false},
}

// rateMeasure tells whether a measure depends on the CPU time the proxy and
// the load get (the memory measure does not).
func rateMeasure(m string) bool { return m == "keepalive" || m == "close" }

func table(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	raw := fs.String("raw", "", "raw JSON lines written by http.sh")
	machine := fs.String("machine", "", "markdown file with machine info to include")
	out := fs.String("out", "", "also write the markdown here")
	doPrint := fs.Bool("print", true, "print the markdown on stdout")
	title := fs.String("title", "Penstock HTTP/1.1 reverse-proxy benchmark", "heading")
	clist := fs.String("contenders", "penstock haproxy nginx goproxy", "columns, in this order")
	base := fs.String("base", "nginx", "ratios are each contender's median over this one's")
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
	errCount := map[key]float64{}
	failed := map[key]int{}
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
		if s := r.Str("skipped"); s != "" && m == "" {
			skipped[c] = s
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
		if v, ok := r.Num("errors"); ok {
			errCount[k] += v
		}
		for _, f := range []string{"note", "first_error"} {
			if s := r.Str(f); s != "" {
				notes[k] = append(notes[k], s)
			}
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
			fmt.Fprintf(&b, ", %v interleaved bench.Round(s)", rounds)
		}
		b.WriteString(". ")
	}
	b.WriteString("Medians; with more than one round the min-max range is in brackets. " +
		"Proxy pinned to one CPU with one worker/thread (GOMAXPROCS=1 for the Go ReverseProxy; penstock its default, one P for its one CPU), " +
		"wrk and the nginx backend on the other CPU, loopback.\n\n")

	others := []string{}
	for _, c := range contenders {
		if c != *base {
			others = append(others, c)
		}
	}
	header, sep := "| measure | unit |", "|---|---|"
	for _, c := range contenders {
		header += " " + c + " |"
		sep += "---|"
	}
	hasBase := false
	for _, c := range contenders {
		hasBase = hasBase || c == *base
	}
	if hasBase {
		for _, c := range others {
			header += " " + c + "/" + *base + " |"
			sep += "---|"
		}
	}
	b.WriteString(header + "\n" + sep + "\n")

	for _, rw := range rows {
		// No result and no failure (a measure left out of MEASURES, a
		// field the tool did not report): no row.
		ran := false
		for _, c := range contenders {
			ran = ran || len(values[vkey{rw.measure, rw.field, c}]) > 0 || failed[key{rw.measure, c}] > 0
		}
		if !ran {
			continue
		}
		better := "lower is better"
		if rw.higherBetter {
			better = "higher is better"
		}
		line := "| " + rw.label + " (" + better + ") | " + rw.unit + " |"
		meds := map[string]float64{}
		for _, c := range contenders {
			vals := values[vkey{rw.measure, rw.field, c}]
			s, med := "", math.NaN()
			switch {
			case skipped[c] != "":
				s = "skipped"
			case len(vals) == 0 && results[key{rw.measure, c}] > 0:
				s = "-" // results without this field
			case len(vals) == 0 && failed[key{rw.measure, c}] > 0:
				s = "failed"
			case len(vals) == 0:
				s = "not run"
			default:
				med = bench.Median(vals)
				s = bench.FmtNum(med, rw.digits)
				if len(vals) > 1 {
					lo, hi := bench.MinMax(vals)
					s += " (" + bench.FmtNum(lo, rw.digits) + "-" + bench.FmtNum(hi, rw.digits) + ")"
				}
			}
			meds[c] = med
			line += " " + s + " |"
		}
		if hasBase {
			for _, c := range others {
				line += " " + ratio(meds[c], meds[*base]) + " |"
			}
		}
		b.WriteString(line + "\n")
	}
	if hasBase {
		fmt.Fprintf(&b, "\nRatios are each contender's median divided by %s's "+
			"(above 1 is better for higher-is-better rows, below 1 for lower-is-better rows).\n", *base)
	}

	var ns []string
	for c, s := range skipped {
		ns = append(ns, fmt.Sprintf("- %s skipped: %s", c, s))
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
	if *doPrint {
		fmt.Print(b.String())
	}
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

// ratio is a/b with two decimals, or "-" when b is missing or shows as
// 0.00 in the table: a ratio over a rounding remnant means nothing.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || math.Abs(b) < 0.005 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}
