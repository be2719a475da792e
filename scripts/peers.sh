#!/usr/bin/env bash
# The real OpenAI-compatible peer the remote-model tests talk to: llama-cpp-python's server, in a
# venv of its own (its packages and OpenMP stay out of qwen-tui's). llama.cpp is compiled once
# per machine (~11 min on 2 cores) for AVX2, so the wheel runs on every x86 CPU these tests see,
# and kept in $PEERS/wheels; later runs install it in seconds. Prints the venv's python.
#   ./scripts/peers.sh            (.ci/run calls it; tests/core/test_llama_server.py uses it)
set -euo pipefail
VERSION=0.3.36
PEERS=${QWEN_TUI_PEERS:-$HOME/.cache/qwen-tui-peers}
VENV=$PEERS/llama-server-avx2
WHEELS=$PEERS/wheels-avx2
PY=${PYTHON:-python3}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c \
    "import llama_cpp, llama_cpp.server; assert llama_cpp.__version__ == '$VERSION'" 2>/dev/null; then
  echo "$VENV/bin/python"; exit 0
fi
mkdir -p "$WHEELS"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "peers.sh: building llama-cpp-python $VERSION for AVX2 (once per machine, ~11 min)" >&2
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" \
    "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-cache-dir -w "$WHEELS" \
    "llama-cpp-python==$VERSION" >&2
fi
"$VENV/bin/python" -m pip install --quiet --find-links "$WHEELS" "llama-cpp-python[server]==$VERSION" >&2
echo "$VENV/bin/python"
