# Shared by the benchmark scripts (run.sh, http.sh): logging, the processes
# a run starts (each pinned with taskset, stopped by PID and only those), and
# the quiet-machine check. Sourced, not run: the caller sets BENCH_NAME (the
# log prefix), TMP_PREFIX (its temp dir under /tmp), KEEP_TMP, QUIET_PCT and
# QUIET_WAIT first. Sourcing installs the EXIT trap that stops what was
# started.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

# ---- process bookkeeping: only what we start, stopped by PID ---------------

STARTED=()
TMP=$(mktemp -d "/tmp/$TMP_PREFIX.XXXXXX")

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid did not stop on SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${STARTED[@]}"; do
		stop_pid "$pid"
	done
	if [[ $KEEP_TMP == 1 || $rc != 0 ]]; then
		log "logs and rendered configs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPU CMD...: starts CMD in the background pinned to CPU; sets
# LAST_PID. taskset (and env) exec the command, so the PID is the process's.
start() {
	local name=$1 cpu=$2
	shift 2
	taskset -c "$cpu" "$@" >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	STARTED+=("$LAST_PID")
}

forget() { # remove a stopped PID from STARTED
	local pid=$1 p keep=()
	for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	STARTED=("${keep[@]}")
}

wait_listen() { # wait_listen PORT PID: until a TCP listener on PORT exists
	local port=$1 pid=$2 i
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
		sleep 0.05
	done
	return 1
}

# busy_pct SECONDS: percentage of all CPUs' time spent busy over SECONDS.
busy_pct() {
	local a b
	a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)
	sleep "$1"
	b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		busy = y[1] - x[1]; tot = busy + y[2] - x[2];
		printf "%d", (tot > 0 ? 100 * busy / tot : 0) }'
}

# wait_quiet: before each test (nothing of ours busy), make sure other
# processes are not using the CPUs: the machine is shared and a parallel build
# or fuzzer ruins the numbers. Waits up to QUIET_WAIT seconds for the busy
# share to drop under QUIET_PCT; sets BUSY to the last reading.
wait_quiet() {
	local start=$SECONDS
	BUSY=$(busy_pct 0.5)
	while ((BUSY > QUIET_PCT && SECONDS - start < QUIET_WAIT)); do
		((SECONDS - start < 2)) && log "machine busy (${BUSY}% CPU used by other processes): waiting up to ${QUIET_WAIT}s for it to go quiet"
		sleep 2
		BUSY=$(busy_pct 1)
	done
	if ((BUSY > QUIET_PCT)); then
		log "still busy (${BUSY}%) after $((SECONDS - start))s, running anyway"
	elif ((SECONDS - start >= 2)); then
		log "quiet after $((SECONDS - start))s"
	fi
}
