#!/usr/bin/env bash
# Side-by-side HTTP/2 proxy benchmark: h2load -c16 -m10 over h2c (prior
# knowledge) through penstock, HAProxy 2.6 and nginx 1.22, each with one
# worker pinned to CPU 0, to an nginx backend on CPU 1 (HTTP/1.1 and h2c).
# Every contender in every round, the order rotating; a fresh proxy per
# test; the quiet-machine wait of lib.sh; medians with min-max. See
# benchmarks/README.md (HTTP/2).
#
#   bash benchmarks/h2.sh            # 5 rounds of 5 s: about 3 minutes
#   ROUNDS=1 DUR=3 bash benchmarks/h2.sh
#
# Measures (proxy CPU per request over all its processes, and requests/s;
# the load generator shares CPU 1 with the backend, so where it saturates
# first the CPU column is the one to compare):
#   h2_h2   h2c in front, h2c to the backend: penstock (protocol: h2c) and
#           HAProxy (proto h2 both sides); nginx cannot (no HTTP/2 upstream)
#   h2_h1   h2c in front, HTTP/1.1 to the backend: all three
#   h2tls   h2 over TLS 1.3 in front (ALPN; one ECDSA P-256 certificate made
#           for the run, AES-128-GCM), HTTP/1.1 to the backend: all three
#   idle    memory per idle HTTP/2 connection: IDLE_CONNS h2c connections,
#           one GET each, then idle; RSS growth of the proxy (all its
#           processes) per connection, in KB (benchmarks/cmd/h2idle)
#
# Environment: ROUNDS=5 DUR=5 (seconds per test) CONNS=16 STREAMS=10 IDLE_CONNS=3000
# MEASURES="h2_h2 h2_h1 h2tls idle"
# CONTENDERS="penstock haproxy nginx caddy" PENSTOCK_BIN=path KEEP_TMP=1
# (contender penstock_b runs PENSTOCK_B_BIN, another build, side by side:
# an A/B of a change, its ratio in the peers' table)
# (Caddy 2.6, the Go peer: GOMAXPROCS=1, h2c and h2 in front, HTTP/1.1 or
# h2c to the backend; it joins only when installed)
# QUIET_PCT=10 QUIET_WAIT=120 PROXY_CPU=0 LOAD_CPU=1
# RESULTS_DIR=benchmarks/results (writes h2-latest.md).
# Ports 28101 (backend HTTP/1.1), 28102 (backend h2c), 28111 (the proxy).
set -euo pipefail
{
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-10}
IDLE_CONNS=${IDLE_CONNS:-3000}
MEASURES=${MEASURES:-"h2_h2 h2_h1 h2tls idle"}
CONTENDERS=${CONTENDERS:-"penstock haproxy nginx caddy"}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_WAIT=${QUIET_WAIT:-120}
KEEP_TMP=${KEEP_TMP:-0}
H1_PORT=28101
H2_PORT=28102
PORT=28111
BENCH_NAME=h2.sh
TMP_PREFIX=penstock-h2
# shellcheck source=benchmarks/lib.sh
source "$HERE/lib.sh"

