#!/usr/bin/env bash
# Side-by-side benchmark of HTTP/1.1 reverse proxies: penstock (`penstock
# http`), nginx 1.22, HAProxy 2.6 (http mode) and a Go net/http/httputil
# ReverseProxy, in front of one shared nginx "hello world" backend,
# interleaved in one run, on loopback. See benchmarks/README.md (HTTP section)
# and the configs in benchmarks/http/.
#
#   bash benchmarks/http.sh             # 3 rounds, 8 s wrk runs: about 6 minutes
#   QUICK=1 bash benchmarks/http.sh     # 1 round, 3 s wrk runs: about 1 minute
#
# Measures (each on a freshly started proxy):
#   keepalive  wrk -t2 -c64 --latency: requests/s, p99 latency; client and
#              upstream connections kept alive
#   close      the same with -H "Connection: close": one new client
#              connection per request (the upstream ones stay pooled)
#   idle_mem   IDLE_CONNS client connections, one request each, then idle:
#              proxy RSS after - before (all its processes) / connections
# plus, for the wrk runs, proxy CPU per request and the upstream connections
# the proxy opened (the backend's stub_status "accepts").
#
# Environment overrides:
#   ROUNDS=3                 rounds (QUICK=1 sets 1)
#   CONTENDERS="penstock haproxy nginx goproxy"
#   MEASURES="keepalive close idle_mem"
#   PROXY_CPU=0 LOAD_CPU=1   CPUs for the proxy and for wrk + backend
#   WRK_DUR=8s WARMUP_DUR=1s WRK_THREADS=2 WRK_CONNS=64 IDLE_CONNS=3000
#   RESULTS_DIR=benchmarks/results (writes http-latest.md and http-raw-<time>.jsonl)
#   KEEP_TMP=1               keep logs, wrk output and rendered configs
#   QUIET_PCT=10 QUIET_WAIT=120 OTHER_PCT=10 RETRIES=2   as in run.sh
#   PENSTOCK_BIN=path        use this binary instead of building ./tools/penstock
#   PENSTOCK_ARGS="..."      extra flags after `penstock http --listen A --to B`
#                            (default: --loops 1 and --log-level warn, each
#                            only if `penstock http --help` lists it)
#
# It starts every process itself, in the foreground, pinned with taskset, and
# stops only those, by PID. Ports (127.0.0.1): 26001 backend, 26002 backend
# status, 26011 penstock, 26012 haproxy, 26013 nginx, 26014 goproxy.
set -euo pipefail

# One brace group: bash parses the whole script before running it, so editing
# this file during a run cannot break the run.
{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

# The settings given in the environment, for the record of the command line.
CMD_ENV=""
for v in QUICK ROUNDS CONTENDERS MEASURES PROXY_CPU LOAD_CPU WRK_DUR WARMUP_DUR WRK_THREADS WRK_CONNS IDLE_CONNS PENSTOCK_BIN PENSTOCK_ARGS; do
	[[ -n ${!v+set} ]] || continue
	if [[ ${!v} =~ ^[A-Za-z0-9_./:,=-]+$ ]]; then CMD_ENV+="$v=${!v} "; else CMD_ENV+="$v=${!v@Q} "; fi
done

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-1}
	WRK_DUR=${WRK_DUR:-3s}
else
	ROUNDS=${ROUNDS:-3}
	WRK_DUR=${WRK_DUR:-8s}
