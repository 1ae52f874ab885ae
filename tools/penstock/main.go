// Command penstock runs Penstock's pipelines from a config file (the
// schema of internal/spec, the one pipegen generates code from) or a
// one-line command.
//
//	penstock                      run the embedded demo config
//	penstock run -c FILE          run a config file, or any pipeline spec
//	penstock check -c FILE        check it as run would, without binding
//	penstock tcp|udp|redis|http --listen ADDR --to ADDR[,ADDR...] [flags]
//	penstock reload -c FILE       check FILE, then SIGHUP the daemon in its pid_file
//	penstock version              print the version, commit and Go version
//
// SIGTERM drains (stop accepting, let connections finish until the drain
// timeout); SIGINT stops at once; SIGHUP reloads the config file
// (reload.go); SIGUSR2 upgrades to the binary at the daemon's path
// (upgrade.go); SIGUSR1 reopens the access logs.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/penstock-proxy/penstock/internal/spec"
)

//go:embed default.yaml
var defaultConfig []byte

// demoDir is the directory of the demo's certificates, when it runs.
var demoDir string

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
	var plan *spec.Plan
	var err error
	demo := false
	switch cmd {
	case "":
		demo = true
		dir, derr := demoTLS()
		if derr != nil {
			fmt.Fprintf(stderr, "penstock: the demo's certificates: %v\n", derr)
			return 1
		}
		defer os.RemoveAll(dir)
		demoDir = dir
		plan, err = ParseConfig("(embedded default config)", withDemoTLS(defaultConfig, dir))
	case "run", "check":
		plan, err = loadFlagConfig(cmd, args, stderr)
		if err == nil && cmd == "check" {
			fmt.Fprintf(stdout, "config ok: %s, %s\n", count(len(plan.Pipelines), "pipeline"), count(len(plan.Groups), "upstream group"))
			return 0
		}
	case "tcp", "udp", "redis", "http":
		plan, err = oneLiner(modes[cmd], args, stderr)
	case "ech-keygen":
		return echKeygen(args, stdout, stderr)
	case "reload":
		return reloadCmd(args, stdout, stderr)
	case "version", "-version", "--version":
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, "Usage of penstock version:\n  penstock version\n\nPrints the version, the commit it was built from and the Go version.\n\nExample:\n  penstock version\n")
			return 0
		}
		fmt.Fprintln(stdout, version())
		return 0
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "penstock: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // the command has printed its help
		}
		if es := asErrors(err); es != nil {
			fmt.Fprintln(stderr, es.Error())
		} else {
			fmt.Fprintf(stderr, "penstock: %v\n", err)
		}
		return 2
	}
	file := ""
	if cmd == "run" {
		file = plan.File // SIGHUP and penstock reload read it again
	}
	return serve(plan, file, demo, stdout, stderr)
}

// count writes n things, in the plural unless n is 1.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  penstock                      run the embedded demo config
  penstock run -c FILE          run a config file (several pipelines, or a pipeline spec)
  penstock check -c FILE        check a config file as run would, without binding
  penstock tcp|udp|redis|http --listen ADDR --to ADDR[,ADDR...] [flags]
                                relay or proxy one address (penstock MODE --help)
  penstock ech-keygen --public-name NAME [--out PREFIX]
                                make an Encrypted Client Hello key for a tls stage
  penstock reload -c FILE [--pid PID]
                                check FILE, then have the daemon running it read it again (SIGHUP)
  penstock version              print the version, commit and Go version
