# Shared by redis.sh and redis-large.sh: sourced after ROOT is set, with
# BASE the first of four ports on 127.0.0.1 (two redis-servers, then
# twemproxy, then penstock) and NEED the commands the script runs. It
# makes TMP (removed on exit, with every process in PIDS stopped by PID),
# checks the commands and ports, puts the penstock binary at
# $TMP/penstock (PENSTOCK_BIN, or a build of ./tools/penstock), starts the
# two redis-servers on CPU 1 and writes twemproxy's config
# $TMP/nutcracker.yml (fnv1a_64, ketama). It defines median.
TMP=$(mktemp -d /tmp/penstock-redis.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
for b in $NEED; do
	command -v "$b" >/dev/null || { echo "missing $b: apt-get install -y redis-server redis-tools nutcracker" >&2; exit 1; }
done
for p in $BASE $((BASE + 1)) $((BASE + 2)) $((BASE + 3)); do
	if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done
if [[ -n ${PENSTOCK_BIN:-} ]]; then
	cp "$PENSTOCK_BIN" "$TMP/penstock"
else
	(cd "$ROOT" && go build -o "$TMP/penstock" ./tools/penstock)
fi
for port in $BASE $((BASE + 1)); do
	taskset -c 1 redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --daemonize no --loglevel warning >"$TMP/redis-$port.log" 2>&1 &
	PIDS+=($!)
done
cat >"$TMP/nutcracker.yml" <<CFG
pool:
  listen: 127.0.0.1:$((BASE + 2))
  hash: fnv1a_64
  distribution: ketama
  redis: true
  servers:
    - 127.0.0.1:$BASE:1
    - 127.0.0.1:$((BASE + 1)):1
CFG
sleep 0.5
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
