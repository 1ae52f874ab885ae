#!/usr/bin/env bash
# Side-by-side TLS benchmark: penstock (`penstock http|tcp --tls-cert`), nginx
# 1.22, HAProxy 2.6 and Caddy 2.6, all serving the same ECDSA P-256
# certificate (made at the start of the run), interleaved in one run, on
# loopback. See benchmarks/README.md (TLS section) and the configs in
# benchmarks/tls/.
#
#   bash benchmarks/tls.sh             # 3 rounds: about 8 minutes
#   QUICK=1 bash benchmarks/tls.sh     # 1 round, short runs: about 75 s
#
# Measures (each on a freshly started proxy; the load generator saturates its
# core before a fast TLS server does, so the proxy's CPU per unit of work is
# the figure to compare):
#   keepalive   HTTPS reverse proxy, keep-alive: wrk -t2 -c64 over TLS 1.3 to
#               the HTTP/1.1 nginx "hello world" backend of http.sh: proxy CPU
#               per request, requests/s, p99
#   hs_x25519   one request per new TLS 1.3 connection (full handshake), the
#               client offering X25519 only: proxy CPU per connection, conn/s
#   hs_default  the same with Go's default groups (X25519MLKEM768 first, with
#               an X25519 share too): each server picks what it supports
#   hs_resumed  the same as hs_x25519 with each client keeping its session
#               tickets (tls.ClientSessionCache): resumed (PSK + ECDHE)
#               handshakes, counted by the client (ConnectionState.DidResume)
#   stream      TLS termination, TLS in, plaintext out: one TLS connection
#               streams STREAM_BYTES through the proxy's TCP relay to
#               `tlsload sink`: MB/s and proxy CPU per GB (no Caddy: its
#               stock build has no TCP proxy)
#   idle_mem    IDLE_CONNS TLS keep-alive connections, one request each, then
#               idle: proxy RSS (all its processes) after - before / conns
# The handshake, stream and idle clients are benchmarks/cmd/tlsload (Go
# crypto/tls, TLS 1.3 only, no chain verification).
#
# Environment overrides:
#   ROUNDS=3                  rounds (QUICK=1 sets 1)
#   CONTENDERS="penstock nginx haproxy caddy"
#   MEASURES="keepalive hs_x25519 hs_default hs_resumed stream idle_mem"
#   PROXY_CPU=0 LOAD_CPU=1    CPUs for the proxy and for the load + backends
#   WRK_DUR=8s WARMUP_DUR=1s WRK_THREADS=2 WRK_CONNS=64   keepalive
#   HS_DUR=5s HS_WARM=1s HS_CONNS=32                       hs_* measures
#   STREAM_BYTES=2GiB IDLE_CONNS=3000
#   NGINX_STREAM_BUFFER=64k   nginx stream proxy_buffer_size (its default is 16k)
#   HAPROXY_BUFSIZE=65536     HAProxy tune.bufsize for the stream (its default
#                             is 16384; both peers move a stream with less
#                             CPU with 64k, see the README)
#   STREAM_SNDBUF=4194304     SO_SNDBUF for the stream, the same for each:
#                             penstock --sndbuf, HAProxy tune.sndbuf.client
#                             and .server, nginx listen sndbuf= (its stream
#                             module has none for the upstream); 0: the
#                             kernel's autotuning for all (see the README)
#   RESULTS_DIR=benchmarks/results (writes tls-latest.md and tls-raw-<time>.jsonl)
#   KEEP_TMP=1                keep logs, rendered configs and the certificate
#   QUIET_PCT=10 QUIET_WAIT=120 OTHER_PCT=10 RETRIES=2   as in run.sh
#   PENSTOCK_BIN=path         use this binary instead of building ./tools/penstock
#   PENSTOCK_ARGS="..."       extra flags after `penstock http|tcp --listen A
#                             --to B --tls-cert C --tls-key K` (default:
#                             --loops 1 --log-level warn)
#   PENSTOCK_PROFILE_DIR=dir  penstock writes a CPU profile per test there
#                             (PENSTOCK_CPUPROFILE; <measure>-r<round>.pprof)
#
# It starts every process itself, in the foreground, pinned with taskset, and
# stops only those, by PID. Ports (127.0.0.1): 28001 backend, 28002 backend
# status, 28003 stream sink, 28011 penstock, 28012 haproxy, 28013 nginx,
# 28014 caddy.
set -euo pipefail

