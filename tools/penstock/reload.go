package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/penstock-proxy/penstock/internal/spec"
	"github.com/penstock-proxy/penstock/transport"
)

// live is what a running daemon reloads: the config file, its pipelines
// by name, and the transports their listeners run on. Every pipeline, the
// daemon's first or one a reload adds, has a transport of its own (a gnet
// engine takes no listener once it runs, and closes none): when a reload
// removes the pipeline, its transport stops, drained, and its ports close.
type live struct {
	file    string // "" when the daemon runs no file (the demo, a one-liner)
	log     *slog.Logger
	level   *slog.LevelVar
	logs    *accessLogs
	reg     *registry
	tracing *tracing
	quit    <-chan struct{} // closes as the daemon stops: the TLS watchers' end

	mu    sync.Mutex
	plan  *spec.Plan
	pipes map[string]*livePipe
	trs   []*liveTransport

	reloads  [3]atomic.Uint64 // ok, invalid, failed
	upgrades atomic.Uint64    // hand-overs to a new process
	// failed gets the pipelines of a transport that stopped without
	// being retired: the daemon exits.
	failed chan string
}

type livePipe struct {
	p  *pipeline
	on *liveTransport
}

type liveTransport struct {
	tr    *transport.Transport
	names []string // the listeners' names, in the order of tr.Addrs
	// retired is set before a transport is stopped on purpose.
	retired atomic.Bool
}

// startTransport starts the listeners of pipeline p, ls, on a transport of
// their own with p's loops (the daemon's when p sets none) and socket
// buffer sizes, and watches it:
// a transport that stops without being retired is reported on l.failed
// (the daemon exits). share binds next to another process's sockets, for
// an upgrade. Safe from any goroutine.
func (l *live) startTransport(p *pipeline, ls []transport.Listener, daemonLoops int, share bool) (*liveTransport, error) {
	tr, err := transport.Start(transport.Options{Loops: cmp.Or(p.loops, daemonLoops), Logger: l.log, SharePorts: share,
		SocketSendBuffer: p.socket.SendBuffer, SocketRecvBuffer: p.socket.RecvBuffer}, ls...)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.shape.Name, err)
	}
	t := &liveTransport{tr: tr}
	for i := range tr.Addrs() {
		t.names = append(t.names, ls[i].Name)
	}
	go func() {
		<-tr.Done()
		if !t.retired.Load() {
			select {
			case l.failed <- p.shape.Name:
			default:
			}
		}
	}()
	return t, nil
}

// logListening says where t listens.
func (l *live) logListening(t *liveTransport, attrs ...any) {
	for i, a := range t.tr.Addrs() {
		l.log.Info("listening", append([]any{"listener", t.names[i], "addr", a, "loops", t.tr.Loops()}, attrs...)...)
	}
}

// Reload outcomes, for penstock_config_reloads_total.
const (
	reloadOK = iota
	reloadInvalid
	reloadFailed
)

var reloadOutcomes = [...]string{"ok", "invalid", "failed"}

// errNoFile says the daemon runs no config file it could read again.
var errNoFile = errors.New("no config file to read again (the demo or a one-liner): only the tls stages' certificates were read again")

// transports returns the running transports. Safe from any goroutine.
func (l *live) transports() []*transport.Transport {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*transport.Transport, 0, len(l.trs))
	for _, t := range l.trs {
		out = append(out, t.tr)
	}
	return out
}

// pipelines returns the pipelines served now. Safe from any goroutine.
func (l *live) pipelines() []*pipeline {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*pipeline, 0, len(l.pipes))
	for _, lp := range l.pipes {
		out = append(out, lp.p)
	}
	return out
}

