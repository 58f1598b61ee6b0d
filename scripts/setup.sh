#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the package and everything its
# tests need. constraints.txt pins torch 2.13.0; where the package index serves its multi-GB CUDA
# build (PyPI on Linux), take the CPU wheel from PyTorch's own index:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  .venv/bin/python -m pip install -q torch==2.13.0 --index-url "$TORCH_INDEX_URL"
fi
# flax is an extra of its own (not in [all]): the tests of arena.interop.to_flax need it
.venv/bin/python -m pip install -q -e ".[all,dev,flax]" -c constraints.txt
# The leaderboard page's test drives Debian's chromium with its chromium-driver (nothing
# downloads a browser at run time); install them when this is root on an apt system.
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && apt-get update -qq >/dev/null 2>&1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
    :
  else
    echo "setup: no chromium/chromedriver installed; the leaderboard page test will be skipped"
  fi
fi
