#!/usr/bin/env bash
# The CUDA backend's whole check on a GPU machine, in one go:
#   CUDA op tests (tests/backend: cuda_ops_test.cpp and the op-level harness on
#   "cuda"), random-weight models of real shapes written by `kiln synth`,
#   teacher-forced GPU-vs-CPU logits on them (top-1 >= 99%, KL <= 0.005), and
#   decode / prefill speed; one table at the end, logs under $OUT.
#
#   scripts/gpu_check.sh pack   (on a build machine: nvcc, the project's
#                                libraries) builds test_backend and
#                                bench_cuda_model into build-cuda-pack/ and
#                                copies them with the shared libraries a bare
#                                CUDA image lacks into build-gpupack/.
#   scripts/gpu_check.sh [run]  (on the GPU machine) uses build-gpupack/ when
#                                it is there, else configures and builds
#                                build-gpu (Release, KILN_CUDA=ON, sm_90, -j16).
#
# Environment: OUT (default ./gpu-check-out), KILN_GPU_ARCH (default 90 for
# the build on the GPU machine; pack keeps its build dir's), PACK_BUILD_DIR,
# GPU_CHECK_BIG=0 skips the 8B model, GPU_CHECK_Q8=1 adds 8B Q8_0,
# GPU_CHECK_PROFILE=1 adds the per-op profile (KILN_CUDA_PROFILE=1, which
# runs op by op: no CUDA graphs), GPU_CHECK_EXACT=1 the f32-activation
# mat-vec's speed.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
arch=${KILN_GPU_ARCH:-90}
pack=build-gpupack

if [[ $mode == pack ]]; then
  set -e
  # KILN_NATIVE=OFF: the GPU machine's CPU may lack this one's instructions
  # (the CPU kernels still pick AVX2/AVX-512 at run time).
  bdir=${PACK_BUILD_DIR:-build-cuda-pack}
  cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_NATIVE=OFF \
    ${KILN_GPU_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$KILN_GPU_ARCH} -DKILN_TESTS=ON -DKILN_BENCH=ON >/dev/null
  cmake --build "$bdir" -j"${JOBS:-2}" --target test_backend bench_cuda_model
  rm -rf "$pack" && mkdir -p "$pack/bin" "$pack/lib"
  cp "$bdir"/tests/test_backend "$bdir"/bench/bench_cuda_model "$pack/bin/"
  strip "$pack"/bin/* || true
  # Shared libraries other than glibc's and CUDA's (the GPU image has those).
  for b in "$pack"/bin/*; do ldd "$b"; done | awk '/=>/ {print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudart.so*|libcublas*) ;;
      *) cp -L "$lib" "$pack/lib/" ;;
    esac
  done
  du -sh "$pack"
  exit 0
fi

OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
summary=$OUT/summary.md
: >"$summary"
note() { echo "$@" | tee -a "$summary"; }

device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)
note "# kiln CUDA check — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $device"

if [[ -x $pack/bin/bench_cuda_model ]]; then
  bin=$pack/bin
  cublas_dir=$(dirname "$(ls /usr/local/cuda/lib64/libcublas.so.13* /usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.13* 2>/dev/null | head -1)" 2>/dev/null)
  if [[ -z $cublas_dir || $cublas_dir == . ]]; then
    cublas_dir=$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1 | xargs -r dirname)
  fi
  export LD_LIBRARY_PATH=$PWD/$pack/lib:${cublas_dir}:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  test_backend=$bin/test_backend bench=$bin/bench_cuda_model
  note "binaries: prebuilt ($pack), cuBLAS from ${cublas_dir:-?}"
else
  t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DKILN_TESTS=ON -DKILN_BENCH=ON >"$OUT/configure.log" 2>&1 || { note "configure failed"; tail -20 "$OUT/configure.log"; exit 1; }
  cmake --build build-gpu -j16 --target test_backend bench_cuda_model >"$OUT/build.log" 2>&1 ||
    { note "build failed"; tail -40 "$OUT/build.log"; exit 1; }
  note "binaries: built here in $(($(date +%s) - t0)) s"
  test_backend=build-gpu/tests/test_backend bench=build-gpu/bench/bench_cuda_model
fi

# 1. op tests: the CUDA file and the op-level harness's "cuda" instances.
# The op harness's attention scenarios read the cache on the host
# (cpu::ref::attention on the same KvCache), which device-memory KV storage
# does not allow; CudaOpsTest.Attention* check the same paths on a twin cache.
# Twice: with CUDA graphs (opt-in since 2026-12-06: exported as 1 for this
# script's runs, see docs/cuda.md) and op by op (KILN_CUDA_GRAPHS=0).
export KILN_CUDA_GRAPHS=${KILN_CUDA_GRAPHS:-1}
filter='CudaOpsTest.*:Backends/OpsTest.*/cuda:-Backends/OpsTest.Attention*/cuda'
$test_backend --gtest_filter="$filter" >"$OUT/tests.log" 2>&1
rc=$?
note "op tests (graphs): $(grep -E '^\[  (PASSED|FAILED)  \]' "$OUT/tests.log" | tr '\n' ' ') (rc $rc)"
grep -A4 'Failure' "$OUT/tests.log" | head -60
KILN_CUDA_GRAPHS=0 $test_backend --gtest_filter="$filter" >"$OUT/tests-nograph.log" 2>&1
rc=$?
note "op tests (KILN_CUDA_GRAPHS=0): $(grep -E '^\[  (PASSED|FAILED)  \]' "$OUT/tests-nograph.log" | tr '\n' ' ') (rc $rc)"
grep -A4 'Failure' "$OUT/tests-nograph.log" | head -30

