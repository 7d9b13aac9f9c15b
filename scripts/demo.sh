#!/usr/bin/env bash
# Sets everything up (packages, venv, test models, build) and runs the main job
# on the default model, Gemma 3 270M Q4_K_M: imports it into the model store
# (once), shows it, and asks it a question with `kiln run --verbose` (the
# answer streams to stdout, Ollama-style timings follow on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
kiln=build/kiln
gguf=${KILN_CACHE:-$HOME/.cache/kiln}/models/gemma-3-270m-q4_k_m.gguf
model=gemma3:270m
prompt=${1:-Why is the sky blue?}

if ! $kiln show "$model" >/dev/null 2>&1; then
  dir=$(mktemp -d)
  # Gemma's recommended sampling; num_predict bounds the answer (this small
  # model does not always end its turn by itself).
  printf 'FROM %s\nPARAMETER temperature 1.0\nPARAMETER top_k 64\nPARAMETER top_p 0.95\nPARAMETER num_predict 256\n' \
    "$gguf" > "$dir/Modelfile"
  $kiln create "$model" -f "$dir/Modelfile"
  rm -rf "$dir"
fi
$kiln list
$kiln show "$model"
echo "==> tokens of: $prompt"
$kiln tokenize "$gguf" "$prompt"
echo "==> kiln run $model \"$prompt\" --verbose"
$kiln run "$model" "$prompt" --verbose
