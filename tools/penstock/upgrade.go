package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The binary upgrade (SIGUSR2), nginx's interface on a SO_REUSEPORT
// hand-over:
//
//  1. The running process starts the binary now at its path
//     (os.Executable: the file the process was started from, replaced or
//     not) with its own arguments and environment, plus PENSTOCK_UPGRADE=1
//     and two pipes: one it writes its state into (the tls stages'
//     session ticket keys, so that resumption keeps working), one the new
//     process writes "ready" into.
//  2. The new process binds every listener next to the old one's (the
//     transport's SharePorts: both sets of sockets are in one
//     SO_REUSEPORT group, so the kernel spreads new connections over
//     both, and neither refuses any), rewrites pid_file, tells systemd its
//     PID (MAINPID=, READY=1), and says ready.
//  3. The old process then drains as on SIGTERM: its sockets leave the
//     group (new connections go to the new process only), its open
//     connections finish within drain_timeout, and it exits.
//
// Connections the kernel had queued on the old process's sockets when
// they close are handed to the new ones when net.ipv4.tcp_migrate_req is
// 1 (Linux 5.14 and later); with 0 they are reset, which the daemon warns
// about when it upgrades. The new process failing to start or to become
// ready within upgradeReadyTimeout leaves the old one serving.

// upgradeReadyTimeout bounds the wait for the new process.
const upgradeReadyTimeout = 60 * time.Second

// Environment variables of the hand-over.
const (
	envUpgrade    = "PENSTOCK_UPGRADE"
	envReadyFD    = "PENSTOCK_UPGRADE_READY_FD"
	envStateFD    = "PENSTOCK_UPGRADE_STATE_FD"
	migrateSysctl = "/proc/sys/net/ipv4/tcp_migrate_req"
)

// upgradeState is what the old process hands the new one.
type upgradeState struct {
	// Tickets are each tls stage's session ticket keys, hex, the sealing
	// one first, by pipeline name.
	Tickets map[string][]string `json:"tickets"`
	// Upgrades counts the hand-overs before this one.
	Upgrades uint64 `json:"upgrades"`
}

// upgrading reports whether this process was started by an upgrade.
func upgrading() bool { return os.Getenv(envUpgrade) == "1" }

// startUpgrade starts the new process and waits until it is ready; it
// returns its PID and how many sockets per address it listens on. The
// old process keeps serving throughout; an error means it goes on
// serving.
func (l *live) startUpgrade() (pid, loops int, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("the daemon's binary: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer readyR.Close()
	stateR, stateW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return 0, 0, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(withoutUpgradeEnv(os.Environ()), envUpgrade+"=1", envReadyFD+"=3", envStateFD+"=4")
	cmd.ExtraFiles = []*os.File{readyW, stateR}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Start()
	readyW.Close()
	stateR.Close()
	if err != nil {
		stateW.Close()
		return 0, 0, fmt.Errorf("starting %s: %w", exe, err)
	}
	go func() { _ = cmd.Wait() }() // reaped if it dies while we run
	state, _ := json.Marshal(l.upgradeState())
	_, _ = stateW.Write(state)
	stateW.Close()

	type result struct {
		loops int
		err   error
	}
	ready := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(readyR).ReadString('\n')
		if word, n, _ := strings.Cut(strings.TrimSpace(line), " "); word == "ready" {
			loops, err := strconv.Atoi(n)
			if err == nil && loops > 0 {
				ready <- result{loops: loops}
				return
			}
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("it exited, or closed its ready pipe, before it was ready (its log says why)")
		}
		ready <- result{err: err}
	}()
	select {
	case r := <-ready:
		if r.err != nil {
			return 0, 0, fmt.Errorf("new process %d: %w", cmd.Process.Pid, r.err)
		}
		return cmd.Process.Pid, r.loops, nil
	case <-time.After(upgradeReadyTimeout):
		_ = cmd.Process.Kill()
		return 0, 0, fmt.Errorf("new process %d not ready within %v: killed", cmd.Process.Pid, upgradeReadyTimeout)
	}
}

func withoutUpgradeEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "PENSTOCK_UPGRADE") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (l *live) upgradeState() upgradeState {
	st := upgradeState{Tickets: map[string][]string{}, Upgrades: l.upgrades.Load()}
	for _, p := range l.pipelines() {
		if p.tls == nil {
			continue
		}
		for _, k := range p.tls.TicketKeys() {
			st.Tickets[p.shape.Name] = append(st.Tickets[p.shape.Name], hex.EncodeToString(k[:]))
		}
	}
	return st
}

// takeUpgradeState reads what the old process handed over and applies it
// to d's pipelines and to lv's count of upgrades (this one included). A
// process not started by an upgrade does nothing.
func takeUpgradeState(d *built, lv *live) error {
	fd, err := strconv.Atoi(os.Getenv(envStateFD))
	if !upgrading() || err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "upgrade-state")
	defer f.Close()
	var st upgradeState
	if err := json.NewDecoder(f).Decode(&st); err != nil {
		return fmt.Errorf("the old process's state: %w", err)
	}
	lv.upgrades.Store(st.Upgrades + 1)
	for _, p := range d.pipelines {
		if p.tls == nil {
			continue
		}
		var keys [][32]byte
		for _, h := range st.Tickets[p.shape.Name] {
			var k [32]byte
			if b, err := hex.DecodeString(h); err == nil && len(b) == 32 {
				copy(k[:], b)
				keys = append(keys, k)
			}
		}
		p.tls.SetTicketKeys(keys)
	}
	return nil
}

// sayReady tells the old process that this one serves, on loops sockets
// per address. A process not started by an upgrade does nothing.
func sayReady(loops int) {
	fd, err := strconv.Atoi(os.Getenv(envReadyFD))
	if !upgrading() || err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "upgrade-ready")
	_, _ = fmt.Fprintf(f, "ready %d\n", loops)
	_ = f.Close()
	// Children this process starts in its own upgrade get fresh pipes.
	for _, k := range []string{envUpgrade, envReadyFD, envStateFD} {
		_ = os.Unsetenv(k)
	}
}

// migrateOff reports whether the kernel would reset the connections
// queued on a closing listener rather than hand them to the new process.
func migrateOff() bool {
	b, err := os.ReadFile(migrateSysctl)
	return err == nil && strings.TrimSpace(string(b)) == "0"
}
