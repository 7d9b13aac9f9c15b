#!/usr/bin/env bash
# Installs what kiln needs to build and test (Debian packages, the project venv),
# fetches the test models into ~/.cache/kiln and builds kiln into build/.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config git
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libxxhash-dev libzstd-dev libpcre2-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating the project venv (.venv)"
  python3 -m venv .venv
fi
# Reinstall only when tools/requirements.txt changed since the last install.
stamp=.venv/.requirements.sha256
want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r tools/requirements.txt
  echo "$want" > "$stamp"
fi

bash tools/fetch_models.sh

echo "==> building kiln (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
