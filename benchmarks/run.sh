#!/usr/bin/env bash
# Side-by-side benchmark of Penstock's L4 relays against HAProxy 2.6 (tcp
# mode), nginx 1.22 (stream module) and a plain Go io.Copy relay, interleaved
# in one run, on loopback. See benchmarks/README.md.
#
#   bash benchmarks/run.sh             # 5 rounds, full durations
#   QUICK=1 bash benchmarks/run.sh     # 1 round, short durations
#
# Environment overrides:
#   ROUNDS=5                 rounds per measure (QUICK=1 sets 1)
#   CONTENDERS="penstock haproxy nginx gorelay"
#   MEASURES="tcp_throughput connrate idle_mem udp slow_rss"
#   PROXY_CPU=0 LOAD_CPU=1   CPUs for the proxy and for load + backends
#   IPERF_SECONDS=5 CONNRATE_DUR=5s CONNRATE_C=32 IDLE_CONNS=3000
#   UDP_DUR=5s UDP_SIZE=64 UDP_WINDOW=64 PUSH_DUR=8s SLOW_RATE=4MiB
#   RESULTS_DIR=benchmarks/results KEEP_TMP=1 (keep logs and rendered configs)
#   QUIET_PCT=10 QUIET_WAIT=120 before each test, wait up to QUIET_WAIT s until
#                            other processes use under QUIET_PCT % of the CPUs
#   OTHER_PCT=10 RETRIES=2   repeat a test (up to RETRIES times) if processes
#                            outside this run used more than OTHER_PCT % of a
#                            CPU while it ran; the last try is kept and flagged
#   PENSTOCK_BIN=path        use this penstock binary instead of building ./tools/penstock
#
# It starts every process itself, in the foreground, pinned with taskset, and
# stops only those, by PID. Ports used: 20001-20003 (backends) and
# 21001-24004 (contenders), all on 127.0.0.1.
set -euo pipefail

# The whole script is one brace group: bash parses it completely before
# running it, so editing this file (or a git checkout) during a run cannot
# break the run.
{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-1}
	IPERF_SECONDS=${IPERF_SECONDS:-2}
	CONNRATE_DUR=${CONNRATE_DUR:-2s}
	UDP_DUR=${UDP_DUR:-2s}
	PUSH_DUR=${PUSH_DUR:-4s}
else
	ROUNDS=${ROUNDS:-5}
	IPERF_SECONDS=${IPERF_SECONDS:-5}
	CONNRATE_DUR=${CONNRATE_DUR:-5s}
	UDP_DUR=${UDP_DUR:-5s}
	PUSH_DUR=${PUSH_DUR:-8s}