# One brace group: bash parses the whole script before running it, so editing
# this file during a run cannot break the run.
{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

CMD_ENV=""
for v in QUICK ROUNDS CONTENDERS MEASURES PROXY_CPU LOAD_CPU WRK_DUR WARMUP_DUR WRK_THREADS WRK_CONNS HS_DUR HS_WARM HS_CONNS STREAM_BYTES IDLE_CONNS NGINX_STREAM_BUFFER HAPROXY_BUFSIZE STREAM_SNDBUF PENSTOCK_BIN PENSTOCK_ARGS; do
	[[ -n ${!v+set} ]] || continue
	if [[ ${!v} =~ ^[A-Za-z0-9_./:,=-]+$ ]]; then CMD_ENV+="$v=${!v} "; else CMD_ENV+="$v=${!v@Q} "; fi
done

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-1}
	WRK_DUR=${WRK_DUR:-2s}
	WARMUP_DUR=${WARMUP_DUR:-1s}
	HS_DUR=${HS_DUR:-1.5s}
	HS_WARM=${HS_WARM:-0.5s}
	STREAM_BYTES=${STREAM_BYTES:-512MiB}
	IDLE_CONNS=${IDLE_CONNS:-1000}
else
	ROUNDS=${ROUNDS:-3}
	WRK_DUR=${WRK_DUR:-8s}
	WARMUP_DUR=${WARMUP_DUR:-1s}
	HS_DUR=${HS_DUR:-5s}
	HS_WARM=${HS_WARM:-1s}
	STREAM_BYTES=${STREAM_BYTES:-2GiB}
	IDLE_CONNS=${IDLE_CONNS:-3000}
fi
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
HS_CONNS=${HS_CONNS:-32}
NGINX_STREAM_BUFFER=${NGINX_STREAM_BUFFER:-64k}
HAPROXY_BUFSIZE=${HAPROXY_BUFSIZE:-65536}
STREAM_SNDBUF=${STREAM_SNDBUF:-4194304}
[[ $STREAM_SNDBUF =~ ^[0-9]+$ ]] || { echo "STREAM_SNDBUF must be a number of bytes" >&2; exit 2; }
if ((STREAM_SNDBUF > 0)); then
	HAPROXY_SNDBUF="tune.sndbuf.client $STREAM_SNDBUF" HAPROXY_SNDBUF_SERVER="tune.sndbuf.server $STREAM_SNDBUF"
	NGINX_SNDBUF=" sndbuf=$STREAM_SNDBUF"
else
	HAPROXY_SNDBUF="# tune.sndbuf.client: the kernel's autotuning" HAPROXY_SNDBUF_SERVER="# tune.sndbuf.server: the kernel's autotuning"
	NGINX_SNDBUF=""