fi
WARMUP_DUR=${WARMUP_DUR:-1s}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-3000}
CONTENDERS=${CONTENDERS:-"penstock haproxy nginx goproxy"}
MEASURES=${MEASURES:-"keepalive close idle_mem"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_WAIT=${QUIET_WAIT:-120}
OTHER_PCT=${OTHER_PCT:-10}
RETRIES=${RETRIES:-2}
KEEP_TMP=${KEEP_TMP:-0}

UP_PORT=26001
STATUS_PORT=26002
UP_ADDR=127.0.0.1:$UP_PORT
STATUS_ADDR=127.0.0.1:$STATUS_PORT

APT_CMD="apt-get install -y wrk nginx haproxy"

BENCH_NAME=http.sh
TMP_PREFIX=penstock-http
# shellcheck source=benchmarks/lib.sh
source "$HERE/lib.sh"

# ---- checks ----------------------------------------------------------------

for tool in go taskset ss awk; do
	command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done
missing_pkgs=()
command -v wrk >/dev/null || missing_pkgs+=(wrk)
command -v nginx >/dev/null || missing_pkgs+=(nginx)
if ((${#missing_pkgs[@]})); then
	# wrk is the load and nginx the shared backend: nothing runs without them.
	log "missing: ${missing_pkgs[*]}. Install with (as root): $APT_CMD"
	exit 1
fi
NPROC=$(nproc)
if ((NPROC < 2)); then
	log "only $NPROC CPU: proxy and load share CPU 0; numbers are not comparable with 2-CPU runs"
	LOAD_CPU=$PROXY_CPU
fi

declare -A SKIP=()
if [[ " $CONTENDERS " == *" haproxy "* ]] && ! command -v haproxy >/dev/null; then
	SKIP[haproxy]="haproxy not installed ($APT_CMD)"
	log "skipping haproxy: not installed. Install with (as root): $APT_CMD"
fi

# Idle test: one fd per client connection in httpidle, one (plus pooled
# upstream ones) in the proxy.
ulimit -n "$(ulimit -Hn)" || true
if (($(ulimit -n) < IDLE_CONNS + 500)); then
	log "ulimit -n is $(ulimit -n): too low for IDLE_CONNS=$IDLE_CONNS"
	exit 1
fi

# ---- build -----------------------------------------------------------------

log "building tools into $TMP"
go build -o "$TMP/httpidle" ./benchmarks/cmd/httpidle
go build -o "$TMP/goproxy" ./benchmarks/cmd/goproxy
go build -o "$TMP/l4load" ./benchmarks/cmd/l4load # for `l4load othercpu`
HTTPIDLE=$TMP/httpidle
PENSTOCK=$TMP/penstock
PENSTOCK_SRC=""
PENSTOCK_FLAGS=()
if [[ -n ${PENSTOCK_BIN:-} ]]; then
	PENSTOCK=$PENSTOCK_BIN
	PENSTOCK_SRC="prebuilt binary $PENSTOCK_BIN"
	[[ -x $PENSTOCK ]] || SKIP[penstock]="PENSTOCK_BIN=$PENSTOCK_BIN is not executable"
elif [[ " $CONTENDERS " == *" penstock "* ]]; then
	if git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
		dirty=$(git -C "$ROOT" status --porcelain -- . ':(exclude)benchmarks' 2>/dev/null | wc -l)
		PENSTOCK_SRC="built $(date -u '+%H:%M UTC') from commit $(git -C "$ROOT" rev-parse --short HEAD)"
		((dirty == 0)) || PENSTOCK_SRC+=" plus $dirty uncommitted file(s) outside benchmarks/"
	fi
	if ! go build -o "$PENSTOCK" ./tools/penstock >"$TMP/penstock-build.log" 2>&1; then
		SKIP[penstock]="./tools/penstock does not build ($(head -c 300 "$TMP/penstock-build.log" | tr '\n\t' '  ' | sed 's/ *$//'))"
		log "skipping penstock: go build ./tools/penstock failed:"
		sed 's/^/    /' "$TMP/penstock-build.log" | head -20 >&2
	fi
fi
# Does this penstock have the `http` subcommand? (Older builds made
# `--help` exit 2 even when the subcommand exists: judge by what it prints.)
if [[ " $CONTENDERS " == *" penstock "* && -z ${SKIP[penstock]:-} ]]; then
	help_rc=0
	help_out=$(timeout 10 "$PENSTOCK" http --help 2>&1) || help_rc=$?
	if [[ $help_out == *"unknown command"* ]] || { ((help_rc != 0)) && [[ $help_out != *-listen* ]]; }; then
		SKIP[penstock]="\`penstock http --help\` failed (exit $help_rc): $(head -c 200 <<<"$help_out" | tr '\n\t' '  ' | sed 's/ *$//')"
		log "skipping penstock: this build has no \`penstock http\` subcommand (\`penstock http --help\` exited $help_rc: $(head -1 <<<"$help_out"))"
	elif [[ -n ${PENSTOCK_ARGS+set} ]]; then
		read -r -a PENSTOCK_FLAGS <<<"$PENSTOCK_ARGS"
	else
		PENSTOCK_FLAGS=()
		[[ $help_out == *-loops* ]] && PENSTOCK_FLAGS+=(--loops 1)
		[[ $help_out == *-log-level* ]] && PENSTOCK_FLAGS+=(--log-level warn)
	fi
fi

# ---- results files ---------------------------------------------------------

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS_DIR/http-raw-$STAMP.jsonl
: >"$RAW"

json_str() { # minimal JSON string escaping
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

CMDLINE="${CMD_ENV}bash benchmarks/http.sh"
printf '{"kind":"meta","date":%s,"command":%s,"rounds":%s}\n' \
	"$(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(json_str "$CMDLINE")" "$ROUNDS" >>"$RAW"

for c in $CONTENDERS; do
	if [[ -n ${SKIP[$c]:-} ]]; then
		printf '{"contender":"%s","skipped":%s}\n' "$c" "$(json_str "${SKIP[$c]}")" >>"$RAW"
	fi
done

# record ROUND MEASURE CONTENDER JSONLINE
record() {
	local line=$4
	printf '{"round":%s,"measure":"%s","contender":"%s","other_cpu_pct":%s,%s\n' "$1" "$2" "$3" "${OTHER:-0}" "${line#\{}" >>"$RAW"
	log "  $3 $2: $line"
}

record_fail() {
	printf '{"round":%s,"measure":"%s","contender":"%s","failed":%s}\n' "$1" "$2" "$3" "$(json_str "$4")" >>"$RAW"
	log "  $3 $2: FAILED: $4"
}

# ---- ports and the shared backend (load CPU) --------------------------------

busy_ports=""
for port in $UP_PORT $STATUS_PORT 26011 26012 26013 26014; do
	if [[ -n $(ss -Hlnt "sport = :$port" 2>/dev/null) ]]; then
		busy_ports+=" $port"
	fi
done
if [[ -n $busy_ports ]]; then
	log "ports already in use on this machine:$busy_ports (see: ss -lntp); stop that listener first"
	exit 1
fi

# render TEMPLATE OUT PORT PREFIX
render() {
	sed -e "s|@PORT@|$3|g" -e "s|@UPSTREAM_PORT@|$UP_PORT|g" -e "s|@STATUS_PORT@|$STATUS_PORT|g" \
		-e "s|@PREFIX@|$4|g" "$1" >"$2"
}

mkdir -p "$TMP/backend"
render "$HERE/http/nginx-upstream.conf" "$TMP/backend/nginx.conf" "$UP_PORT" "$TMP/backend"
start backend "$LOAD_CPU" nginx -g 'daemon off;' -c "$TMP/backend/nginx.conf" -p "$TMP/backend/" -e "$TMP/backend/error.log"
BACKEND_PID=$LAST_PID
if ! wait_listen $UP_PORT "$BACKEND_PID" || ! "$HTTPIDLE" wait -addr "$UP_ADDR" -t 5s 2>>"$TMP/backend.log"; then
	log "the nginx backend did not start: $(tail -c 500 "$TMP/backend.log") $(tail -c 500 "$TMP/backend/error.log" 2>/dev/null)"
	exit 1
fi

# ---- contenders ------------------------------------------------------------

port_of() {
	case $1 in
	penstock) echo 26011 ;;
	haproxy) echo 26012 ;;
	nginx) echo 26013 ;;
	goproxy) echo 26014 ;;
	*) return 1 ;;
	esac
}