// reload reads the config file again and applies it: every value of the
// pipelines that stay (routes, groups and endpoints, filters and limits,
// timeouts, certificates, access logs) is swapped in place, new pipelines
// start listening, removed ones stop accepting. Connections already open
// finish on the config they started with. A config that fails its check
// or cannot be applied whole (a certificate that does not load, a port in
// use) changes nothing: its problems are logged and returned. It is safe
// from any goroutine; reloads run one at a time.
func (l *live) reload(why string) (err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	outcome := reloadFailed
	defer func() {
		l.reloads[outcome].Add(1)
		if err != nil {
			l.log.Error("config reload refused; the running config stays", "trigger", why, "file", l.file, "outcome", reloadOutcomes[outcome], "err", err)
		}
	}()
	if len(l.trs) == 0 {
		return errors.New("the daemon is still starting")
	}
	if l.file == "" {
		for _, lp := range l.pipes {
			lp.p.reloadTLS(why)
		}
		outcome = reloadOK
		l.log.Info("reload", "trigger", why, "note", errNoFile.Error())
		return nil
	}
	data, err := os.ReadFile(l.file)
	if err != nil {
		return err
	}
	plan, err := ParseConfig(l.file, data)
	if err != nil {
		outcome = reloadInvalid
		if es := asErrors(err); es != nil {
			for _, e := range es {
				l.log.Error("config reload: invalid", "problem", e.Error())
			}
		}
		return err
	}
	// What a running pipeline cannot take in place.
	var errs spec.Errors
	for _, pl := range plan.Pipelines {
		lp := l.pipes[pl.Shape.Name]
		if lp == nil {
			continue
		}
		if !reflect.DeepEqual(lp.p.shape, pl.Shape) {
			errs = append(errs, plan.Errorf(pl.Path+".stages", "the stages of running pipeline %q changed kind or order: give the new one another name (the old one is then removed), or restart", pl.Shape.Name))
		}
		if !slices.Equal(lp.p.Values().Listen, pl.Values.Listen) {
			errs = append(errs, plan.Errorf(pl.Path+".listen", "running pipeline %q listens elsewhere now: give the new one another name (the old one is then removed), or restart", pl.Shape.Name))
		}
	}
	if len(errs) > 0 {
		outcome = reloadInvalid
		return errs
	}
	// Build everything before anything changes.
	type swap struct {
		p     *pipeline
		s     *snapshot
		drain func()
		v     spec.Values
	}
	var swaps []swap
	var added []*pipeline
	var listeners [][]transport.Listener
	for _, pl := range plan.Pipelines {
		if lp := l.pipes[pl.Shape.Name]; lp != nil {
			if pl.Values.Loops != lp.p.loops {
				l.log.Warn("config reload: a pipeline's loops take effect at the next start", "pipeline", pl.Shape.Name)
			}
			if pl.Values.Socket != lp.p.socket {
				l.log.Warn("config reload: a pipeline's socket buffer sizes take effect at the next start", "pipeline", pl.Shape.Name)
			}
			s, drain, err := lp.p.snapshot(plan, pl.Values)
			if err != nil {
				return err
			}
			swaps = append(swaps, swap{lp.p, s, drain, pl.Values})
			continue
		}
		p, err := newPipeline(plan, pl, l.log, l.logs, l.reg, l.tracing)
		if err != nil {
			return err
		}
		added = append(added, p)
		listeners = append(listeners, p.listeners(pl))
	}
	var started []*liveTransport
	for i, p := range added {
		t, err := l.startTransport(p, listeners[i], l.plan.Daemon.Loops, false)
		if err != nil {
			for _, t := range started {
				t.retired.Store(true)
				t.tr.Stop()
			}
			return fmt.Errorf("new listeners: %w", err)
		}
		started = append(started, t)
	}
	for _, t := range started {
		l.logListening(t, "trigger", why)
	}
	l.trs = append(l.trs, started...)
	// Apply.
	for _, sw := range swaps {
		sw.p.install(sw.s, sw.drain, sw.v)
	}
	for i, p := range added {
		l.pipes[p.shape.Name] = &livePipe{p: p, on: started[i]}
		go p.watchTLS(l.quit)
	}
	var removed []string
	for name, lp := range l.pipes {
		if slices.ContainsFunc(plan.Pipelines, func(pl *spec.Pipeline) bool { return pl.Shape.Name == name }) {
			continue
		}
		removed = append(removed, name)
		delete(l.pipes, name)
		l.retire(lp)
	}
	if lvl, err := parseLevel(plan.Daemon.LogLevel); err == nil {
		l.level.Set(lvl)
	}
	for _, what := range restartOnly(l.plan.Daemon, plan.Daemon) {
		l.log.Warn("config reload: this setting takes effect at the next start", "key", what)
	}
	l.plan = plan
	outcome = reloadOK
	l.log.Info("config reloaded", "trigger", why, "file", l.file, "swapped", len(swaps), "added", len(added), "removed", len(removed))
	return nil
}