if [[ " $CONTENDERS " == *" caddy "* ]] && ! command -v caddy >/dev/null; then
	log "caddy not installed (apt-get install -y caddy): running without it"
	CONTENDERS=${CONTENDERS//caddy/}
fi
for tool in h2load nginx haproxy taskset ss go; do
	command -v "$tool" >/dev/null || { log "missing $tool: apt-get install -y nghttp2-client nginx haproxy"; exit 1; }
done
for port in $H1_PORT $H2_PORT $PORT; do
	[[ -z $(ss -Hlnt "sport = :$port") ]] || { log "port $port is in use (ss -lntp)"; exit 1; }
done

PENSTOCK=${PENSTOCK_BIN:-}
if [[ -z $PENSTOCK ]]; then
	log "building penstock"
	go build -o "$TMP/penstock" ./tools/penstock
	PENSTOCK=$TMP/penstock
fi
go build -o "$TMP/h2idle" ./benchmarks/cmd/h2idle
CERT=$TMP/cert.pem KEY=$TMP/key.pem PEM=$TMP/both.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$KEY" -out "$CERT" >"$TMP/openssl.log" 2>&1
cat "$CERT" "$KEY" >"$PEM"
ulimit -n 20000 2>/dev/null || true

render() { # render TEMPLATE OUT key=value...
	local tpl=$1 out=$2 args=() kv
	shift 2
	for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${args[@]}" "$tpl" >"$out"
}

mkdir -p "$TMP/backend"
render "$HERE/h2/nginx-upstream.conf" "$TMP/backend/nginx.conf" H1_PORT=$H1_PORT H2_PORT=$H2_PORT PREFIX="$TMP/backend"
start backend "$LOAD_CPU" nginx -g 'daemon off;' -c "$TMP/backend/nginx.conf" -p "$TMP/backend/" -e "$TMP/backend/error.log"
wait_listen $H2_PORT "$LAST_PID" || { log "backend did not start: $(cat "$TMP/backend.log")"; exit 1; }

# cpu_ticks PID: utime+stime of PID and its children, in clock ticks.
cpu_ticks() {
	local t=0 p
	for p in "$1" $(ps -o pid= --ppid "$1"); do
		t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

# start_proxy CONTENDER MEASURE: starts it on PORT; sets PROXY_PID.
start_proxy() {
	local c=$1 m=$2 dir="$TMP/$1-$2"
	mkdir -p "$dir"
	case $c in
	penstock | penstock_b)
		local up=$H1_PORT proto=http1 tls="" bin=$PENSTOCK
		[[ $c == penstock_b ]] && bin=$PENSTOCK_B_BIN
		[[ $m == h2_h2 ]] && up=$H2_PORT proto=h2c
		[[ $m == h2tls ]] && tls="      - {kind: tls, certificates: [{cert: $CERT, key: $KEY}]}"
		render "$HERE/h2/penstock.yaml" "$dir/penstock.yaml" PORT=$PORT UP_PORT=$up UP_PROTOCOL=$proto TLS_STAGE="$tls"
		start "$c-$m" "$PROXY_CPU" "$bin" run -c "$dir/penstock.yaml" ;;
	haproxy)
		local up=$H1_PORT proto="" bind="proto h2"
		[[ $m == h2_h2 ]] && up=$H2_PORT proto="proto h2"
		[[ $m == h2tls ]] && bind="ssl crt $PEM alpn h2,http/1.1"
		render "$HERE/h2/haproxy.cfg" "$dir/haproxy.cfg" PORT=$PORT UP_PORT=$up UP_PROTO="$proto" BIND="$bind"
		start "$c-$m" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" ;;
	caddy)
		local up=$H1_PORT versions='"1.1"' policy=""
		[[ $m == h2_h2 ]] && up=$H2_PORT versions='"h2c"'
		[[ $m == h2tls ]] && policy='"tls_connection_policies": [{"certificate_selection": {"any_tag": ["bench"]}, "alpn": ["h2", "http/1.1"]}],'
		render "$HERE/h2/caddy.json" "$dir/caddy.json" PORT=$PORT UP_PORT=$up VERSIONS="$versions" TLS_POLICY="$policy" PREFIX="$dir" CERT="$CERT" KEY="$KEY"
		start "$c-$m" "$PROXY_CPU" env GOMAXPROCS=1 HOME="$dir" XDG_DATA_HOME="$dir" XDG_CONFIG_HOME="$dir" caddy run --config "$dir/caddy.json" ;;
	nginx)
		local listen=http2
		[[ $m == h2tls ]] && listen="ssl http2"
		render "$HERE/h2/nginx-proxy.conf" "$dir/nginx.conf" PORT=$PORT H1_PORT=$H1_PORT PREFIX="$dir" LISTEN="$listen" CERT="$CERT" KEY="$KEY"
		start "$c-$m" "$PROXY_CPU" nginx -g 'daemon off;' -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log" ;;
	esac
	PROXY_PID=$LAST_PID
	wait_listen $PORT "$PROXY_PID" || { log "$c did not start: $(tail -c 400 "$TMP/$c-$m.log")"; return 1; }
}