# 2. random-weight models of real shapes (the code of `kiln synth`)
models=/tmp/kiln-gpu-models
mkdir -p $models
synth() {  # preset type [layers]
  local f=$models/$1-$2${3:+-L$3}.gguf
  [[ -f $f ]] || $bench --synth "$1:$2${3:+:$3}" -o "$f" >>"$OUT/synth.log" 2>&1 || note "synth $1 $2 failed" >&2
  echo "$f"
}

# 3. GPU vs CPU logits, teacher-forced
: >"$OUT/results.jsonl"
for spec in "qwen2.5-0.5b q4_K_M" "gemma3-270m q4_K_M" "qwen3-0.6b q8_0" "llama3-8b q4_K_M 2" "qwen2.5-0.5b f16"; do
  set -- $spec
  f=$(synth "$@")
  KILN_CUDA_GRAPH_STATS=1 $bench "$f" --check cpu --check-tokens 64 2>&1 | tee -a "$OUT/check.log" | grep '^{' >>"$OUT/results.jsonl"
done
# The decode path op by op too (KILN_CUDA_GRAPHS=0).
for spec in "qwen2.5-0.5b q4_K_M" "llama3-8b q4_K_M 2"; do
  set -- $spec
  f=$(synth "$@")
  echo "== KILN_CUDA_GRAPHS=0" >>"$OUT/check.log"
  KILN_CUDA_GRAPHS=0 $bench "$f" --check cpu --check-tokens 64 2>&1 | sed 's/^check/check (graphs off)/' |
    tee -a "$OUT/check.log" >/dev/null
done
note "logit checks:"
grep '^check' "$OUT/check.log" | sed 's/^/  /' | tee -a "$summary"

# 4. speed
runs=("qwen2.5-0.5b q4_K_M")
[[ ${GPU_CHECK_BIG:-1} == 1 ]] && runs+=("llama3-8b q4_K_M")
[[ ${GPU_CHECK_Q8:-0} == 1 ]] && runs+=("llama3-8b q8_0")
note ""
note "| model | backend | test | t/s |"
note "| --- | --- | --- | --- |"
for spec in "${runs[@]}"; do
  set -- $spec
  f=$(synth "$@")
  KILN_CUDA_GRAPH_STATS=1 $bench "$f" --backend cuda -p 512 -n 128 -r 3 2>&1 | tee -a "$OUT/speed.log" | grep '^{' >>"$OUT/results.jsonl"
  grep "^| $f" "$OUT/speed.log" | sed "s#$models/##" | tee -a "$summary"
  # The same decode op by op (no graphs); with graphs but every mat-vec
  # quantizing its input (no reuse across Q/K/V and gate/up); with graphs
  # but the residual add and the next rms_norm as two kernels.
  KILN_CUDA_GRAPHS=0 $bench "$f" --backend cuda -p 0 -n 128 -r 3 2>&1 | tee -a "$OUT/speed-nograph.log" |
    grep "^| $f" | sed "s#$models/##; s#| cuda |#| cuda (KILN_CUDA_GRAPHS=0) |#" | tee -a "$summary"
  KILN_CUDA_QUANT_ONCE=0 $bench "$f" --backend cuda -p 0 -n 128 -r 3 2>&1 | tee -a "$OUT/speed-requant.log" |
    grep "^| $f" | sed "s#$models/##; s#| cuda |#| cuda (KILN_CUDA_QUANT_ONCE=0) |#" | tee -a "$summary"
  KILN_CUDA_FUSE=0 $bench "$f" --backend cuda -p 0 -n 128 -r 3 2>&1 | tee -a "$OUT/speed-nofuse.log" |
    grep "^| $f" | sed "s#$models/##; s#| cuda |#| cuda (KILN_CUDA_FUSE=0) |#" | tee -a "$summary"
  if [[ ${GPU_CHECK_EXACT:-0} == 1 ]]; then
    KILN_CUDA_EXACT_MATVEC=1 $bench "$f" --backend cuda -p 0 -n 128 -r 3 2>&1 | tee -a "$OUT/speed-exact.log" |
      grep "^| $f" | sed "s#$models/##; s#| cuda |#| cuda (f32-x matvec) |#" | tee -a "$summary"
  fi
done
grep 'kiln cuda graphs' "$OUT/speed.log" | sed 's/^/  /' | tee -a "$summary"
rm -f $models/llama3-8b-q8_0.gguf

# 5. where the time goes (KILN_CUDA_PROFILE=1: GPU time per op kind, one rep)
[[ ${GPU_CHECK_PROFILE:-0} == 1 ]] || { cat "$summary"; exit 0; }
for spec in "${runs[@]}"; do
  set -- $spec
  echo "== $1 $2 pp512 + tg128" >>"$OUT/profile.log"
  KILN_CUDA_PROFILE=1 $bench "$(synth "$@")" --backend cuda -p 512 -n 128 -r 1 >>"$OUT/profile.log" 2>&1
done
note ""
note "profile (top ops per model, warm-up included):"
awk '/^==/ {print; n = 0; next} /kiln cuda profile/ {print; n = 12; next} n > 0 {print; n--}' "$OUT/profile.log" | tee -a "$summary"
cat "$summary"