fi
CONTENDERS=${CONTENDERS:-"penstock nginx haproxy caddy"}
MEASURES=${MEASURES:-"keepalive hs_x25519 hs_default hs_resumed stream idle_mem"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_WAIT=${QUIET_WAIT:-120}
OTHER_PCT=${OTHER_PCT:-10}
RETRIES=${RETRIES:-2}
KEEP_TMP=${KEEP_TMP:-0}
PENSTOCK_PROFILE_DIR=${PENSTOCK_PROFILE_DIR:-}

UP_PORT=28001
STATUS_PORT=28002
SINK_PORT=28003
UP_ADDR=127.0.0.1:$UP_PORT
STATUS_ADDR=127.0.0.1:$STATUS_PORT
SINK_ADDR=127.0.0.1:$SINK_PORT

APT_CMD="apt-get install -y wrk nginx libnginx-mod-stream haproxy caddy openssl"

BENCH_NAME=tls.sh
TMP_PREFIX=penstock-tls
# shellcheck source=benchmarks/lib.sh
source "$HERE/lib.sh"

# ---- checks ----------------------------------------------------------------

for tool in go taskset ss awk openssl; do
	command -v "$tool" >/dev/null || { log "missing required tool: $tool ($APT_CMD)"; exit 1; }
done
missing_pkgs=()
command -v wrk >/dev/null || missing_pkgs+=(wrk)
command -v nginx >/dev/null || missing_pkgs+=(nginx)
if ((${#missing_pkgs[@]})); then
	# wrk is the keep-alive load and nginx the shared backend.
	log "missing: ${missing_pkgs[*]}. Install with (as root): $APT_CMD"
	exit 1
fi
NPROC=$(nproc)
if ((NPROC < 2)); then
	log "only $NPROC CPU: proxy and load share CPU 0; numbers are not comparable with 2-CPU runs"
	LOAD_CPU=$PROXY_CPU
fi

declare -A SKIP=()
for c in haproxy caddy; do
	if [[ " $CONTENDERS " == *" $c "* ]] && ! command -v "$c" >/dev/null; then
		SKIP[$c]="$c not installed ($APT_CMD)"
		log "skipping $c: not installed. Install with (as root): $APT_CMD"
	fi
done
# What a contender cannot do at all (reported as such, not as a failure).
declare -A CANNOT=()
CANNOT[caddy/stream]="Caddy 2.6 has no TCP proxy (the layer4 app is an out-of-tree plugin; \`caddy list-modules\` of Debian's build lists no layer4 module)"
if [[ " $MEASURES " == *" stream "* && " $CONTENDERS " == *" nginx "* && ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]]; then
	CANNOT[nginx/stream]="nginx's stream module is not installed ($APT_CMD)"
fi

ulimit -n "$(ulimit -Hn)" || true
if (($(ulimit -n) < IDLE_CONNS + 500)); then
	log "ulimit -n is $(ulimit -n): too low for IDLE_CONNS=$IDLE_CONNS"
	exit 1
fi
if [[ -n $PENSTOCK_PROFILE_DIR ]]; then
	mkdir -p "$PENSTOCK_PROFILE_DIR"
	PENSTOCK_PROFILE_DIR=$(cd "$PENSTOCK_PROFILE_DIR" && pwd)
fi

# ---- build -----------------------------------------------------------------

log "building tools into $TMP"
go build -o "$TMP/tlsload" ./benchmarks/cmd/tlsload
go build -o "$TMP/httpidle" ./benchmarks/cmd/httpidle # wrk output, stub_status
go build -o "$TMP/l4load" ./benchmarks/cmd/l4load     # `l4load othercpu`
TLSLOAD=$TMP/tlsload
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
if [[ " $CONTENDERS " == *" penstock "* && -z ${SKIP[penstock]:-} ]]; then
	help_out=$(timeout 10 "$PENSTOCK" http --help 2>&1) || true
	PENSTOCK_SNDBUF=()
	if ((STREAM_SNDBUF > 0)); then
		if [[ $help_out == *-sndbuf* ]]; then
			PENSTOCK_SNDBUF=(--sndbuf "$STREAM_SNDBUF")
		else
			log "this penstock has no --sndbuf: its stream runs with the kernel's autotuning, the peers with SO_SNDBUF $STREAM_SNDBUF"
		fi
	fi
	if [[ $help_out != *-tls-cert* ]]; then
		SKIP[penstock]="this penstock has no --tls-cert on \`penstock http\`"
		log "skipping penstock: \`penstock http --help\` lists no --tls-cert"
	elif [[ -n ${PENSTOCK_ARGS+set} ]]; then
		read -r -a PENSTOCK_FLAGS <<<"$PENSTOCK_ARGS"
	else
		PENSTOCK_FLAGS=(--loops 1 --log-level warn)
	fi
fi

# ---- the certificate: ECDSA P-256, made for this run --------------------------

CERT=$TMP/cert.pem
KEY=$TMP/key.pem
PEM=$TMP/cert-key.pem # HAProxy: chain and key in one file
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$KEY" -out "$CERT" >"$TMP/openssl.log" 2>&1 || { log "openssl req failed: $(cat "$TMP/openssl.log")"; exit 1; }
cat "$CERT" "$KEY" >"$PEM"
chmod 644 "$KEY" "$PEM" # nginx's worker and HAProxy read them as they are

# ---- results files ---------------------------------------------------------

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RESULTS_DIR/tls-raw-$STAMP.jsonl
: >"$RAW"

json_str() { # minimal JSON string escaping
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

CMDLINE="${CMD_ENV}bash benchmarks/tls.sh"
printf '{"kind":"meta","date":%s,"command":%s,"rounds":%s}\n' \
	"$(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(json_str "$CMDLINE")" "$ROUNDS" >>"$RAW"

for c in $CONTENDERS; do
	if [[ -n ${SKIP[$c]:-} ]]; then
		printf '{"contender":"%s","skipped":%s}\n' "$c" "$(json_str "${SKIP[$c]}")" >>"$RAW"
	fi
	for m in $MEASURES; do
		if [[ -n ${CANNOT[$c/$m]:-} ]]; then
			printf '{"contender":"%s","measure":"%s","skipped":%s}\n' "$c" "$m" "$(json_str "${CANNOT[$c/$m]}")" >>"$RAW"
		fi
	done
done

record() { # record ROUND MEASURE CONTENDER JSONLINE
	local line=$4
	printf '{"round":%s,"measure":"%s","contender":"%s","other_cpu_pct":%s,"steal_pct":%s,%s\n' "$1" "$2" "$3" "${OTHER:-0}" "${STEAL:-0}" "${line#\{}" >>"$RAW"
	log "  $3 $2: $line"
}

record_fail() {
	printf '{"round":%s,"measure":"%s","contender":"%s","failed":%s}\n' "$1" "$2" "$3" "$(json_str "$4")" >>"$RAW"
	log "  $3 $2: FAILED: $4"
}

# ---- ports, the shared backend and the sink (load CPU) ---------------------------

busy_ports=""
for port in $UP_PORT $STATUS_PORT $SINK_PORT 28011 28012 28013 28014; do
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
		-e "s|@SINK_PORT@|$SINK_PORT|g" -e "s|@PREFIX@|$4|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" \
		-e "s|@PEM@|$PEM|g" -e "s|@STREAM_BUFFER@|$NGINX_STREAM_BUFFER|g" -e "s|@BUFSIZE@|$HAPROXY_BUFSIZE|g" \
		-e "s|@SNDBUF_CLIENT@|$HAPROXY_SNDBUF|g" -e "s|@SNDBUF_SERVER@|$HAPROXY_SNDBUF_SERVER|g" -e "s|@NGINX_SNDBUF@|$NGINX_SNDBUF|g" \
		"$1" >"$2"
}

mkdir -p "$TMP/backend"
render "$HERE/http/nginx-upstream.conf" "$TMP/backend/nginx.conf" "$UP_PORT" "$TMP/backend"
start backend "$LOAD_CPU" nginx -g 'daemon off;' -c "$TMP/backend/nginx.conf" -p "$TMP/backend/" -e "$TMP/backend/error.log"
BACKEND_PID=$LAST_PID
if ! wait_listen $UP_PORT "$BACKEND_PID" || ! "$HTTPIDLE" wait -addr "$UP_ADDR" -t 5s 2>>"$TMP/backend.log"; then
	log "the nginx backend did not start: $(tail -c 500 "$TMP/backend.log") $(tail -c 500 "$TMP/backend/error.log" 2>/dev/null)"
	exit 1
fi
start sink "$LOAD_CPU" "$TLSLOAD" sink -addr "$SINK_ADDR"
if ! wait_listen $SINK_PORT "$LAST_PID"; then
	log "the sink did not start: $(tail -c 500 "$TMP/sink.log")"
	exit 1
fi

# ---- contenders ------------------------------------------------------------

port_of() {
	case $1 in
	penstock) echo 28011 ;;
	haproxy) echo 28012 ;;
	nginx) echo 28013 ;;
	caddy) echo 28014 ;;
	*) return 1 ;;
	esac
}