mkdir -p "$RESULTS_DIR"
RAW="$TMP/raw.txt"
: >"$RAW"
read -r -a CS <<<"$CONTENDERS"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${CS[@]:r%${#CS[@]}}" "${CS[@]:0:r%${#CS[@]}}")
	log "round $r/$ROUNDS, order: ${order[*]}"
	for m in $MEASURES; do
		for c in "${order[@]}"; do
			[[ $c == nginx && $m == h2_h2 ]] && continue
			wait_quiet
			if [[ $m == idle ]]; then
				start_proxy "$c" h2_h1 || continue
				kb=$(taskset -c "$LOAD_CPU" "$TMP/h2idle" -addr "127.0.0.1:$PORT" -pid "$PROXY_PID" -n "$IDLE_CONNS" | awk '{print $1}')
				log "  $c idle: $kb KB per idle HTTP/2 connection"
				echo "idle $c ${kb:-nan} 0 0" >>"$RAW"
				stop_pid "$PROXY_PID"
				forget "$PROXY_PID"
				continue
			fi
			start_proxy "$c" "$m" || continue
			url=http://127.0.0.1:$PORT/
			[[ $m == h2tls ]] && url=https://127.0.0.1:$PORT/
			taskset -c "$LOAD_CPU" h2load -c"$CONNS" -m"$STREAMS" -n 20000 "$url" >/dev/null 2>&1 || true
			a=$(cpu_ticks "$PROXY_PID")
			out=$(taskset -c "$LOAD_CPU" h2load -c"$CONNS" -m"$STREAMS" -D "$DUR" "$url" 2>&1 || true)
			b=$(cpu_ticks "$PROXY_PID")
			ok=$(awk '/^requests:/ {print $8}' <<<"$out")
			failed=$(awk '/^requests:/ {print $10}' <<<"$out")
			rps=$(awk '/^finished in/ {print $4}' <<<"$out")
			us=$(awk -v a="$a" -v b="$b" -v n="${ok:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n; else print "nan" }')
			log "  $c $m: $us us/request, $rps req/s, $ok ok, ${failed:-?} failed"
			echo "$m $c $us $rps ${failed:-0}" >>"$RAW"
			stop_pid "$PROXY_PID"
			forget "$PROXY_PID"
		done
	done
done

OUT="$RESULTS_DIR/h2-latest.md"
{
	echo "## HTTP/2 proxy benchmark"
	echo
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), penstock at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $ROUNDS interleaved rounds of ${DUR}s:"
	echo "\`h2load -c$CONNS -m$STREAMS\` over h2c; proxy on CPU $PROXY_CPU (one worker), load and backend on CPU $LOAD_CPU."
	echo "Medians (min-max); CPU is the proxy's, all its processes. For \`idle\` the CPU column is KB per idle HTTP/2 connection ($IDLE_CONNS connections)."
	echo
	echo "| measure | contender | proxy CPU per request (us) | requests/s | failed |"
	echo "|---|---|---|---|---|"
	awk '{k=$1" "$2; cpu[k]=cpu[k]" "$3; rps[k]=rps[k]" "$4; f[k]+=$5} END {for (k in cpu) print k, cpu[k], "|", rps[k], "|", f[k]}' "$RAW" | sort |
		while read -r m c rest; do
			cpus=${rest%%|*}; rest=${rest#*| }; rpss=${rest%%|*}; fails=${rest#*| }
			stat() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.1f (%.1f-%.1f)", m, v[1], v[NR]}'; }
			echo "| $m | $c | $(stat "$cpus") | $(stat "$rpss") | $fails |"
		done
	echo
	echo "penstock's median over each peer's (CPU: below 1 is better; requests/s: above 1 is better):"
	echo
	echo "| measure | peer | CPU per request | requests/s |"
	echo "|---|---|---|---|"
	awk '
		function median(list,   n, v, i, j, t) {
			n = split(list, v, " ")
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
			return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		{ cpu[$1 " " $2] = cpu[$1 " " $2] " " $3; rps[$1 " " $2] = rps[$1 " " $2] " " $4; m[$1] = 1; c[$2] = 1 }
		END {
			for (mm in m) for (cc in c) {
				if (cc == "penstock" || !((mm " " cc) in cpu) || !((mm " penstock") in cpu)) continue
				r = (median(rps[mm " " cc]) > 0) ? sprintf("%.2f", median(rps[mm " penstock"]) / median(rps[mm " " cc])) : "-"
				printf "| %s | %s | %.2f | %s |\n", mm, cc, median(cpu[mm " penstock"]) / median(cpu[mm " " cc]), r
			}
		}' "$RAW" | sort
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
}
