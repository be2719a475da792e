#!/usr/bin/env bash
# Set up qwen-tui in ./.venv on a fresh machine: Python venv, the CPU build of
# torch first (so pip never pulls a multi-GB CUDA build), then the project with
# its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "qwen-tui is set up in .venv (run .venv/bin/qwen-tui)"
