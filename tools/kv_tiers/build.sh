#!/usr/bin/env bash
# Builds the KV tier measurement programs against a kiln build directory
# (default build-tiers): the libraries must be built first, e.g.
#   cmake --build build-tiers -j2 --target kiln_engine
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-tiers}
LIBS="$BUILD/libkiln_engine.a $BUILD/libkiln_models.a $BUILD/libkiln_backend.a $BUILD/libkiln_kv.a \
      $BUILD/libkiln_template.a $BUILD/libkiln_tokenizer.a $BUILD/libkiln_gguf.a $BUILD/libkiln_core.a"
for tool in kv_tier_ttft kv_quant_quality; do
  g++ -std=c++20 -O2 -march=native -Isrc "tools/kv_tiers/$tool.cpp" $LIBS -lpcre2-8 -lxxhash -lpthread \
      -o "$BUILD/$tool"
  echo "built $BUILD/$tool"
done