fi
CONTENDERS=${CONTENDERS:-"penstock haproxy nginx gorelay"}
MEASURES=${MEASURES:-"tcp_throughput connrate idle_mem udp slow_rss"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CONNRATE_C=${CONNRATE_C:-32}
IDLE_CONNS=${IDLE_CONNS:-3000}
UDP_SIZE=${UDP_SIZE:-64}
UDP_WINDOW=${UDP_WINDOW:-64}
SLOW_RATE=${SLOW_RATE:-4MiB}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_WAIT=${QUIET_WAIT:-120}
OTHER_PCT=${OTHER_PCT:-10}
RETRIES=${RETRIES:-2}
KEEP_TMP=${KEEP_TMP:-0}

# Backend ports (TCP echo and UDP echo share 20001).
B_ECHO=20001
B_IPERF=20002
B_SLOW=20003
B_UDP=20001

APT_CMD="apt-get install -y haproxy nginx libnginx-mod-stream iperf3"
NGINX_STREAM_SO=/usr/lib/nginx/modules/ngx_stream_module.so

BENCH_NAME=run.sh
TMP_PREFIX=penstock-bench
# shellcheck source=benchmarks/lib.sh
source "$HERE/lib.sh"

cpu_seconds() { # user+system CPU seconds of a process (all threads)
	local line rest
	read -r line <"/proc/$1/stat"
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	awk -v t=$((${12} + ${13})) 'BEGIN { printf "%.2f", t / 100 }'
}

# ---- checks ----------------------------------------------------------------

for tool in go taskset ss awk; do
	command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done
NPROC=$(nproc)
if ((NPROC < 2)); then
	log "only $NPROC CPU: proxy and load share CPU 0; numbers are not comparable with 2-CPU runs"
	LOAD_CPU=$PROXY_CPU
fi

declare -A SKIP=()
missing_pkgs=()
if ! command -v haproxy >/dev/null; then
	SKIP[haproxy]="haproxy not installed"
	missing_pkgs+=(haproxy)
fi
if ! command -v nginx >/dev/null; then
	SKIP[nginx]="nginx not installed"
	missing_pkgs+=(nginx)
elif [[ ! -f $NGINX_STREAM_SO ]]; then
	SKIP[nginx]="nginx stream module ($NGINX_STREAM_SO) not installed"
	missing_pkgs+=(libnginx-mod-stream)
fi
HAVE_IPERF=1
if ! command -v iperf3 >/dev/null; then
	HAVE_IPERF=0
	missing_pkgs+=(iperf3)
fi
if ((${#missing_pkgs[@]})); then
	log "missing: ${missing_pkgs[*]}. Install with (as root): $APT_CMD"
fi

# Idle test: one fd per client connection here, two in the proxy.
ulimit -n "$(ulimit -Hn)" || true
if (($(ulimit -n) < 2 * IDLE_CONNS + 100)); then
	log "ulimit -n is $(ulimit -n): too low for IDLE_CONNS=$IDLE_CONNS"
	exit 1
fi

# ---- build -----------------------------------------------------------------

log "building tools into $TMP"
go build -o "$TMP/l4load" ./benchmarks/cmd/l4load
go build -o "$TMP/gorelay" ./benchmarks/cmd/gorelay
go build -o "$TMP/benchreport" ./benchmarks/cmd/benchreport
PENSTOCK=$TMP/penstock
# What the penstock binary was built from (read-only git queries).
PENSTOCK_SRC=""
if [[ -n ${PENSTOCK_BIN:-} ]]; then
	PENSTOCK_SRC="prebuilt binary $PENSTOCK_BIN"
elif git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
	dirty=$(git -C "$ROOT" status --porcelain -- . ':(exclude)benchmarks' 2>/dev/null | wc -l)
	PENSTOCK_SRC="built $(date -u '+%H:%M UTC') from commit $(git -C "$ROOT" rev-parse --short HEAD)"
	((dirty == 0)) || PENSTOCK_SRC+=" plus $dirty uncommitted file(s) outside benchmarks/"
fi
if [[ -n ${PENSTOCK_BIN:-} ]]; then
	PENSTOCK=$PENSTOCK_BIN
	[[ -x $PENSTOCK ]] || SKIP[penstock]="PENSTOCK_BIN=$PENSTOCK_BIN is not executable"
elif [[ " $CONTENDERS " == *" penstock "* ]]; then
	if ! go build -o "$TMP/penstock" ./tools/penstock >"$TMP/penstock-build.log" 2>&1; then
		SKIP[penstock]="./tools/penstock does not build ($(head -c 300 "$TMP/penstock-build.log" | tr '\n\t' '  ' | sed 's/ *$//'))"
		log "skipping penstock: go build ./tools/penstock failed:"
		sed 's/^/    /' "$TMP/penstock-build.log" | head -20 >&2
	fi
fi
L4LOAD=$TMP/l4load

# ---- results files ---------------------------------------------------------

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS_DIR/raw-$STAMP.jsonl
: >"$RAW"

json_str() { # minimal JSON string escaping
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

CMDLINE="bash benchmarks/run.sh"
[[ $QUICK == 1 ]] && CMDLINE="QUICK=1 $CMDLINE"
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

# ---- backends (load CPU) ---------------------------------------------------

# Every port this run listens on must be free (a leftover or someone else's
# listener would be mistaken for ours).
busy_ports=""
for port in $B_ECHO $B_IPERF $B_SLOW 21001 21002 21003 21004 22001 22002 22003 22004 \
	23001 23002 23003 23004 24001 24002 24003 24004; do
	if [[ -n $(ss -Hlntu "sport = :$port" 2>/dev/null) ]]; then
		busy_ports+=" $port"
	fi
done
if [[ -n $busy_ports ]]; then
	log "ports already in use on this machine:$busy_ports (see: ss -lntup); stop that listener first"
	exit 1
fi

start echo-server "$LOAD_CPU" "$L4LOAD" echo-server -tcp "127.0.0.1:$B_ECHO" -udp "127.0.0.1:$B_UDP"
ECHO_PID=$LAST_PID
start slowsink "$LOAD_CPU" "$L4LOAD" slowsink -addr "127.0.0.1:$B_SLOW" -rate "$SLOW_RATE"
SLOW_PID=$LAST_PID
wait_listen $B_ECHO "$ECHO_PID" || { log "echo backend did not start: $(cat "$TMP/echo-server.log")"; exit 1; }
wait_listen $B_SLOW "$SLOW_PID" || { log "slowsink did not start: $(cat "$TMP/slowsink.log")"; exit 1; }
if ((HAVE_IPERF)); then
	start iperf3-server "$LOAD_CPU" iperf3 -s -B 127.0.0.1 -p $B_IPERF
	IPERF_PID=$LAST_PID
	wait_listen $B_IPERF "$IPERF_PID" || { log "iperf3 -s did not start: $(cat "$TMP/iperf3-server.log")"; exit 1; }
fi

# ---- contenders ------------------------------------------------------------

base_port() {
	case $1 in
	penstock) echo 21000 ;;
	haproxy) echo 22000 ;;
	nginx) echo 23000 ;;
	gorelay) echo 24000 ;;
	*) return 1 ;;
	esac
}

