package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWrk(t *testing.T) {
	in := "Running 3s test @ http://127.0.0.1:26013/\n  2 threads and 64 connections\n" +
		`WRKJSON {"requests":30000,"duration_us":3000000,"bytes":1,"p50_us":100,"p90_us":200,"p99_us":900,"max_us":5000,"mean_us":120.5,"err_connect":0,"err_read":2,"err_write":0,"err_status":1,"err_timeout":0}` + "\n"
	var out bytes.Buffer
	if err := wrk([]string{"-cpu-s", "1.5"}, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r["rps"] != 10000.0 || r["p99_us"] != 900.0 || r["errors"] != 3.0 || r["proxy_cpu_us_per_req"] != 50.0 {
		t.Errorf("got %v", r)
	}
	if err := wrk(nil, strings.NewReader("no json here\n"), &out); err == nil {
		t.Error("want an error without a WRKJSON line")
	}
}

func TestIdleSelf(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello world\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	out, err := runIdle(addr, request(addr), 50, os.Getpid(), 8, 2, 10*time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out["conns"] != 50 || out["alive"] != int64(50) || out["errors"] != int64(0) {
		t.Errorf("got %v", out)
	}
	if _, ok := out["bytes_per_conn"]; !ok {
		t.Errorf("no bytes_per_conn: %v", out)
	}
	if err := wait([]string{"-addr", addr, "-t", "2s"}); err != nil {
		t.Error(err)
	}
}

func TestTable(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.jsonl")
	lines := []string{
		`{"kind":"meta","date":"2026-01-01 00:00 UTC","command":"QUICK=1 bash benchmarks/http.sh","rounds":2}`,
		`{"contender":"penstock","skipped":"no http subcommand"}`,
		`{"round":1,"measure":"keepalive","contender":"nginx","rps":20000,"p99_us":1500,"proxy_cpu_us_per_req":40,"errors":0}`,
		`{"round":2,"measure":"keepalive","contender":"nginx","rps":30000,"p99_us":2500,"proxy_cpu_us_per_req":30,"errors":0}`,
		`{"round":1,"measure":"keepalive","contender":"goproxy","rps":10000,"p99_us":4000,"proxy_cpu_us_per_req":80,"errors":5,"first_error":"wrk errors: x"}`,
		`{"round":1,"measure":"idle_mem","contender":"nginx","bytes_per_conn":1000}`,
		`{"round":1,"measure":"close","contender":"goproxy","failed":"did not start"}`,
		`{"round":1,"measure":"close","contender":"nginx","rps":9000,"other_cpu_pct":50}`,
	}
	if err := os.WriteFile(raw, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "latest.md")
	if err := table([]string{"-print=false", "-raw", raw, "-out", out, "-contenders", "penstock nginx goproxy"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"| measure | unit | penstock | nginx | goproxy | penstock/nginx | goproxy/nginx |",
		"| keep-alive requests/s, wrk -t2 -c64 (higher is better) | req/s | skipped | 25.0k (20.0k-30.0k) | 10.0k | - | 0.40 |",
		"| keep-alive p99 latency, wrk -t2 -c64 (lower is better) | ms | skipped | 2.00 (1.50-2.50) | 4.00 | - | 2.00 |",
		"| new connection per request (Connection: close), wrk -t2 -c64 (higher is better) | req/s | skipped | 9.0k | failed | - | - |",
		"| KB | skipped | 1.00 | not run | - | - |",
		"| proxy CPU per request, Connection: close (lower is better) | us | skipped | - | failed | - | - |",
		"- goproxy / keepalive: 5 errors in total",
		"- goproxy / keepalive: wrk errors: x",
		"- goproxy / close: round 1 failed: did not start",
		"- nginx / close: round 1 ran on a busy machine",
		"- penstock skipped: no http subcommand",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "upstream connections opened per 1000 requests, keep-alive") {
		t.Errorf("a row without any result is printed:\n%s", md)
	}
}

func TestParseAccepts(t *testing.T) {
	page := "Active connections: 3 \nserver accepts handled requests\n 1234 1234 98765 \nReading: 0 Writing: 1 Waiting: 2 \n"
	if n, err := parseAccepts(page); err != nil || n != 1234 {
		t.Errorf("parseAccepts = %v, %v", n, err)
	}
	if _, err := parseAccepts("nope"); err == nil {
		t.Error("want an error")
	}
}

func TestRatioOverZero(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{{1, 2, "0.50"}, {0.23, 0.002, "-"}, {0, 0, "-"}, {math.NaN(), 1, "-"}, {3, 1.5, "2.00"}} {
		if got := ratio(c.a, c.b); got != c.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}
