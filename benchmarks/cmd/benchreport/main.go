// Command benchreport turns the raw JSON lines collected by benchmarks/run.sh
// into a markdown table (medians per contender and penstock ratios), and
// converts iperf3 -J output into one such JSON line.
//
//	benchreport iperf3 [-cpu-s S] < iperf3.json
//	benchreport table -raw raw.jsonl [-machine info.md] [-out latest.md]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/penstock-proxy/penstock/benchmarks/internal/bench"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchreport iperf3|table [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "iperf3":
		err = iperf3(os.Args[2:])
	case "table":
		err = table(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func iperf3(args []string) error {
	fs := flag.NewFlagSet("iperf3", flag.ExitOnError)
	cpu := fs.Float64("cpu-s", -1, "proxy CPU seconds used during the test (negative: unknown)")
	fs.Parse(args)
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
				Retransmits   float64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("parse iperf3 JSON: %w", err)
	}
	if r.Error != "" {
		return fmt.Errorf("iperf3: %s", r.Error)
	}
	rx := r.End.SumReceived
	if rx.BitsPerSecond <= 0 {
		return errors.New("iperf3 reported no received bytes")
	}
	out := map[string]any{
		"gbit_s":      bench.Round(rx.BitsPerSecond/1e9, 3),
		"bytes":       rx.Bytes,
		"seconds":     bench.Round(rx.Seconds, 3),
		"retransmits": r.End.SumSent.Retransmits,
	}
	if *cpu >= 0 && rx.Bytes > 0 {
		out["proxy_cpu_s"] = bench.Round(*cpu, 2)
		out["proxy_cpu_ms_per_gb"] = bench.Round(*cpu*1e3/(rx.Bytes/1e9), 1)
	}
	enc, _ := json.Marshal(out)
	fmt.Println(string(enc))
	return nil
}

// measure describes one row of the table.
type measure struct {
	key, label, unit string
	field            string  // JSON field of the primary number
	scale            float64 // display value = field * scale
	digits           int
	higherBetter     bool
	cpuField         string // JSON field of proxy CPU per unit of work
	cpuLabel         string
}

var measures = []measure{
	{key: "tcp_throughput", label: "TCP throughput, iperf3, 1 stream", unit: "Gbit/s", field: "gbit_s", scale: 1, digits: 2, higherBetter: true,
		cpuField: "proxy_cpu_ms_per_gb", cpuLabel: "proxy CPU ms per GB"},
	{key: "connrate", label: "TCP connect + 16 B echo + close", unit: "conn/s", field: "conns_per_s", scale: 1, digits: 0, higherBetter: true,
		cpuField: "proxy_cpu_us_per_conn", cpuLabel: "proxy CPU us per connection"},
	{key: "idle_mem", label: "memory per idle relayed TCP conn", unit: "KB", field: "bytes_per_conn", scale: 1.0 / 1000, digits: 2},
	{key: "udp", label: "UDP 64 B datagrams echoed", unit: "dgram/s", field: "dgrams_per_s", scale: 1, digits: 0, higherBetter: true,
		cpuField: "proxy_cpu_us_per_dgram", cpuLabel: "proxy CPU us per datagram"},
	{key: "slow_rss", label: "slow consumer (4 MiB/s): proxy peak RSS, target < 96 MiB", unit: "MiB", field: "max_rss_mib", scale: 1, digits: 1},
}

// rateMeasure tells whether a measure depends on the CPU time the proxy and
// the load generator get (memory measures do not).
func rateMeasure(key string) bool {
	for _, ms := range measures {
		if ms.key == key {
			return ms.higherBetter
		}
	}
	return false
}

var contenders = []string{"penstock", "haproxy", "nginx", "gorelay"}

