#!/usr/bin/env bash
# Installs vidrag on a fresh Debian/Ubuntu machine: system packages, then a virtualenv in .venv.
# Usage: scripts/install.sh [extras]   (default extras: cpu,postgres,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-cpu,postgres,dev}"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)           # test/bench speech needles
[ -e /usr/lib/x86_64-linux-gnu/libGL.so.1 ] || need_apt+=(libgl1)  # opencv-python
command -v chromium >/dev/null || need_apt+=(chromium)             # browser tests
# `docker compose config` validates the compose file in the tests (no engine needed)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null \
  || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
if [[ ",$extras," == *",cpu,"* ]]; then
  # '===' matches the PyPI build exactly; a local '+cpu' wheel of torch 2.13.0 cannot load
  # torchvision 0.28.0's ops, which ultralytics and transformers import.
  .venv/bin/pip install -q -c constraints.txt "torch===2.13.0" "torchvision==0.28.0"
fi
# llama-cpp-python (dev extra: the real LLM server of the answer-path tests) builds from source;
# the native build uses AMX/AVX-512 instructions that crash on some x86 CPUs, so pin a portable set
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF}"
# constraints.txt pins every package (a lock): the same versions on every machine, every month
.venv/bin/pip install -q -c constraints.txt -e ".[${extras}]"
echo "installed: $(.venv/bin/vidrag --version 2>/dev/null || echo vidrag)"