`)
}

// version says which penstock this is, from the build information Go
// records in the binary.
func version() string {
	v, commit, modified, goVersion := versionParts()
	return fmt.Sprintf("penstock %s (commit %s%s) %s %s/%s", v, commit, modified, goVersion, runtime.GOOS, runtime.GOARCH)
}

// versionParts reads the version, commit, ", modified" (or "") and Go
// version from the build information.
func versionParts() (v, commit, modified, goVersion string) {
	v, commit, modified, goVersion = "(devel)", "unknown", "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
	}
	return v, commit, modified, goVersion
}

func loadFlagConfig(cmd string, args []string, stderr io.Writer) (*spec.Plan, error) {
	fs := flag.NewFlagSet("penstock "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file (YAML or JSON): several pipelines, or one pipeline spec")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of penstock %s:\n  penstock %s -c FILE\n\n", cmd, cmd)
		if cmd == "check" {
			fmt.Fprint(stderr, "Checks FILE as run would, without binding a port: every problem, each with its line and key path.\n\n")
		} else {
			fmt.Fprint(stderr, "Runs the pipelines of FILE until SIGTERM (drain) or SIGINT.\n\n")
		}
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExample:\n  penstock %s -c pipelines/tcprelay/tcp_relay.yaml\n", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *file == "" {
		return nil, errors.New(cmd + ": -c FILE is required")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return nil, err
	}
	return ParseConfig(*file, data)
}

// newLogger returns the daemon's logger. Addresses are written as
// host:port and durations as a person reads them (1.5s), in JSON as in
// text, rather than as objects and nanoseconds.
func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cmp.Or(level, "info")))
	return newLevelLogger(lvl, format, w)
}

// newLevelLogger is newLogger with a Leveler (a *slog.LevelVar that a
// reload sets, say).
func newLevelLogger(lvl slog.Leveler, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: readable}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func readable(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		a.Value = slog.StringValue(a.Value.Duration().String())
	case slog.KindAny:
		if addr, ok := a.Value.Any().(net.Addr); ok {
			s := "<nil>"
			if v := reflect.ValueOf(addr); v.Kind() != reflect.Pointer || !v.IsNil() {
				s = addr.String()
			}
			a.Value = slog.StringValue(s)
		}
	}
	return a
}

// serve runs plan until a stop signal. file is the config file that a
// reload reads again ("" for the demo and the one-liners, whose reload
// reads only their certificates again).
func serve(plan *spec.Plan, file string, demo bool, stdout, stderr io.Writer) int {
	level := new(slog.LevelVar)
	if lvl, err := parseLevel(plan.Daemon.LogLevel); err == nil {
		level.Set(lvl)
	}
	log := newLevelLogger(level, plan.Daemon.LogFormat, stderr)
	var sink *syslogSink
	if plan.Daemon.Syslog != "" {
		var err error
		if sink, err = newSyslogSink(plan.Daemon.Syslog, plan.Daemon.SyslogFacility); err != nil {
			log.Error("start failed", "err", fmt.Errorf("log.syslog: %w", err))
			return 1
		}
		defer sink.Close()
		log = slog.New(newSyslogHandler(sink, level, plan.Daemon.LogFormat == "json"))
	}
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
	logs := newAccessLogs(plan.Daemon.LogFormat, stdout, stderr)
	logs.syslog = sink
	defer logs.Close() // after the transport has stopped: the last lines too
	var reg *registry
	if plan.Daemon.Admin != "" {
		reg = newRegistry()
	}
	var tracer *tracing
	if plan.Daemon.TracingOTLP != "" {
		var err error
		if tracer, err = newTracing(plan.Daemon); err != nil {
			log.Error("start failed", "err", fmt.Errorf("tracing: %w", err))
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tracer.Shutdown(ctx) // the last spans go out
		}()
	}
	d, err := build(plan, log, logs, reg, tracer)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	quit := make(chan struct{})
	defer close(quit)
	lv := &live{file: file, log: log, level: level, logs: logs, reg: reg, tracing: tracer, quit: quit, plan: plan, pipes: map[string]*livePipe{}, failed: make(chan string, 1)}
	var adm *admin
	if reg != nil {
		reg.live.Store(lv)
		if adm, err = startAdmin(plan.Daemon.Admin, plan.Daemon.AdminPprof, reg, log); err != nil {
			log.Error("start failed", "err", err)
			return 1
		}
		defer adm.close()
		log.Info("admin listening", "addr", adm.addr)
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
	// SIGUSR2 upgrades to the binary at the daemon's path (upgrade.go).
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	// SIGHUP reloads the config file (reload.go); a change to a tls
	// stage's certificate files, checked every watch interval, reloads
	// those.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for _, p := range d.pipelines {
		go p.watchTLS(quit)
	}
	go func() {
		for {
			select {
			case <-hup:
				_ = lv.reload("SIGHUP")
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

	if err := takeUpgradeState(d, lv); err != nil {
		log.Warn("upgrade: TLS sessions of the old process will not resume", "err", err)
	}
	// Each pipeline runs on a transport of its own, so that a reload that
	// removes it can close its listeners once its connections are done
	// (a gnet engine closes no listener while it runs). A process an
	// upgrade started binds next to the old one's sockets.
	var trs []*liveTransport
	addrs, loops := 0, 0
	for i, p := range d.pipelines {
		t, err := lv.startTransport(p, d.byPipeline[i], plan.Daemon.Loops, upgrading())
		if err != nil {
			log.Error("start failed", "err", err)
			for _, t := range trs {
				t.retired.Store(true)
				t.tr.Stop()
			}
			return 1
		}
		trs = append(trs, t)
		addrs += len(t.tr.Addrs())
		loops = t.tr.Loops()
	}
	// Said once every listener is bound, as readiness is.
	for _, t := range trs {
		lv.logListening(t)
	}
	lv.mu.Lock()
	lv.trs = trs
	for i, p := range d.pipelines {
		lv.pipes[p.shape.Name] = &livePipe{p: p, on: trs[i]}
	}
	lv.mu.Unlock()
	if path := plan.Daemon.PidFile; path != "" {
		if err := writePidFile(path); err != nil {
			log.Error("pid file not written", "path", path, "err", err)
		} else {
			defer removePidFile(path)
		}
	}
	adm.setReady(true)
	// systemd learns the new main PID before an upgrade's old process,
	// told next, starts to hand over and exit.
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()) + "\nSTATUS=listening on " + strconv.Itoa(addrs) + " addresses")
	sayReady(loops)
	if demo {
		fmt.Fprint(stdout, strings.ReplaceAll(demoHelp, demoTLSPlaceholder, demoDir))
	}
	defer func() { logStats(log, lv) }()
	// drain stops accepting and lets the open connections finish, within
	// drain_timeout (a signal meanwhile stops at once).
	drain := func(why string, handOver int) int {
		adm.setReady(false) // draining: a load balancer takes this instance out
		writeHeapProfile(log)
		trs := lv.transports()
		open := int64(0)
		for _, t := range trs {
			open += t.Active()
		}
		log.Info(why+": draining", "open", open, "timeout", plan.Daemon.DrainTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), plan.Daemon.DrainTimeout)
		defer cancel()
		go func() {
			select {
			case <-sigs:
				for _, t := range trs {
					t.Stop()
				}
			case <-ctx.Done():
			}
		}()
		start := time.Now()
		errs := make(chan error, len(trs))
		for _, t := range trs {
			go func() {
				if handOver > 0 {
					errs <- t.HandOver(ctx, handOver)
				} else {
					errs <- t.Shutdown(ctx)
				}
			}()
		}
		var derr error
		for range trs {
			if err := <-errs; err != nil && derr == nil {
				derr = err
			}
		}
		if derr != nil {
			log.Warn("drain deadline reached; closed the rest", "err", derr)
		} else {
			log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
		}
		return 0
	}
	type upgraded struct {
		pid, loops int
		err        error
	}
	upgradeDone := make(chan upgraded, 1)
	inUpgrade := false
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGINT {
				adm.setReady(false)
				sdNotify("STOPPING=1")
				trs := lv.transports()
				open := int64(0)
				for _, t := range trs {
					open += t.Active()
				}
				log.Info("SIGINT: stopping now", "open", open)
				for _, t := range trs {
					t.Stop()
				}
				return 0
			}
			sdNotify("STOPPING=1")
			return drain("SIGTERM", 0)
		case <-usr2:
			if inUpgrade {
				log.Warn("SIGUSR2: an upgrade is already under way")
				continue
			}
			inUpgrade = true
			log.Info("SIGUSR2: upgrading: starting the binary at the daemon's path")
			go func() {
				pid, loops, err := lv.startUpgrade()
				upgradeDone <- upgraded{pid, loops, err}
			}()
		case u := <-upgradeDone:
			inUpgrade = false
			if u.err != nil {
				log.Error("upgrade failed; this process keeps serving", "err", u.err)
				continue
			}
			log.Info("upgrade: the new process serves; this one hands its listeners over, drains and exits", "new_pid", u.pid,
				"tcp_migrate_req", !migrateOff())
			return drain("upgrade", u.loops)
		case name := <-lv.failed:
			log.Error("transport stopped unexpectedly", "pipelines", name)
			return 1
		}
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
func logStats(log *slog.Logger, lv *live) {
	for _, tr := range lv.transports() {
		for name, st := range tr.ListenerStats() {
			attrs := []any{"listener", name, "admitted", st.Admitted}
			for reason, n := range st.Rejected {
				attrs = append(attrs, "refused_"+reason, n)
			}
			log.Info("listener totals", attrs...)
		}
	}
	for _, p := range lv.pipelines() {
		if p.tls == nil {
			continue
		}
		attrs := []any{"pipeline", p.shape.Name}
		for outcome, n := range p.tls.Stats().Outcomes {
			attrs = append(attrs, outcome, n)
		}
		log.Info("TLS totals", attrs...)
	}
}

const demoHelp = `
penstock is running its demo config (penstock --help for more):
  echo services (the demo upstreams)  tcp 127.0.0.1:9000, udp 127.0.0.1:9053
  tcp relay  127.0.0.1:8000 -> 127.0.0.1:9001 (down), fails over to 127.0.0.1:9000
  udp relay  127.0.0.1:8053 -> 127.0.0.1:9053
  router     127.0.0.1:8443 -> by TLS SNI / SSH banner / default, all to the echo
  http proxy 127.0.0.1:8080 -> the demo HTTP service on 127.0.0.1:9080 (/echo echoes bodies);
             HTTP/1.1, and HTTP/2 to a client that starts with it (h2c prior knowledge)
  https      127.0.0.1:8444 -> the same, over TLS 1.3 (X25519MLKEM768 with clients that offer it;
             h2 or http/1.1 by ALPN);
             its certificate (localhost, 127.0.0.1) and CA were made at start-up in $DEMO_TLS
  admin      127.0.0.1:9901 -> /metrics (Prometheus), /healthz, /readyz

Try: (nc is netcat-openbsd; both tools: apt-get install netcat-openbsd curl)
  echo hello | nc -N 127.0.0.1 8000
  echo hello | nc -u -w1 127.0.0.1 8053
  printf 'SSH-2.0-demo\r\n' | nc -N 127.0.0.1 8443
  curl -i http://127.0.0.1:8080/hello
  curl --data-binary 'ping' http://127.0.0.1:8080/echo
  curl --http2-prior-knowledge http://127.0.0.1:8080/hello
  curl --cacert $DEMO_TLS/ca.crt https://localhost:8444/hello
  curl -s http://127.0.0.1:9901/metrics | grep penstock_http_requests_total
Stop with Ctrl-C (at once) or SIGTERM (drains).
`
