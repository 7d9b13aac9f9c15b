#!/usr/bin/env bash
# Sets everything up (packages, venv, test models, build) and runs every test.
# This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KILN_TEST_MODELS=${KILN_TEST_MODELS:-${KILN_CACHE:-$HOME/.cache/kiln}/models}
echo "==> the official ollama and openai clients against a live kiln serve"
.venv/bin/python tools/check_api_clients.py --kiln build/kiln
echo "==> bounded load test: 8 streaming clients with random disconnects for 15 s, every KV block returned"
.venv/bin/python tools/load_test.py --kiln build/kiln --gguf "$KILN_TEST_MODELS/gemma-3-270m-q4_k_m.gguf" \
  --clients 8 --duration 15
echo "==> running tests (models from $KILN_TEST_MODELS)"
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