# start_contender NAME MEASURE: sets MAIN_PID (to stop and to measure: for
# nginx the master, whose worker is counted with it) and ADDR. Returns 1 with
# START_ERR set on failure.
start_contender() {
	local c=$1 m=$2 port dir
	MAIN_PID=""
	port=$(port_of "$c")
	ADDR=127.0.0.1:$port
	dir=$TMP/run-$c
	mkdir -p "$dir"
	case $c in
	haproxy)
		render "$HERE/http/haproxy-http.cfg" "$dir/haproxy.cfg" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"
		;;
	nginx)
		render "$HERE/http/nginx-proxy.conf" "$dir/nginx.conf" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" nginx -g 'daemon off;' -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log"
		;;
	penstock)
		start "$c-$m" "$PROXY_CPU" "$PENSTOCK" http --listen "$ADDR" --to "$UP_ADDR" "${PENSTOCK_FLAGS[@]}"
		;;
	goproxy)
		start "$c-$m" "$PROXY_CPU" env GOMAXPROCS=1 "$TMP/goproxy" -listen "$ADDR" -to "$UP_ADDR"
		;;
	esac
	MAIN_PID=$LAST_PID
	START_ERR=""
	if ! wait_listen "$port" "$MAIN_PID" ||
		! taskset -c "$LOAD_CPU" "$HTTPIDLE" wait -addr "$ADDR" -t 5s 2>>"$TMP/$c-$m.log"; then
		START_ERR="$c did not become ready on http://$ADDR/: $(tail -c 300 "$TMP/$c-$m.log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	return 0
}