func table(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	raw := fs.String("raw", "", "raw JSON lines written by run.sh")
	machine := fs.String("machine", "", "markdown file with machine info to include")
	out := fs.String("out", "", "also write the markdown here")
	doPrint := fs.Bool("print", true, "print the markdown on stdout")
	title := fs.String("title", "Penstock L4 relay benchmark", "heading")
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

	type key struct{ measure, contender string }
	values := map[key][]float64{}
	cpus := map[key][]float64{}
	notes := map[key][]string{}
	errCount := map[key]float64{}
	skipped := map[string]string{}
	unsupported := map[key]string{}
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
		c, m := r.Str("contender"), r.Str("measure")
		if r.Str("kind") == "meta" {
			for k, v := range r {
				meta[k] = v
			}
			continue
		}
		if s := r.Str("skipped"); s != "" && m == "" {
			skipped[c] = s
			continue
		}
		k := key{m, c}
		if s := r.Str("unsupported"); s != "" {
			unsupported[k] = s
			continue
		}
		if s := r.Str("failed"); s != "" {
			notes[k] = append(notes[k], fmt.Sprintf("round %v failed: %s", r["round"], s))
			continue
		}
		for _, ms := range measures {
			if ms.key != m {
				continue
			}
			if v, ok := r.Num(ms.field); ok {
				values[k] = append(values[k], v*ms.scale)
			}
			if ms.cpuField != "" {
				if v, ok := r.Num(ms.cpuField); ok {
					cpus[k] = append(cpus[k], v)
				}
			}
		}
		if v, ok := r.Num("other_cpu_pct"); ok && v > *busyPct && rateMeasure(m) {
			notes[k] = append(notes[k], fmt.Sprintf("round %v ran on a busy machine (other processes used %v%% of a CPU during the test)", r["round"], v))
		}
		if v, ok := r.Num("errors"); ok {
			errCount[k] += v
		}
		if s := r.Str("note"); s != "" {
			notes[k] = append(notes[k], s)
		}
		if s := r.Str("first_error"); s != "" {
			notes[k] = append(notes[k], "first error: "+s)
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
			fmt.Fprintf(&b, ", %v interleaved bench.Round(s) per measure", rounds)
		}
		b.WriteString(". ")
	}
	b.WriteString("Medians; with more than one round the min-max range is in brackets. " +
		"Proxy pinned to CPU 0 with one worker/thread, load generator and backends on CPU 1, loopback.\n\n")

	header := "| measure | unit |"
	sep := "|---|---|"
	for _, c := range contenders {
		header += " " + c + " |"
		sep += "---|"
	}
	for _, c := range contenders[1:] {
		header += " penstock/" + c + " |"
		sep += "---|"
	}
	b.WriteString(header + "\n" + sep + "\n")

	cell := func(k key, vals []float64, digits int) (string, float64) {
		if _, ok := skipped[k.contender]; ok {
			return "skipped", math.NaN()
		}
		if s, ok := unsupported[k]; ok {
			return s, math.NaN()
		}
		if len(vals) == 0 {
			if len(notes[k]) > 0 {
				return "failed", math.NaN()
			}
			return "not run", math.NaN()
		}
		med := bench.Median(vals)
		s := bench.FmtNum(med, digits)
		if len(vals) > 1 {
			lo, hi := bench.MinMax(vals)
			s += " (" + bench.FmtNum(lo, digits) + "-" + bench.FmtNum(hi, digits) + ")"
		}
		return s, med
	}
	ratio := func(a, b float64) string {
		if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
			return "-"
		}
		return strconv.FormatFloat(a/b, 'f', 2, 64)
	}
	writeRow := func(label, unit string, get func(c string) (string, float64)) {
		row := "| " + label + " | " + unit + " |"
		meds := map[string]float64{}
		for _, c := range contenders {
			s, med := get(c)
			meds[c] = med
			row += " " + s + " |"
		}
		for _, c := range contenders[1:] {
			row += " " + ratio(meds["penstock"], meds[c]) + " |"
		}
		b.WriteString(row + "\n")
	}
	for _, ms := range measures {
		better := "lower is better"
		if ms.higherBetter {
			better = "higher is better"
		}
		writeRow(ms.label+" ("+better+")", ms.unit, func(c string) (string, float64) {
			k := key{ms.key, c}
			return cell(k, values[k], ms.digits)
		})
	}
	for _, ms := range measures {
		if ms.cpuField == "" {
			continue
		}
		writeRow(ms.cpuLabel+" ("+ms.key+", lower is better)", "", func(c string) (string, float64) {
			k := key{ms.key, c}
			return cell(k, cpus[k], 1)
		})
	}
	b.WriteString("\nRatios are penstock's median divided by the other contender's median " +
		"(above 1 is better for higher-is-better rows, below 1 for lower-is-better rows).\n")

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
