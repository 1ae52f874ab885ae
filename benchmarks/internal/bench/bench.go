// Package bench holds what the benchmark commands share: reading a
// process tree's CPU time and memory from /proc, raw result lines, sizes,
// and the statistics and number formatting of the result tables. Every function is safe from any
// goroutine.
package bench

import (
	"bytes"
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
	"syscall"
)

// Record is one raw result line (JSON object) of a benchmark run.
type Record map[string]any

// Str returns the string field k ("" if absent).
func (r Record) Str(k string) string {
	s, _ := r[k].(string)
	return s
}

// Num returns the number field k and whether there is one.
func (r Record) Num(k string) (float64, bool) {
	v, ok := r[k].(float64)
	return v, ok
}

// Round rounds x to digits decimals.
func Round(x float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}

// Median returns the median of v, which must not be empty.
func Median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MinMax returns the smallest and largest of v, which must not be empty.
func MinMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// FmtNum formats x with digits decimals; whole numbers of 1000 and more
// read as 12.3k, easier in a wide table.
func FmtNum(x float64, digits int) string {
	if digits == 0 && math.Abs(x) >= 1000 {
		return strconv.FormatFloat(x/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(x, 'f', digits, 64)
}

// ProcCPU returns the user plus system CPU seconds pid has used.
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")" come field 3 (state) onwards: utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad stat numbers")
	}
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// ProcStatusBytes returns a kB field of /proc/PID/status (VmRSS, say) in
// bytes.
func ProcStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Tree returns pid and all its descendants (nginx: master and workers).
func Tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && len(out) < 1000; i++ {
		p := out[i]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// TreeCPU is the user+system CPU seconds of pid and its descendants.
func TreeCPU(pid int) (float64, error) {
	var sum float64
	for i, p := range Tree(pid) {
		v, err := ProcCPU(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // a child that just exited
		}
		sum += v
	}
	return sum, nil
}

// TreeRSS sums VmRSS over pid and its descendants, and counts them.
func TreeRSS(pid int) (int64, int, error) {
	pids := Tree(pid)
	var sum int64
	for i, p := range pids {
		v, err := ProcStatusBytes(p, "VmRSS")
		if err != nil {
			if i == 0 {
				return 0, 0, err
			}
			continue // a child that just exited
		}
		sum += v
	}
	return sum, len(pids), nil
}

// RaiseNoFile raises the open-file soft limit to the hard one.
func RaiseNoFile() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// Emit writes v to w as one JSON line (a raw result record).
func Emit(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	_, _ = w.Write(append(b, '\n'))
}

// ParseSize reads a byte count with an optional unit: GiB, MiB, KiB
// (powers of two), GB, MB, K, M (powers of ten).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"K", 1e3}, {"M", 1e6}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return int64(v * float64(mult)), err
}

// CPUCommand is the "cpu -pid N" subcommand of the load tools: it prints
// the CPU seconds of a process and its descendants, for the scripts'
// before and after readings.
func CPUCommand(args []string) error {
	fs := flag.NewFlagSet("cpu", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process whose CPU (with its descendants') to print")
	_ = fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	v, err := TreeCPU(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("%.2f\n", v)
	return nil
}