// denyAll refuses every source before a byte is read.
var denyAll = func() transport.FilterRules {
	deny, _ := transport.ParsePrefixes([]string{"0.0.0.0/0", "::/0"})
	return transport.FilterRules{Deny: deny}
}()

// retire stops a removed pipeline's listeners from taking connections:
// they refuse every connection at accept, before reading a byte, while its
// transport drains its open connections (within drain_timeout); then the
// transport stops and the ports close. l.mu is held.
func (l *live) retire(lp *livePipe) {
	for _, f := range lp.p.filters {
		f.SetRules(denyAll)
	}
	close(lp.p.retired)
	lp.p.log.Info("pipeline removed by reload: refusing new connections")
	t := lp.on
	if t == nil {
		return
	}
	l.trs = slices.DeleteFunc(l.trs, func(o *liveTransport) bool { return o == t })
	t.retired.Store(true)
	timeout := l.plan.Daemon.DrainTimeout
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := t.tr.Shutdown(ctx); err != nil {
			l.log.Warn("removed listeners: drain deadline reached; closed the rest", "err", err)
		}
	}()
}

// restartOnly names the daemon settings that differ between a and b and
// only a start applies.
func restartOnly(a, b spec.Daemon) []string {
	var out []string
	if a.Loops != b.Loops {
		out = append(out, "loops")
	}
	if a.Admin != b.Admin || a.AdminPprof != b.AdminPprof {
		out = append(out, "admin")
	}
	if a.PidFile != b.PidFile {
		out = append(out, "pid_file")
	}
	if a.Syslog != b.Syslog || a.SyslogFacility != b.SyslogFacility || a.LogFormat != b.LogFormat {
		out = append(out, "log")
	}
	if a.DrainTimeout != b.DrainTimeout {
		out = append(out, "drain_timeout")
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var lvl slog.Level
	if s == "" {
		s = "info"
	}
	err := lvl.UnmarshalText([]byte(s))
	return lvl, err
}

// reloadCmd is `penstock reload`: it checks the config file as run would
// and, when it is valid, sends SIGHUP to the daemon whose PID is in the
// file's pid_file (or --pid), which reads the file again and logs the
// outcome (penstock_config_reloads_total counts it).
func reloadCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("penstock reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "the config file the daemon runs")
	pid := fs.Int("pid", 0, "the daemon's process ID (default: the one in the file's pid_file)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage of penstock reload:\n  penstock reload -c FILE [--pid PID]\n\n"+
			"Checks FILE as run would; when it is valid, sends SIGHUP to the daemon, which reads it again:\n"+
			"every value is swapped in place, new pipelines start listening, removed ones stop accepting.\n"+
			"An invalid file is reported here and the daemon is not signalled.\n\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nExample:\n  penstock reload -c /etc/penstock/penstock.yaml\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "penstock: reload: -c FILE is required")
		return 2
	}
	n, err := signalReload(*file, *pid)
	if err != nil {
		if es := asErrors(err); es != nil {
			fmt.Fprintln(stderr, es.Error())
			fmt.Fprintln(stderr, "penstock: reload: the daemon was not signalled")
			return 2
		}
		fmt.Fprintf(stderr, "penstock: reload: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "config ok; sent SIGHUP to PID %d (its log says how the reload went)\n", n)
	return 0
}

// signalReload checks file and sends SIGHUP to the daemon at pid (0: the
// one in the file's pid_file).
func signalReload(file string, pid int) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	plan, err := ParseConfig(file, data)
	if err != nil {
		return 0, err
	}
	if pid == 0 {
		if plan.Daemon.PidFile == "" {
			return 0, errors.New("the config sets no pid_file: give the daemon's PID with --pid")
		}
		b, err := os.ReadFile(plan.Daemon.PidFile)
		if err != nil {
			return 0, fmt.Errorf("pid_file: %w", err)
		}
		if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || pid <= 0 {
			return 0, fmt.Errorf("pid_file %s: no PID in it", plan.Daemon.PidFile)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return pid, fmt.Errorf("signalling PID %d: %w", pid, err)
	}
	return pid, nil
}
