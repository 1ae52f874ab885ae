#!/usr/bin/env bash
# What giving gnet a raw, already connected descriptor would buy the TCP
# relay's connection rate. Stock gnet v2.10.0 only takes an upstream socket
# as a *net.TCPConn (EventLoop.Enroll), which costs Go's poller registration,
# address reads, a dup and a close, and hand-offs through a dial goroutine,
# Go's netpoller and gnet's pool goroutine. This script builds a throwaway
# penstock against a copy of gnet with a 6-line RegisterFD (gnet.patch),
# where the relay connects non-blocking on the loop and, when the connect has
# completed at once (loopback), registers the socket on the loop directly
# (penstock.patch). Nothing of it reaches the module: DESIGN.md rules out a
# fork or a replace directive; this is evidence for that decision.
#
# It runs `l4load connrate` against main penstock, the patched one and
# HAProxy, interleaved, each pinned to PROXY_CPU with the load and the echo
# backend on LOAD_CPU, and prints medians. Everything it starts is stopped
# by PID; the temp dir is removed at the end.
#
#   ROUNDS=5  CONNRATE_C=32  CONNRATE_DUR=5s  PROXY_CPU=0  LOAD_CPU=1
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
BENCH_NAME=rawfd TMP_PREFIX=penstock-rawfd KEEP_TMP=${KEEP_TMP:-0}
QUIET_PCT=${QUIET_PCT:-10} QUIET_WAIT=${QUIET_WAIT:-30}
ROUNDS=${ROUNDS:-5} CONNRATE_C=${CONNRATE_C:-32} CONNRATE_DUR=${CONNRATE_DUR:-5s}
PROXY_CPU=${PROXY_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
# shellcheck source=../../lib.sh
source "$ROOT/benchmarks/lib.sh"

GNET=$(go env GOMODCACHE)/github.com/panjf2000/gnet/v2@v2.10.0
[[ -d $GNET ]] || go mod download github.com/panjf2000/gnet/v2@v2.10.0
log "building main penstock, the patched one and l4load into $TMP"
go build -o "$TMP/penstock-main" ./tools/penstock
go build -o "$TMP/l4load" ./benchmarks/cmd/l4load
cp -r "$GNET" "$TMP/gnet" && chmod -R u+w "$TMP/gnet"
patch -s -d "$TMP/gnet" -p1 <benchmarks/experiments/rawfd/gnet.patch
mkdir "$TMP/src"
git archive HEAD | tar -x -C "$TMP/src"
(
	cd "$TMP/src"
	git apply "$ROOT/benchmarks/experiments/rawfd/penstock.patch"
	go mod edit -replace "github.com/panjf2000/gnet/v2=$TMP/gnet"
	go build -o "$TMP/penstock-rawfd" ./tools/penstock
)

PORT=${PORT:-27311} BACKEND=${BACKEND:-27312}
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9500
defaults
    mode tcp
    maxconn 9500
    timeout connect 5s
    timeout client 120s
    timeout server 120s
listen echo
    bind 127.0.0.1:$PORT
    server echo 127.0.0.1:$BACKEND
EOF

start echo "$LOAD_CPU" "$TMP/l4load" echo-server -tcp "127.0.0.1:$BACKEND"
wait_listen "$BACKEND" "$LAST_PID" || { log "echo server did not start"; exit 1; }

run_one() { # run_one NAME: one connrate measure; prints "NAME conn/s us/conn"
	local name=$1 pid out
	case $name in
	haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$TMP/haproxy.cfg" ;;
	*) start "$name" "$PROXY_CPU" "$TMP/$name" tcp --listen "127.0.0.1:$PORT" --to "127.0.0.1:$BACKEND" --loops 1 --log-level warn ;;
	esac
	pid=$LAST_PID
	wait_listen "$PORT" "$pid" || { log "$name did not start"; exit 1; }
	wait_quiet
	out=$(taskset -c "$LOAD_CPU" "$TMP/l4load" connrate -addr "127.0.0.1:$PORT" -c "$CONNRATE_C" -d "$CONNRATE_DUR" -pid "$pid")
	stop_pid "$pid"
	forget "$pid"
	log "$name: $out"
	python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(sys.argv[1], d["conns_per_s"], d["proxy_cpu_us_per_conn"])' "$name" "$out" >>"$TMP/results"
}

names=(penstock-main penstock-rawfd haproxy)
for ((r = 0; r < ROUNDS; r++)); do
	log "round $((r + 1))/$ROUNDS"
	for ((i = 0; i < ${#names[@]}; i++)); do
		run_one "${names[(i + r) % ${#names[@]}]}"
	done
done

python3 - "$TMP/results" "$ROUNDS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rate, us = line.split()
    rows.setdefault(name, []).append((float(rate), float(us)))
med = {n: (statistics.median(r for r, _ in v), statistics.median(u for _, u in v)) for n, v in rows.items()}
h = med["haproxy"]
print(f"connrate -c 32, {sys.argv[2]} interleaved rounds, medians:")
print("| proxy | conn/s | proxy CPU us per connection | conn/s vs HAProxy |")
print("|---|---|---|---|")
for n in ("penstock-main", "penstock-rawfd", "haproxy"):
    r, u = med[n]
    print(f"| {n} | {r:.0f} | {u:.1f} | {r / h[0]:.2f} |")
EOF
