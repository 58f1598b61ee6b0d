#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the package and everything its
# tests need. torch is pinned to the CPU build (constraints.txt): a plain `torch` requirement
# would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,dev]" -c constraints.txt
