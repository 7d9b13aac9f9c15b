#!/usr/bin/env bash
# Builds the GGUF fuzzer with clang (libFuzzer + ASan + UBSan) and runs it on
# one core for the given number of seconds (default 60), seeded with the
# malformed corpus and the small valid fixtures.
#   tools/fuzz/run.sh [seconds]
# Env: KILN_FUZZ_BUILD (build dir, default build-fuzz), KILN_NATIVE (ON/OFF).
# Crashing inputs land in $KILN_FUZZ_BUILD/fuzz/artifacts/; the log in
# $KILN_FUZZ_BUILD/fuzz/fuzz-0.log.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${KILN_FUZZ_BUILD:-$root/build-fuzz}"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKILN_FUZZ=ON -DKILN_TESTS=OFF -DKILN_NATIVE="${KILN_NATIVE:-ON}" >/dev/null
cmake --build "$build" --target fuzz_gguf -j2

work="$build/fuzz"
corpus="$work/corpus_gguf"
mkdir -p "$corpus" "$work/artifacts"
cp "$root"/tests/fixtures/gguf/malformed/*.gguf "$root"/tests/fixtures/gguf/valid/*.gguf "$corpus"/

cd "$work"
rm -f fuzz-0.log
status=0
"$build/tools/fuzz/fuzz_gguf" "$corpus" -dict="$root/tools/fuzz/gguf.dict" \
  -max_total_time="$seconds" -jobs=1 -workers=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 || status=$?
tail -n 40 fuzz-0.log || true
echo "fuzz_gguf exit status: $status; artifacts: $(ls "$work/artifacts" | wc -l) in $work/artifacts"
exit "$status"
