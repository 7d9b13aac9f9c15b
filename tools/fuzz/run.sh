#!/usr/bin/env bash
# Builds one libFuzzer target with clang (libFuzzer + ASan + UBSan) and runs it
# on one core for the given number of seconds (default 60).
#   tools/fuzz/run.sh [target] [seconds]      target: gguf (default), store,
#                                             template, grammar, json, tokenizer
#   tools/fuzz/run.sh [seconds]               the GGUF target (older form)
# Seeds: gguf from tests/fixtures/gguf/{malformed,valid}; the others from
# tools/fuzz/corpus_<target>/. The working corpus is a copy under the build
# dir, so what the fuzzer adds does not touch the tree.
# Env: KILN_FUZZ_BUILD (build dir, default build-fuzz), KILN_NATIVE (ON/OFF),
# KILN_FUZZ_ARGS (extra libFuzzer flags). Crashing inputs land in
# $KILN_FUZZ_BUILD/fuzz/<target>/artifacts/; the log in .../fuzz-0.log.
set -euo pipefail
target=gguf
if [[ $# -gt 0 && ! "$1" =~ ^[0-9]+$ ]]; then target="$1"; shift; fi
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${KILN_FUZZ_BUILD:-$root/build-fuzz}"

# Inputs longer than this add time per run without reaching new code.
case "$target" in
  gguf) max_len=4096 ;;
  template) max_len=8192 ;;  # real chat templates are 1.5-7 KB
  store | json) max_len=4096 ;;
  grammar | tokenizer) max_len=2048 ;;
  *) echo "unknown fuzz target '$target' (gguf store template grammar json tokenizer)" >&2; exit 2 ;;
esac

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKILN_FUZZ=ON -DKILN_TESTS=OFF -DKILN_BENCH=OFF -DKILN_NATIVE="${KILN_NATIVE:-ON}" >/dev/null
cmake --build "$build" --target "fuzz_$target" -j2

work="$build/fuzz/$target"
corpus="$work/corpus"
mkdir -p "$corpus" "$work/artifacts"
if [[ "$target" == gguf ]]; then
  cp "$root"/tests/fixtures/gguf/malformed/*.gguf "$root"/tests/fixtures/gguf/valid/*.gguf "$corpus"/
else
  cp "$root/tools/fuzz/corpus_$target"/* "$corpus"/
fi
dict=()
if [[ -f "$root/tools/fuzz/$target.dict" ]]; then dict=(-dict="$root/tools/fuzz/$target.dict"); fi

cd "$work"
rm -f fuzz-0.log
status=0
# shellcheck disable=SC2086
"$build/tools/fuzz/fuzz_$target" "$corpus" "${dict[@]}" \
  -max_total_time="$seconds" -jobs=1 -workers=1 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 ${KILN_FUZZ_ARGS:-} || status=$?
tail -n 40 fuzz-0.log || true
echo "fuzz_$target exit status: $status; artifacts: $(ls "$work/artifacts" | wc -l) in $work/artifacts"
exit "$status"