stop_contender() { # only a PID we started and have not stopped yet
	local p
	[[ -n ${MAIN_PID:-} ]] || return 0
	for p in "${STARTED[@]}"; do
		if [[ $p == "$MAIN_PID" ]]; then
			stop_pid "$MAIN_PID"
			forget "$MAIN_PID"
			break
		fi
	done
	MAIN_PID=""
}

# run_wrk MEASURE CONTENDER: a warm-up run (not recorded), then the measured
# one with proxy CPU and backend accepts read around it. Sets out/rc.
run_wrk() {
	local m=$1 c=$2
	local hdr=() c0 c1 a0 a1 errf=$TMP/measure.err wout=$TMP/wrk-$c-$m.txt
	[[ $m == close ]] && hdr=(-H "Connection: close")
	taskset -c "$LOAD_CPU" wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "$WARMUP_DUR" "${hdr[@]}" \
		"http://$ADDR/" >"$TMP/wrk-warmup.txt" 2>"$errf" || { rc=$?; cat "$TMP/wrk-warmup.txt" >>"$errf"; return; }
	c0=$("$HTTPIDLE" cpu -pid "$MAIN_PID" 2>>"$errf") || { rc=1; return; }
	a0=$("$HTTPIDLE" accepts -addr "$STATUS_ADDR" 2>>"$errf") || { rc=1; return; }
	taskset -c "$LOAD_CPU" wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "$WRK_DUR" --latency \
		-s "$HERE/http/wrk-report.lua" "${hdr[@]}" "http://$ADDR/" >"$wout" 2>"$errf" || rc=$?
	c1=$("$HTTPIDLE" cpu -pid "$MAIN_PID" 2>/dev/null || echo "$c0")
	a1=$("$HTTPIDLE" accepts -addr "$STATUS_ADDR" 2>>"$errf") || a1=-1
	cat "$wout" >>"$TMP/wrk-all.txt"
	((rc == 0)) || { cat "$wout" >>"$errf"; return; }
	local up=-1
	# the accepts reading itself is one accepted connection
	((a1 >= 0)) && up=$((a1 - a0 - 1))
	out=$("$HTTPIDLE" wrk -cpu-s "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" -upstream-conns "$up" <"$wout" 2>"$errf") || rc=$?
}

# run_measure ROUND MEASURE CONTENDER (contender already started)
run_measure() {
	local r=$1 m=$2 c=$3 errf=$TMP/measure.err
	out="" rc=0
	: >"$errf"
	case $m in
	keepalive | close)
		run_wrk "$m" "$c"
		;;
	idle_mem)
		out=$(taskset -c "$LOAD_CPU" "$HTTPIDLE" idle -addr "$ADDR" -n "$IDLE_CONNS" -c "$WRK_CONNS" -pid "$MAIN_PID" 2>"$errf") || rc=$?
		;;
	esac
	RESULT="" FAIL=""
	if ((rc != 0)) || [[ -z ${out:-} ]]; then
		FAIL="exit $rc: $(tail -c 300 "$errf" | tr '\n' ' ')"
	elif ! kill -0 "$MAIN_PID" 2>/dev/null; then
		FAIL="proxy exited during the test: $(tail -c 300 "$TMP/$c-$m.log" | tr '\n' ' ')"
	else
		RESULT=$out
	fi
}

