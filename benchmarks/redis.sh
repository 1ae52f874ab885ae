#!/usr/bin/env bash
# Sharded Redis side by side: penstock's Redis proxy against twemproxy
# (Debian's nutcracker 0.5), both in front of the same two redis-servers,
# the proxy pinned to CPU 0 and redis-benchmark plus the servers to CPU 1:
#
#   redis-benchmark -t set,get -P 16 -c 50 -n N
#
# ROUNDS rounds (default 5) interleave the two; the medians and the ratio go
# to stdout as a markdown table. PENSTOCK_BIN=path runs that binary instead
# of building ./tools/penstock; PENSTOCK_BEFORE=path adds it as a third
# contender ("before"), interleaved with the others, for before/after rows.
# Needs redis-server, redis-tools and nutcracker (apt-get install -y redis-server redis-tools nutcracker).
# Ports 25001-25004 on 127.0.0.1; every process is started here in the
# foreground and stopped by PID.
set -euo pipefail
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
N=${N:-400000}
BASE=25001 NEED="redis-server redis-benchmark nutcracker"
# shellcheck source=benchmarks/redis-lib.sh
source "$ROOT/benchmarks/redis-lib.sh"
WHO="penstock twemproxy"
if [[ -n ${PENSTOCK_BEFORE:-} ]]; then
	cp "$PENSTOCK_BEFORE" "$TMP/before"
	WHO="penstock before twemproxy"
fi
bench() { # bench PORT -> "SET GET" requests/s
	taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -P 16 -c 50 -n "$N" -q 2>/dev/null |
		tr '\r' '\n' | awk '/^SET:/ {s=$2} /^GET:/ {g=$2} END {print s, g}'
}
: >"$TMP/penstock.txt"; : >"$TMP/before.txt"; : >"$TMP/twemproxy.txt"
for r in $(seq 1 "$ROUNDS"); do
	for who in $WHO; do
		if [[ $who == penstock || $who == before ]]; then
			GOGC=${GOGC:-} taskset -c 0 "$TMP/$who" redis --listen 127.0.0.1:25004 --to 127.0.0.1:25001,127.0.0.1:25002 --loops 1 --log-level warn 2>"$TMP/p.log" &
			pid=$!; port=25004
		else
			taskset -c 0 nutcracker -c "$TMP/nutcracker.yml" -p "$TMP/n.pid" -o "$TMP/n.log" &
			pid=$!; port=25003
		fi
		PIDS+=($pid)
		sleep 0.5
		echo "$(bench $port)" >>"$TMP/$who.txt"
		kill "$pid"; wait "$pid" 2>/dev/null || true
	done
done
ps=$(awk '{print $1}' "$TMP/penstock.txt" | median); pg=$(awk '{print $2}' "$TMP/penstock.txt" | median)
ts=$(awk '{print $1}' "$TMP/twemproxy.txt" | median); tg=$(awk '{print $2}' "$TMP/twemproxy.txt" | median)
echo "| redis-benchmark -P 16 -c 50, two shards | penstock | twemproxy 0.5 | penstock/twemproxy |"
echo "|---|---|---|---|"
printf '| SET requests/s | %.0f | %.0f | %.2f |\n' "$ps" "$ts" "$(echo "$ps / $ts" | bc -l)"
printf '| GET requests/s | %.0f | %.0f | %.2f |\n' "$pg" "$tg" "$(echo "$pg / $tg" | bc -l)"
if [[ -n ${PENSTOCK_BEFORE:-} ]]; then
	bs=$(awk '{print $1}' "$TMP/before.txt" | median); bg=$(awk '{print $2}' "$TMP/before.txt" | median)
	echo
	echo "| the same, before and after | penstock | before | penstock/before | before/twemproxy |"
	echo "|---|---|---|---|---|"
	printf '| SET requests/s | %.0f | %.0f | %.2f | %.2f |\n' "$ps" "$bs" "$(echo "$ps / $bs" | bc -l)" "$(echo "$bs / $ts" | bc -l)"
	printf '| GET requests/s | %.0f | %.0f | %.2f | %.2f |\n' "$pg" "$bg" "$(echo "$pg / $bg" | bc -l)" "$(echo "$bg / $tg" | bc -l)"
fi
echo
echo "rounds: $ROUNDS, -n $N; raw (SET GET) penstock: $(tr '\n' ';' <"$TMP/penstock.txt") before: $(tr '\n' ';' <"$TMP/before.txt") twemproxy: $(tr '\n' ';' <"$TMP/twemproxy.txt")"
}
