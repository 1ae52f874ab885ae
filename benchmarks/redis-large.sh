#!/usr/bin/env bash
# Large Redis values side by side: penstock's Redis proxy against twemproxy
# (Debian's nutcracker 0.5), both in front of the same two redis-servers,
# the proxy pinned to CPU 0 and the client plus the servers to CPU 1.
# benchmarks/cmd/redisbig times, on one connection, SET then GET of one
# value of each of SIZES MiB (default 8,16,32,64), and MSET then MGET of
# five values of 16 MiB; ROUNDS rounds (default 5) interleave the proxies.
# The medians and ratios go to stdout as a markdown table; the issue-15
# target is the 64 MiB SET+GET row at most 2x twemproxy.
# PENSTOCK_BIN=path runs that binary instead of building ./tools/penstock.
# Needs redis-server and nutcracker (apt-get install -y redis-server nutcracker).
# Ports 25011-25014 on 127.0.0.1; every process is started here in the
# foreground and stopped by PID.
set -euo pipefail
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
SIZES=${SIZES:-8,16,32,64}
BASE=25011 NEED="redis-server nutcracker"
# shellcheck source=benchmarks/redis-lib.sh
source "$ROOT/benchmarks/redis-lib.sh"
(cd "$ROOT" && go build -o "$TMP/redisbig" ./benchmarks/cmd/redisbig)
for r in $(seq 1 "$ROUNDS"); do
	for who in penstock twemproxy; do
		if [[ $who == penstock ]]; then
			taskset -c 0 "$TMP/penstock" redis --listen 127.0.0.1:25014 --to 127.0.0.1:25011,127.0.0.1:25012 --loops 1 --log-level warn 2>"$TMP/p.log" &
			pid=$!; port=25014
		else
			# -m 65536: twemproxy's test suite runs its large values with 64 KiB mbufs.
			taskset -c 0 nutcracker -c "$TMP/nutcracker.yml" -p "$TMP/n.pid" -o "$TMP/n.log" -m 65536 &
			pid=$!; port=25013
		fi
		PIDS+=($pid)
		sleep 0.5
		taskset -c 1 "$TMP/redisbig" -addr 127.0.0.1:$port -sizes "$SIZES" -mset 16 | sed "s/^/$who /" >>"$TMP/all.txt"
		# The proxy's peak resident memory over the round, in MB.
		awk '/^VmHWM:/ {print $2 / 1000}' "/proc/$pid/status" >>"$TMP/$who.rss"
		kill "$pid"; wait "$pid" 2>/dev/null || true
	done
done
echo "| seconds, median of $ROUNDS | penstock | twemproxy 0.5 | penstock/twemproxy |"
echo "|---|---|---|---|"
row() { # row LABEL SIZE OPS...
	local label=$1 size=$2; shift 2
	local p t
	p=$(for op in "$@"; do awk -v s="$size" -v o="$op" '$1=="penstock" && $2==s && $3==o {print $4}' "$TMP/all.txt" | tr '\n' ' '; echo; done |
		awk '{for (i=1;i<=NF;i++) v[i]+=$i; n=NF} END {for (i=1;i<=n;i++) print v[i]}' | median)
	t=$(for op in "$@"; do awk -v s="$size" -v o="$op" '$1=="twemproxy" && $2==s && $3==o {print $4}' "$TMP/all.txt" | tr '\n' ' '; echo; done |
		awk '{for (i=1;i<=NF;i++) v[i]+=$i; n=NF} END {for (i=1;i<=n;i++) print v[i]}' | median)
	printf '| %s | %.3f | %.3f | %.2f |\n' "$label" "$p" "$t" "$(echo "$p / $t" | bc -l)"
}
for s in ${SIZES//,/ }; do
	row "SET $s MiB" "$s" SET
	row "GET $s MiB" "$s" GET
	row "SET+GET $s MiB" "$s" SET GET
done
row "MSET 5 x 16 MiB" 16 MSETx5
row "MGET 5 x 16 MiB" 16 MGETx5
pr=$(median <"$TMP/penstock.rss"); tr_=$(median <"$TMP/twemproxy.rss")
printf '| peak RSS over a round, MB | %.0f | %.0f | %.2f |\n' "$pr" "$tr_" "$(echo "$pr / $tr_" | bc -l)"
echo
echo "raw (who size op seconds):"
tr '\n' ';' <"$TMP/all.txt"; echo
}
