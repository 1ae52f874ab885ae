#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10m),
# JOBS at a time (default 1), and prints one line per target: the package,
# the target, and whether it found a failure. New crashers are left in the
# package's testdata/fuzz/<Target>/ to be committed as regression seeds.
#
#   FUZZTIME=10m JOBS=2 bash tools/fuzzall.sh [package pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
jobs=${JOBS:-1}
pattern=${1:-./...}
logdir=$(mktemp -d /tmp/penstock-fuzz.XXXXXX)
targets=()
for pkg in $(go list "$pattern"); do
  for t in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    targets+=("$pkg $t")
  done
done
echo "fuzzing ${#targets[@]} targets for $fuzztime each, $jobs at a time; logs in $logdir"
run() {
  local pkg=$1 t=$2 log="$logdir/$(basename "$1")-$2.log"
  if go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" >"$log" 2>&1; then
    echo "ok    $pkg $t $(grep -o 'execs: [0-9]*' "$log" | tail -1)"
  else
    echo "FAIL  $pkg $t (see $log)"
  fi
}
active=0
for entry in "${targets[@]}"; do
  run $entry &
  active=$((active + 1))
  if [ "$active" -ge "$jobs" ]; then
    wait -n
    active=$((active - 1))
  fi
done
wait
