#!/usr/bin/env bash
# Run a command with torch's MKL on its Intel code paths, on an AMD CPU: MKL takes a generic
# path when the CPU is not Intel, so float results there can differ from a Xeon's. A shim that
# answers MKL's "is this an Intel CPU?" with yes is preloaded. For testing only.
#   scripts/mkl_as_on_intel.sh .venv/bin/python -m pytest -q
# MKL_VERBOSE=1 shows the path MKL took ("Intel(R) AVX-512 ..." instead of "Intel(R) Architecture").
set -euo pipefail
dir="${TMPDIR:-/tmp}/qwen-tui-mkl-shim"
mkdir -p "$dir"
printf 'int mkl_serv_intel_cpu_true(void) { return 1; }\nint mkl_serv_intel_cpu(void) { return 1; }\n' \
    > "$dir/shim.c"
gcc -shared -fPIC -O2 -o "$dir/libshim.so" "$dir/shim.c"
LD_PRELOAD="$dir/libshim.so${LD_PRELOAD:+:$LD_PRELOAD}" exec "$@"