# run_one ROUND MEASURE CONTENDER: one test, repeated (up to RETRIES times)
# when other processes took more than OTHER_PCT % of a CPU while it ran (rate
# measures only).
run_one() {
	local r=$1 m=$2 c=$3 attempt o1 o2 t1 t2
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		wait_quiet
		if ! start_contender "$c" "$m"; then
			stop_contender
			record_fail "$r" "$m" "$c" "$START_ERR"
			return
		fi
		o1=$("$TMP/l4load" othercpu)
		t1=$EPOCHREALTIME
		run_measure "$r" "$m" "$c"
		o2=$("$TMP/l4load" othercpu)
		t2=$EPOCHREALTIME
		stop_contender
		sleep 0.3
		OTHER=$(awk -v t=$((o2 - o1)) -v a="$t1" -v b="$t2" 'BEGIN { printf "%d", (b > a ? t / (b - a) : 0) }')
		if [[ -n $FAIL ]]; then
			record_fail "$r" "$m" "$c" "$FAIL"
			return
		fi
		if ((OTHER <= OTHER_PCT || attempt == RETRIES)) || [[ $m == idle_mem ]]; then
			record "$r" "$m" "$c" "$RESULT"
			return
		fi
		log "  $c $m: other processes used ${OTHER}% of a CPU during the test; repeating it"
	done
}

# ---- main loop: rounds x measures x contenders (rotated each round) --------

read -r -a CLIST <<<"$CONTENDERS"
log "rounds=$ROUNDS contenders=(${CLIST[*]}) measures=($MEASURES) wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DUR; proxy CPU $PROXY_CPU, load CPU $LOAD_CPU"
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#CLIST[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${CLIST[$(((i + r - 1) % n))]}"); done
	log "round $r/$ROUNDS, order: ${order[*]}"
	for m in $MEASURES; do
		for c in "${order[@]}"; do
			[[ -n ${SKIP[$c]:-} ]] && continue
			run_one "$r" "$m" "$c"
		done
	done
done

# ---- report ----------------------------------------------------------------

ver() { "$@" 2>&1 | head -1 || true; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
	echo "Machine and software:"
	echo
	echo "- nproc: $NPROC; CPU: ${cpu_model:-unknown}; kernel: $(uname -r)"
	echo "- $(go version)"
	[[ -n $PENSTOCK_SRC && -z ${SKIP[penstock]:-} ]] && echo "- penstock: $PENSTOCK_SRC; \`penstock http --listen A --to B ${PENSTOCK_FLAGS[*]:-}\`"
	echo "- $(ver nginx -v); $(ver haproxy -v); $(ver wrk -v | sed 's/ Copyright.*//')"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); command: \`$CMDLINE\`; rounds: $ROUNDS"
	echo "- settings: wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DUR (after a $WARMUP_DUR warm-up) against \`GET /\`;" \
		"backend nginx \`return 200 \"hello world\\n\"\` (1 worker); idle: $IDLE_CONNS connections"
	echo "- pinning: proxy on CPU $PROXY_CPU (taskset, 1 worker/thread; GOMAXPROCS=1 for the Go ReverseProxy, penstock its default: one P for one CPU), wrk, httpidle and the backend on CPU $LOAD_CPU"
	echo "- raw data: ${RAW#"$ROOT"/}"
} >"$TMP/machine.md"

"$HTTPIDLE" table -contenders "$CONTENDERS" -base nginx -busy-pct "$OTHER_PCT" \
	-raw "$RAW" -machine "$TMP/machine.md" -out "$RESULTS_DIR/http-latest.md"
log "wrote $RESULTS_DIR/http-latest.md and $RAW"
exit 0
}
