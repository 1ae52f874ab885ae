// Command penstock runs Penstock's L4 relays from a config file or a
// one-line command.
//
//	penstock                      run the embedded demo config
//	penstock run -c FILE          run a config file
//	penstock check -c FILE        validate a config file
//	penstock tcp --listen ADDR --to ADDR[,ADDR...] [--allow CIDR] [--deny CIDR]
//	penstock udp --listen ADDR --to ADDR[,ADDR...]
//	penstock redis --listen ADDR --to ADDR[,ADDR...] [--hash-tag {}]
//
// SIGTERM drains (stop accepting, let connections finish until the drain
// timeout); SIGINT stops at once.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/penstock-proxy/penstock/transport"
)

//go:embed default.yaml
var defaultConfig []byte

func main() {
	if os.Getenv("GOGC") == "" {
		// A relay allocates almost nothing per byte, so a tighter heap
		// goal costs little CPU and keeps idle connections as cheap in RSS
		// as in C proxies (benchmarks/README.md). GOGC in the environment
		// overrides it.
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var cfg *Config
	var err error
	demo := false
	switch cmd {
	case "":
		demo = true
		cfg, err = ParseConfig("(embedded default config)", defaultConfig)
	case "run", "check":
		cfg, err = loadFlagConfig(cmd, args, stderr)
		if err == nil && cmd == "check" {
			fmt.Fprintf(stdout, "config ok: %d listeners, %d upstream groups\n", len(cfg.Listeners), len(cfg.Upstreams))
			return 0
		}
	case "tcp", "udp", "redis", "http":
		cfg, err = oneLiner(cmd, args, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "penstock: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // the flag package has printed the command's flags
		}
		fmt.Fprintf(stderr, "penstock: %v\n", err)
		return 2
	}
	return serve(cfg, demo, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  penstock                      run the embedded demo config
  penstock run -c FILE          run a config file
  penstock check -c FILE        validate a config file
  penstock tcp --listen ADDR --to ADDR[,ADDR...] [--allow CIDR] [--deny CIDR]
  penstock udp --listen ADDR --to ADDR[,ADDR...]
  penstock redis --listen ADDR --to ADDR[,ADDR...] [--hash-tag {}]
  penstock http --listen ADDR --to ADDR[,ADDR...] [--idle DURATION]
`)
}

func loadFlagConfig(cmd string, args []string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("penstock "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file (YAML or JSON)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *file == "" {
		return nil, errors.New(cmd + ": -c FILE is required")
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return nil, err
	}
	return ParseConfig(*file, data)
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

func oneLiner(proto string, args []string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("penstock "+proto, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address to listen on, host:port")
	var to, allow, deny listFlag
	fs.Var(&to, "to", "upstream host:port, several separated by commas (round robin with failover)")
	fs.Var(&allow, "allow", "admit only these source CIDRs (repeatable, comma-separated)")
	fs.Var(&deny, "deny", "refuse these source CIDRs (repeatable, comma-separated)")
	loops := fs.Int("loops", 0, "event loops (0: one per CPU)")
	idle := fs.Duration("idle", 0, "close connections idle for this long (tcp; 0: never)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	hashTag := fs.String("hash-tag", "", "redis: hash only the part of a key between these two characters, e.g. {}")
	accessLog := fs.String("access-log", "", "http: a line per request to stdout, stderr or this file (SIGUSR1 reopens it)")
	readTimeout := fs.Duration("read-timeout", 0, "http: bound every wait for upstream bytes, head and body (0: 60s)")
	bodyTimeout := fs.Duration("client-body-timeout", 0, "http: bound every wait for request body bytes (0: 60s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *listen == "" || len(to) == 0 {
		return nil, fmt.Errorf("%s: --listen and --to are required", proto)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", proto, fs.Arg(0))
	}
	// The one-liner is a config like any other, so it gets the same checks.
	scheme := proto
	if proto == "redis" || proto == "http" {
		scheme = "tcp"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "log: {level: %q}\nloops: %d\nlisteners:\n  - name: %s\n    listen: %q\n    upstream: up\n",
		*level, *loops, proto, scheme+"://"+*listen)
	if proto == "http" {
		fmt.Fprintf(&b, "    protocol: http\n")
		if *readTimeout > 0 {
			fmt.Fprintf(&b, "    read_timeout: %s\n", readTimeout)
		}
		if *bodyTimeout > 0 {
			fmt.Fprintf(&b, "    client_body_timeout: %s\n", bodyTimeout)
		}
	}
	if *accessLog != "" {
		fmt.Fprintf(&b, "    access_log: %q\n", *accessLog)
	}
	if proto == "redis" {
		fmt.Fprintf(&b, "    protocol: redis\n")
		if *hashTag != "" {
			fmt.Fprintf(&b, "    hash_tag: %q\n", *hashTag)
		}
	}
	if *idle > 0 && (proto == "tcp" || proto == "http") {
		fmt.Fprintf(&b, "    idle_timeout: %s\n", idle)
	}
	fmt.Fprintf(&b, "    filters: {allow: %s, deny: %s}\n", yamlList(allow), yamlList(deny))
	fmt.Fprintf(&b, "upstreams:\n  up:\n    endpoints: %s\n", yamlList(to))
	return ParseConfig("penstock "+proto, []byte(b.String()))
}

func yamlList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cmpOr(c.Level, "info")))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func serve(cfg *Config, demo bool, stdout, stderr io.Writer) int {
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("PENSTOCK_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for per-connection sizes
	}
	if path := os.Getenv("PENSTOCK_CPUPROFILE"); path != "" {
		// For profiling the daemon under a benchmark; written at exit.
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() {
					pprof.StopCPUProfile()
					f.Close()
				}()
			}
		}
	}
	logs := newAccessLogs(cfg.Log.Format, stdout, stderr)
	defer logs.Close() // after the transport has stopped: the last lines too
	listeners, err := build(cfg, log, logs)
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	// Signals are caught before the listeners open, so a SIGTERM that
	// arrives during start-up still drains.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// SIGUSR1 reopens the access log files (after logrotate has moved them).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case <-usr1:
				if err := logs.Reopen(); err != nil {
					log.Error("SIGUSR1: reopening access logs", "err", err)
				} else {
					log.Info("SIGUSR1: access logs reopened")
				}
			case <-quit:
				return
			}
		}
	}()

	tr, err := transport.Start(transport.Options{Loops: cfg.Loops, Logger: log}, listeners...)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	for i, a := range tr.Addrs() {
		log.Info("listening", "listener", cfg.Listeners[i].Name, "addr", a)
	}
	if demo {
		fmt.Fprint(stdout, demoHelp)
	}
	defer logStats(log, tr)
	select {
	case sig := <-sigs:
		writeHeapProfile(log)
		if sig == syscall.SIGINT {
			log.Info("SIGINT: stopping now", "open", tr.Active())
			tr.Stop()
			return 0
		}
		log.Info("SIGTERM: draining", "open", tr.Active(), "timeout", cfg.DrainTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		defer cancel()
		go func() {
			// A second signal during the drain stops at once.
			select {
			case <-sigs:
				tr.Stop()
			case <-ctx.Done():
			}
		}()
		start := time.Now()
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("drain deadline reached; closed the rest", "err", err)
		} else {
			log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
		}
		return 0
	case <-tr.Done():
		log.Error("transport stopped unexpectedly")
		return 1
	}
}

// writeHeapProfile writes the live heap to $PENSTOCK_HEAPPROFILE when it is
// set: for measuring what the open connections hold under a benchmark, it
// runs as a stop signal arrives, before any connection is closed.
func writeHeapProfile(log *slog.Logger) {
	path := os.Getenv("PENSTOCK_HEAPPROFILE")
	if path == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(path)
	if err == nil {
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Warn("heap profile not written", "path", path, "err", err)
	}
}

// logStats logs each listener's admission counters: what was accepted and
// what the filters refused, by reason.
func logStats(log *slog.Logger, tr *transport.Transport) {
	for name, st := range tr.ListenerStats() {
		attrs := []any{"listener", name, "admitted", st.Admitted}
		for reason, n := range st.Rejected {
			attrs = append(attrs, "refused_"+reason, n)
		}
		log.Info("listener totals", attrs...)
	}
}

const demoHelp = `
penstock is running its demo config (penstock --help for more):
  echo services (the demo upstreams)  tcp 127.0.0.1:9000, udp 127.0.0.1:9053
  tcp relay  127.0.0.1:8000 -> 127.0.0.1:9001 (down), fails over to 127.0.0.1:9000
  udp relay  127.0.0.1:8053 -> 127.0.0.1:9053
  router     127.0.0.1:8443 -> by TLS SNI / SSH banner / default, all to the echo
  http proxy 127.0.0.1:8080 -> the demo HTTP service on 127.0.0.1:9080 (/echo echoes bodies)

Try:
  echo hello | nc -N 127.0.0.1 8000
  echo hello | nc -u -w1 127.0.0.1 8053
  printf 'SSH-2.0-demo\r\n' | nc -N 127.0.0.1 8443
  curl -i http://127.0.0.1:8080/hello
  curl --data-binary 'ping' http://127.0.0.1:8080/echo
Stop with Ctrl-C (at once) or SIGTERM (drains).
`