render() { # render TEMPLATE OUT BASE PREFIX
	sed -e "s|@ECHO_PORT@|$(($3 + 1))|g" -e "s|@IPERF_PORT@|$(($3 + 2))|g" \
		-e "s|@SLOW_PORT@|$(($3 + 3))|g" -e "s|@UDP_PORT@|$(($3 + 4))|g" \
		-e "s|@BACKEND_ECHO_PORT@|$B_ECHO|g" -e "s|@BACKEND_IPERF_PORT@|$B_IPERF|g" \
		-e "s|@BACKEND_SLOW_PORT@|$B_SLOW|g" -e "s|@BACKEND_UDP_PORT@|$B_UDP|g" \
		-e "s|@PREFIX@|$4|g" "$1" >"$2"
}

# measure -> (offset from base port, backend port, protocol)
port_off() { case $1 in tcp_throughput) echo 2 ;; connrate | idle_mem) echo 1 ;; slow_rss) echo 3 ;; udp) echo 4 ;; esac; }
backend_of() { case $1 in tcp_throughput) echo $B_IPERF ;; connrate | idle_mem) echo $B_ECHO ;; slow_rss) echo $B_SLOW ;; udp) echo $B_UDP ;; esac; }
proto_of() { if [[ $1 == udp ]]; then echo udp; else echo tcp; fi; }

# start_contender NAME MEASURE: sets MAIN_PID (to stop), PROXY_PID (to
# measure: the nginx worker) and ADDR. Returns 1 with START_ERR set on failure.
start_contender() {
	local c=$1 m=$2 base port backend proto dir
	MAIN_PID=""
	base=$(base_port "$c")
	port=$((base + $(port_off "$m")))
	backend=$(backend_of "$m")
	proto=$(proto_of "$m")
	ADDR=127.0.0.1:$port
	dir=$TMP/run-$c
	mkdir -p "$dir"
	case $c in
	haproxy)
		render "$HERE/haproxy-tcp.cfg" "$dir/haproxy.cfg" "$base" "$dir"
		start "$c-$m" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"
		;;
	nginx)
		render "$HERE/nginx-stream.conf" "$dir/nginx.conf" "$base" "$dir"
		start "$c-$m" "$PROXY_CPU" nginx -g 'daemon off;' -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log"
		;;
	penstock)
		start "$c-$m" "$PROXY_CPU" "$PENSTOCK" "$proto" --listen "$ADDR" --to "127.0.0.1:$backend" --loops 1
		;;
	gorelay)
		start "$c-$m" "$PROXY_CPU" env GOMAXPROCS=1 "$TMP/gorelay" -mode "$proto" -listen "$ADDR" -to "127.0.0.1:$backend"
		;;
	esac
	MAIN_PID=$LAST_PID
	PROXY_PID=$MAIN_PID
	START_ERR=""
	local ok=0 i
	if [[ $proto == udp ]]; then
		# No listener to look for: wait for a datagram echoed through it.
		for i in $(seq 1 20); do
			kill -0 "$MAIN_PID" 2>/dev/null || break
			if taskset -c "$LOAD_CPU" "$L4LOAD" wait -udp "$ADDR" -t 500ms 2>"$TMP/wait.err"; then
				ok=1
				break
			fi
		done
		((ok)) || cat "$TMP/wait.err" >>"$TMP/$c-$m.log"
	elif [[ $m == connrate || $m == idle_mem ]]; then
		wait_listen "$port" "$MAIN_PID" &&
			taskset -c "$LOAD_CPU" "$L4LOAD" wait -tcp "$ADDR" -echo -t 5s 2>>"$TMP/$c-$m.log" && ok=1
	else
		wait_listen "$port" "$MAIN_PID" && ok=1
	fi
	if ((!ok)); then
		START_ERR="$c did not become ready on $proto $ADDR: $(tail -c 300 "$TMP/$c-$m.log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	if [[ $c == nginx ]]; then
		# Measure the single worker, not the master.
		local i w=""
		for i in $(seq 1 50); do
			w=$(cat "/proc/$MAIN_PID/task/$MAIN_PID/children" 2>/dev/null | awk '{print $1}')
			[[ -n $w ]] && break
			sleep 0.05
		done
		[[ -n $w ]] || { START_ERR="nginx worker not found"; return 1; }
		PROXY_PID=$w
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