# start_contender NAME MEASURE ROUND: sets MAIN_PID (nginx: the master, whose
# worker is counted with it) and ADDR. Returns 1 with START_ERR set on failure.
start_contender() {
	local c=$1 m=$2 r=$3 port dir mode=http penv=()
	MAIN_PID=""
	port=$(port_of "$c")
	ADDR=127.0.0.1:$port
	dir=$TMP/run-$c
	rm -rf "$dir"
	mkdir -p "$dir"
	[[ $m == stream ]] && mode=stream
	case $c/$mode in
	haproxy/http)
		render "$HERE/tls/haproxy-https.cfg" "$dir/haproxy.cfg" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"
		;;
	haproxy/stream)
		render "$HERE/tls/haproxy-tcp-tls.cfg" "$dir/haproxy.cfg" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"
		;;
	nginx/http)
		render "$HERE/tls/nginx-https.conf" "$dir/nginx.conf" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" nginx -g 'daemon off;' -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log"
		;;
	nginx/stream)
		render "$HERE/tls/nginx-stream-tls.conf" "$dir/nginx.conf" "$port" "$dir"
		start "$c-$m" "$PROXY_CPU" nginx -g 'daemon off;' -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log"
		;;
	caddy/http)
		render "$HERE/tls/caddy-https.json" "$dir/caddy.json" "$port" "$dir"
		# HOME and XDG_*: Caddy keeps nothing outside the run's temp dir.
		start "$c-$m" "$PROXY_CPU" env GOMAXPROCS=1 HOME="$dir" XDG_DATA_HOME="$dir" XDG_CONFIG_HOME="$dir" \
			caddy run --config "$dir/caddy.json"
		;;
	penstock/*)
		[[ -n $PENSTOCK_PROFILE_DIR ]] && penv=(PENSTOCK_CPUPROFILE="$PENSTOCK_PROFILE_DIR/$m-r$r.pprof")
		local sub=http to=$UP_ADDR extra=()
		[[ $mode == stream ]] && sub=tcp to=$SINK_ADDR extra=("${PENSTOCK_SNDBUF[@]}")
		start "$c-$m" "$PROXY_CPU" env "${penv[@]}" "$PENSTOCK" "$sub" --listen "$ADDR" --to "$to" \
			--tls-cert "$CERT" --tls-key "$KEY" "${extra[@]}" "${PENSTOCK_FLAGS[@]}"
		;;
	*)
		START_ERR="$c cannot run $m"
		return 1
		;;
	esac
	MAIN_PID=$LAST_PID
	START_ERR=""
	if ! wait_listen "$port" "$MAIN_PID" ||
		! taskset -c "$LOAD_CPU" "$TLSLOAD" wait -addr "$ADDR" -mode "$mode" -cert "$CERT" -t 5s 2>>"$TMP/$c-$m.log"; then
		START_ERR="$c did not become ready on $ADDR ($mode): $(tail -c 300 "$TMP/$c-$m.log" 2>/dev/null | tr '\n' ' ')"
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

# run_wrk CONTENDER: a warm-up run (not recorded), then the measured one with
# proxy CPU and backend accepts read around it. Sets out/rc.
run_wrk() {
	local c=$1 c0 c1 a0 a1 errf=$TMP/measure.err wout=$TMP/wrk-$c.txt url=https://$ADDR/
	taskset -c "$LOAD_CPU" wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "$WARMUP_DUR" "$url" \
		>"$TMP/wrk-warmup.txt" 2>"$errf" || { rc=$?; cat "$TMP/wrk-warmup.txt" >>"$errf"; return; }
	c0=$("$TLSLOAD" cpu -pid "$MAIN_PID" 2>>"$errf") || { rc=1; return; }
	a0=$("$HTTPIDLE" accepts -addr "$STATUS_ADDR" 2>>"$errf") || { rc=1; return; }
	taskset -c "$LOAD_CPU" wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "$WRK_DUR" --latency \
		-s "$HERE/http/wrk-report.lua" "$url" >"$wout" 2>"$errf" || rc=$?
	c1=$("$TLSLOAD" cpu -pid "$MAIN_PID" 2>/dev/null || echo "$c0")
	a1=$("$HTTPIDLE" accepts -addr "$STATUS_ADDR" 2>>"$errf") || a1=-1
	cat "$wout" >>"$TMP/wrk-all.txt"
	((rc == 0)) || { cat "$wout" >>"$errf"; return; }
	local up=-1
	((a1 >= 0)) && up=$((a1 - a0 - 1)) # the accepts reading is one connection
	out=$("$HTTPIDLE" wrk -cpu-s "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" -upstream-conns "$up" <"$wout" 2>"$errf") || rc=$?
}

# run_measure ROUND MEASURE CONTENDER (contender already started)
run_measure() {
	local r=$1 m=$2 c=$3 errf=$TMP/measure.err
	out="" rc=0
	: >"$errf"
	case $m in
	keepalive)
		run_wrk "$c"
		;;
	hs_x25519 | hs_default | hs_resumed)
		local groups=x25519 resume=()
		[[ $m == hs_default ]] && groups=default
		[[ $m == hs_resumed ]] && resume=(-resume)
		out=$(taskset -c "$LOAD_CPU" "$TLSLOAD" conns -addr "$ADDR" -c "$HS_CONNS" -d "$HS_DUR" -warm "$HS_WARM" \
			-groups "$groups" "${resume[@]}" -pid "$MAIN_PID" 2>"$errf") || rc=$?
		;;
	stream)
		out=$(taskset -c "$LOAD_CPU" "$TLSLOAD" stream -addr "$ADDR" -bytes "$STREAM_BYTES" -pid "$MAIN_PID" 2>"$errf") || rc=$?
		;;
	idle_mem)
		out=$(taskset -c "$LOAD_CPU" "$TLSLOAD" idle -addr "$ADDR" -n "$IDLE_CONNS" -c "$WRK_CONNS" -pid "$MAIN_PID" 2>"$errf") || rc=$?
		;;
	esac
	RESULT="" FAIL=""
	if ((rc != 0)) || [[ -z ${out:-} ]]; then
		FAIL="exit $rc: $(tail -c 300 "$errf" | tr '\n' ' ') ${out:-}"
	elif ! kill -0 "$MAIN_PID" 2>/dev/null; then
		FAIL="proxy exited during the test: $(tail -c 300 "$TMP/$c-$m.log" | tr '\n' ' ')"
	else
		RESULT=$out
	fi
}

# steal_ticks: the time the hypervisor gave the CPUs to other guests (the
# 8th number of /proc/stat's cpu line), which other_cpu does not see.
steal_ticks() { awk '/^cpu / { print $9; exit }' /proc/stat; }

# run_one ROUND MEASURE CONTENDER: one test, repeated (up to RETRIES times)
# when other processes took more than OTHER_PCT % of a CPU while it ran (rate
# measures only).
run_one() {
	local r=$1 m=$2 c=$3 attempt o1 o2 s1 s2 t1 t2
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		wait_quiet
		if ! start_contender "$c" "$m" "$r"; then
			stop_contender
			record_fail "$r" "$m" "$c" "$START_ERR"
			return
		fi
		o1=$("$TMP/l4load" othercpu)
		s1=$(steal_ticks)
		t1=$EPOCHREALTIME
		run_measure "$r" "$m" "$c"
		o2=$("$TMP/l4load" othercpu)
		s2=$(steal_ticks)
		t2=$EPOCHREALTIME
		stop_contender
		sleep 0.3
		OTHER=$(awk -v t=$((o2 - o1)) -v a="$t1" -v b="$t2" 'BEGIN { printf "%d", (b > a ? t / (b - a) : 0) }')
		STEAL=$(awk -v t=$((s2 - s1)) -v a="$t1" -v b="$t2" 'BEGIN { printf "%d", (b > a ? t / (b - a) : 0) }')
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
log "rounds=$ROUNDS contenders=(${CLIST[*]}) measures=($MEASURES); proxy CPU $PROXY_CPU, load CPU $LOAD_CPU"
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#CLIST[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${CLIST[$(((i + r - 1) % n))]}"); done
	log "round $r/$ROUNDS, order: ${order[*]}"
	for m in $MEASURES; do
		for c in "${order[@]}"; do
			[[ -n ${SKIP[$c]:-} || -n ${CANNOT[$c/$m]:-} ]] && continue
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
	[[ -n $PENSTOCK_SRC && -z ${SKIP[penstock]:-} ]] && echo "- penstock: $PENSTOCK_SRC; \`penstock http|tcp --listen A --to B --tls-cert C --tls-key K ${PENSTOCK_FLAGS[*]:-}\`${PENSTOCK_SNDBUF[*]:+ (stream: ${PENSTOCK_SNDBUF[*]})}"
	echo "- $(ver nginx -v); $(ver haproxy -v); $(ver openssl version); caddy $(ver caddy version) ($(go version "$(command -v caddy)" 2>/dev/null | awk '{print $2}')); $(ver wrk -v | sed 's/ Copyright.*//')"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); command: \`$CMDLINE\`; rounds: $ROUNDS"
	echo "- settings: certificate ECDSA P-256 (self-signed, made for the run); keepalive wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DUR (after a $WARMUP_DUR warm-up);" \
		"handshakes tlsload conns -c $HS_CONNS -d $HS_DUR (after $HS_WARM); stream $STREAM_BYTES (nginx proxy_buffer_size $NGINX_STREAM_BUFFER, HAProxy tune.bufsize $HAPROXY_BUFSIZE, SO_SNDBUF $STREAM_SNDBUF for each (0: autotuning)); idle $IDLE_CONNS connections"
	echo "- pinning: proxy on CPU $PROXY_CPU (taskset, 1 worker/thread; GOMAXPROCS=1 for Caddy, penstock its default: one P for one CPU), wrk, tlsload, the nginx backend and the sink on CPU $LOAD_CPU"
	echo "- raw data: ${RAW#"$ROOT"/}"
} >"$TMP/machine.md"

"$TLSLOAD" table -contenders "$CONTENDERS" -self penstock -busy-pct "$OTHER_PCT" \
	-raw "$RAW" -machine "$TMP/machine.md" -out "$RESULTS_DIR/tls-latest.md"
log "wrote $RESULTS_DIR/tls-latest.md and $RAW"
exit 0
}
