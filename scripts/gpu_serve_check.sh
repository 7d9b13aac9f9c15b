#!/usr/bin/env bash
# `kiln serve` on the GPU machine, in one go (issue 5 items 5 and 6):
#   1. builds `kiln` with CUDA (sm_90, -j16);
#   2. writes random-weight models of real shapes (`kiln synth`);
#   3. batched decode speed: `kiln bench --parallel 1,8,32` on the GPU
#      (S sequences decoded together, the server's step);
#   4. the server picks the GPU by itself: generate, /api/ps size_vram,
#      `kiln ps`, num_gpu 0 (reload on the CPU), a partial num_gpu (400);
#   5. tools/load_test.py: 32 streaming clients with random disconnects
#      against the GPU server (KILN_NUM_PARALLEL 32), every block returned.
# Logs and a summary under $OUT (default ./gpu-serve-out).
# Environment: GPU_SERVE_BIG=0 skips the 8B model; LOAD_SECONDS (default 30).
set -uo pipefail
cd "$(dirname "$0")/.."
# `scripts/gpu_serve_check.sh pack` (here, where the project's libraries are:
# the GPU image lacks libpcre2) builds kiln with CUDA (KILN_NATIVE=OFF, sm_90)
# in build-gpuhelper/ and copies it with its non-CUDA shared libraries into
# build-servepack/, which the run on the GPU machine uses when present.
if [[ ${1:-run} == pack ]]; then
  set -e
  bdir=${PACK_BUILD_DIR:-build-gpuhelper}
  cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_NATIVE=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$bdir" -j"${JOBS:-2}" --target kiln
  rm -rf build-servepack && mkdir -p build-servepack/bin build-servepack/lib
  cp "$bdir"/kiln build-servepack/bin/ && strip build-servepack/bin/kiln
  ldd build-servepack/bin/kiln | awk '/=>/ {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudart.so*|libcublas*) ;;
      *) cp -L "$lib" build-servepack/lib/ ;;
    esac
  done
  du -sh build-servepack
  exit 0
fi

OUT=${OUT:-$PWD/gpu-serve-out}
mkdir -p "$OUT"
summary=$OUT/summary.md
: >"$summary"
note() { echo "$@" | tee -a "$summary"; }
note "# kiln serve on the GPU — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"

if [[ -x build-servepack/bin/kiln ]]; then
  cublas_dir=$(dirname "$(find / -name 'libcublas.so.1*' -not -path '/proc/*' 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH=$PWD/build-servepack/lib:$cublas_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  kiln=$PWD/build-servepack/bin/kiln
  note "kiln: prebuilt (build-servepack), cuBLAS from $cublas_dir"
else
  t0=$(date +%s)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DKILN_TESTS=OFF -DKILN_BENCH=OFF >"$OUT/configure.log" 2>&1 || { note "configure failed"; tail -20 "$OUT/configure.log"; exit 1; }
  cmake --build build-gpu -j16 --target kiln >"$OUT/build.log" 2>&1 || { note "build failed"; tail -40 "$OUT/build.log"; exit 1; }
  note "kiln built in $(($(date +%s) - t0)) s"
  kiln=$PWD/build-gpu/kiln
fi

models=/tmp/kiln-gpu-models
mkdir -p $models
small=$models/qwen2.5-0.5b-q4_K_M.gguf big=$models/llama3-8b-q4_K_M.gguf
[[ -f $small ]] || $kiln synth qwen2.5-0.5b --type q4_K_M -o "$small" >>"$OUT/synth.log" 2>&1
if [[ ${GPU_SERVE_BIG:-1} == 1 && ! -f $big ]]; then $kiln synth llama3-8b --type q4_K_M -o "$big" >>"$OUT/synth.log" 2>&1; fi

note ""
note "## Batched decode (kiln bench --parallel, backend chosen by default)"
for f in "$small" "$big"; do
  [[ -f $f ]] || continue
  $kiln bench "$f" -p 0 -n 64 --parallel 1,8,32 -r 2 >"$OUT/bench-$(basename "$f").log" 2>&1
  tee -a "$summary" <"$OUT/bench-$(basename "$f").log"
done

note ""
note "## The server on the GPU"
export KILN_MODELS=/tmp/kiln-gpu-store KILN_HOST=127.0.0.1:11555
rm -rf "$KILN_MODELS"
printf 'FROM %s\n' "$small" >/tmp/Modelfile.small
$kiln create small -f /tmp/Modelfile.small >>"$OUT/create.log" 2>&1 || note "kiln create failed"
$kiln serve >"$OUT/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf http://$KILN_HOST/api/version >/dev/null && break; sleep 0.2; done
api() { curl -s -w ' [HTTP %{http_code}]' "http://$KILN_HOST$1" ${2:+-d "$2"}; echo; }
note "generate: $(api /api/generate '{"model":"small","prompt":"hello","stream":false,"options":{"num_predict":8}}' | cut -c1-300)"
note "ps: $(api /api/ps)"
note "kiln ps:"
$kiln ps 2>&1 | tee -a "$summary"
note "num_gpu 0: $(api /api/generate '{"model":"small","prompt":"hello","stream":false,"options":{"num_predict":4,"num_gpu":0}}' | cut -c1-200)"
note "ps after num_gpu 0: $(api /api/ps)"
note "num_gpu 3 (partial): $(api /api/generate '{"model":"small","prompt":"hi","stream":false,"options":{"num_gpu":3,"num_predict":4}}')"
kill $pid
wait $pid 2>/dev/null
note "server log:"
grep -v '^\[' "$OUT/serve.log" | head -20 | tee -a "$summary"

note ""
note "## Load: 32 streaming clients with disconnects, KILN_NUM_PARALLEL 32"
unset KILN_MODELS KILN_HOST
for f in "$small" "$big"; do
  [[ -f $f ]] || continue
  python3 tools/load_test.py --kiln "$kiln" --gguf "$f" --parallel 32 --clients 32 \
    --duration "${LOAD_SECONDS:-30}" >"$OUT/load-$(basename "$f").log" 2>&1
  note "$(basename "$f") (rc $?):"
  tail -12 "$OUT/load-$(basename "$f").log" | tee -a "$summary"
done
cat "$summary" >/dev/null