# run_measure ROUND MEASURE CONTENDER (contender already started)
run_measure() {
	local r=$1 m=$2 c=$3 out rc=0 errf=$TMP/measure.err
	case $m in
	tcp_throughput)
		local c0 c1
		c0=$(cpu_seconds "$PROXY_PID")
		taskset -c "$LOAD_CPU" iperf3 -c 127.0.0.1 -p "${ADDR##*:}" -t "$IPERF_SECONDS" -J >"$TMP/iperf.json" 2>"$errf" || rc=$?
		c1=$(cpu_seconds "$PROXY_PID" 2>/dev/null || echo "$c0")
		if ((rc == 0)); then
			out=$("$TMP/benchreport" iperf3 -cpu-s "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" <"$TMP/iperf.json" 2>"$errf") || rc=$?
		else
			"$TMP/benchreport" iperf3 <"$TMP/iperf.json" >/dev/null 2>>"$errf" || true
		fi
		;;
	connrate)
		out=$(taskset -c "$LOAD_CPU" "$L4LOAD" connrate -addr "$ADDR" -c "$CONNRATE_C" -d "$CONNRATE_DUR" -pid "$PROXY_PID" 2>"$errf") || rc=$?
		;;
	idle_mem)
		out=$(taskset -c "$LOAD_CPU" "$L4LOAD" idle -addr "$ADDR" -n "$IDLE_CONNS" -pid "$PROXY_PID" 2>"$errf") || rc=$?
		;;
	udp)
		out=$(taskset -c "$LOAD_CPU" "$L4LOAD" udp -addr "$ADDR" -size "$UDP_SIZE" -d "$UDP_DUR" -window "$UDP_WINDOW" -pid "$PROXY_PID" 2>"$errf") || rc=$?
		;;
	slow_rss)
		out=$(taskset -c "$LOAD_CPU" "$L4LOAD" push -addr "$ADDR" -d "$PUSH_DUR" -pid "$PROXY_PID" 2>"$errf") || rc=$?
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
		o1=$("$L4LOAD" othercpu)
		t1=$EPOCHREALTIME
		run_measure "$r" "$m" "$c"
		o2=$("$L4LOAD" othercpu)
		t2=$EPOCHREALTIME
		stop_contender
		sleep 0.3
		OTHER=$(awk -v t=$((o2 - o1)) -v a="$t1" -v b="$t2" 'BEGIN { printf "%d", (b > a ? t / (b - a) : 0) }')
		if [[ -n $FAIL ]]; then
			record_fail "$r" "$m" "$c" "$FAIL"
			return
		fi
		# Memory measures do not depend on CPU time: no repeat for them.
		if ((OTHER <= OTHER_PCT || attempt == RETRIES)) || [[ $m == idle_mem || $m == slow_rss ]]; then
			record "$r" "$m" "$c" "$RESULT"
			return
		fi
		log "  $c $m: other processes used ${OTHER}% of a CPU during the test; repeating it"
	done
}

# ---- main loop: rounds x measures x contenders (rotated each round) --------

read -r -a CLIST <<<"$CONTENDERS"
log "rounds=$ROUNDS contenders=(${CLIST[*]}) measures=($MEASURES) proxy CPU $PROXY_CPU, load CPU $LOAD_CPU"
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#CLIST[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${CLIST[$(((i + r - 1) % n))]}"); done
	log "round $r/$ROUNDS, order: ${order[*]}"
	for m in $MEASURES; do
		for c in "${order[@]}"; do
			[[ -n ${SKIP[$c]:-} ]] && continue
			if [[ $m == udp && $c == haproxy ]]; then
				((r == 1)) && printf '{"measure":"udp","contender":"haproxy","unsupported":"no UDP"}\n' >>"$RAW"
				continue
			fi
			if [[ $m == tcp_throughput ]] && ((!HAVE_IPERF)); then
				continue
			fi
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
	[[ -n $PENSTOCK_SRC ]] && echo "- penstock: $PENSTOCK_SRC"
	echo "- $(ver haproxy -v); $(ver nginx -v); $(ver iperf3 -v)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); command: \`$CMDLINE\`; rounds: $ROUNDS"
	echo "- settings: iperf3 -t $IPERF_SECONDS; connrate -c $CONNRATE_C -d $CONNRATE_DUR;" \
		"idle $IDLE_CONNS conns; udp $UDP_SIZE B x window $UDP_WINDOW x 4 sockets, $UDP_DUR;" \
		"slow sink $SLOW_RATE, push $PUSH_DUR"
	echo "- pinning: proxy on CPU $PROXY_CPU (taskset, 1 worker/thread), load generator and backends on CPU $LOAD_CPU"
	echo "- raw data: ${RAW#"$ROOT"/}"
} >"$TMP/machine.md"

"$TMP/benchreport" table -busy-pct "$OTHER_PCT" -raw "$RAW" -machine "$TMP/machine.md" -out "$RESULTS_DIR/latest.md"
log "wrote $RESULTS_DIR/latest.md and $RAW"
exit 0
}
