#!/usr/bin/env bash
# Builds the llama.cpp reference environment: /work/main/.venv-ref with
# llama-cpp-python (which compiles llama.cpp from source), numpy and gguf.
#
# Idempotent: a second run finds the package importable and does nothing.
# pip's wheel cache lives under ~/.cache/kiln/pip, so rebuilding the venv
# (e.g. after deleting it) reuses the compiled llama-cpp-python wheel.
#
# The build is slow on a 2-core machine (~20-40 min); it runs niced with two
# compile jobs. Output goes to $LOG (default /tmp/llamacpp-build.log).
#
# Usage: tools/setup_reference.sh [--force]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KILN_REF_VENV:-$REPO_ROOT/.venv-ref}"
LOG="${LOG:-/tmp/llamacpp-build.log}"
CACHE_DIR="${KILN_CACHE:-$HOME/.cache/kiln}"
# Pinned so the reference (and the numbers taken with it) can be rebuilt.
LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

mkdir -p "$CACHE_DIR/pip"
export PIP_CACHE_DIR="$CACHE_DIR/pip"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating $VENV" | tee -a "$LOG"
  python3 -m venv "$VENV"
fi

if [[ $FORCE -eq 0 ]] && "$VENV/bin/python" - <<'EOF' 2>/dev/null
import llama_cpp, numpy, gguf  # noqa: F401
EOF
then
  echo "reference environment ready: $VENV (llama_cpp $("$VENV/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)'))"
  exit 0
fi

echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION into $VENV (log: $LOG)"
{
  date
  "$VENV/bin/pip" install --upgrade pip wheel setuptools
  "$VENV/bin/pip" install numpy gguf
  # GGML_NATIVE: compile for this CPU (AVX-512 VNNI here), the speed we compare with.
  # LLAVA_BUILD=OFF: the multimodal library is not needed and would double the build.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAVA_BUILD=OFF}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    nice -n 19 "$VENV/bin/pip" install --verbose "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  date
} >>"$LOG" 2>&1

"$VENV/bin/python" -c 'import llama_cpp; print("llama_cpp", llama_cpp.__version__, "ready in", __import__("sys").prefix)'
