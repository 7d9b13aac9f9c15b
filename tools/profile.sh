#!/usr/bin/env bash
# Where the CPU engine's time goes, measured so that other work on the machine
# does not distort it: `perf stat` counts this process's own cycles and
# instructions (not wall time), and `perf record` samples only this process.
#
#   tools/profile.sh [-b BUILD_DIR] [-t THREADS] [-p PROMPT] [-n GEN] MODEL.gguf
#
# Runs `kiln bench MODEL -p PROMPT -n 0` (prefill only) and `-p 0 -n GEN`
# (decode only) under perf stat, then perf record on each, and prints the top
# symbols. Defaults: build/, 1 thread (a single thread's cycles are the
# cleanest number on a shared machine; 2-thread runs add spin-wait cycles
# whenever the other thread is descheduled), -p 256, -n 64.
# KILN_REPACK=0 in the environment compares against the unpacked weights.
# Needs linux perf (apt-get install linux-perf) and perf_event_paranoid <= 2.
set -euo pipefail

build=build threads=1 prompt=256 gen=64
while getopts "b:t:p:n:" opt; do
  case $opt in
    b) build=$OPTARG ;;
    t) threads=$OPTARG ;;
    p) prompt=$OPTARG ;;
    n) gen=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 1 ]] || { sed -n '2,16p' "$0"; exit 2; }
model=$1
kiln=$build/kiln
[[ -x $kiln ]] || { echo "no $kiln: build the kiln target first" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }

out=$(mktemp -d /tmp/kiln-profile.XXXXXX)
run() {  # name, kiln bench args...
  local name=$1
  shift
  echo "== $name: kiln bench $* (threads $threads)"
  perf stat -e task-clock,cycles,instructions -o "$out/$name.stat" \
    "$kiln" bench "$model" -t "$threads" -r 3 "$@"
  grep -E "task-clock|cycles|instructions" "$out/$name.stat"
  perf record -q -o "$out/$name.data" "$kiln" bench "$model" -t "$threads" -r 3 "$@" >/dev/null 2>&1
  perf report -q -i "$out/$name.data" --no-children --sort symbol 2>/dev/null | head -20 | cut -c1-140
}
run prefill -p "$prompt" -n 0
run decode -p 0 -n "$gen"
echo "perf data kept in $out"
