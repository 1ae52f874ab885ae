package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.jsonl")
	lines := []string{
		`{"kind":"meta","date":"2026-01-01 00:00 UTC","command":"QUICK=1 bash benchmarks/run.sh","rounds":2}`,
		`{"contender":"gorelay","skipped":"does not build"}`,
		`{"measure":"udp","contender":"haproxy","unsupported":"no UDP"}`,
		`{"round":1,"measure":"connrate","contender":"penstock","conns_per_s":2000,"proxy_cpu_us_per_conn":50,"errors":0}`,
		`{"round":2,"measure":"connrate","contender":"penstock","conns_per_s":4000,"proxy_cpu_us_per_conn":70,"errors":2,"first_error":"boom"}`,
		`{"round":1,"measure":"connrate","contender":"haproxy","conns_per_s":1500,"proxy_cpu_us_per_conn":60}`,
		`{"round":2,"measure":"connrate","contender":"haproxy","conns_per_s":1500,"proxy_cpu_us_per_conn":60,"other_cpu_pct":50}`,
		`{"round":1,"measure":"udp","contender":"nginx","failed":"did not start"}`,
	}
	if err := os.WriteFile(raw, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "latest.md")
	if err := table([]string{"-print=false", "-raw", raw, "-out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"| TCP connect + 16 B echo + close (higher is better) | conn/s | 3.0k (2.0k-4.0k) | 1.5k (1.5k-1.5k) | not run | skipped | 2.00 | - | - |",
		"| UDP 64 B datagrams echoed (higher is better) | dgram/s | not run | no UDP | failed | skipped |",
		"- penstock / connrate: 2 errors in total",
		"- penstock / connrate: first error: boom",
		"- haproxy / connrate: round 2 ran on a busy machine",
		"- gorelay skipped: does not build",
		"- nginx / udp: round 1 failed: did not start",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}
