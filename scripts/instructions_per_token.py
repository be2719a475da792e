"""Instructions per decoded token, counted by cachegrind (valgrind), ours or llama.cpp's.

One thread, greedy, the same prompt; the count of a 12-token reply less that of a 4-token one,
over 8, so loading and the prompt cancel out. Valgrind runs AVX2 code only (not AVX-512), so
ours runs with QWEN_TUI_ISA=avx2 and llama.cpp must be an AVX2 build (scripts/peers.sh).

    python scripts/instructions_per_token.py ours ~/.cache/qwen-tui/models/coder-mixed_int5
    python scripts/instructions_per_token.py llama coder-q6_k.gguf --python PY

Each run takes minutes (valgrind is ~50 times slower than the machine).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

PROMPT = "Write the numbers from 1 to 200, separated by commas."
SHORT, LONG = 4, 12
LLAMA = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_threads=1, n_threads_batch=1, n_ctx=256, verbose=False)
prompt = "<|im_start|>user\\n" + sys.argv[3] + "<|im_end|>\\n<|im_start|>assistant\\n"
llm.create_completion(prompt, max_tokens=int(sys.argv[2]), temperature=0.0)
"""


def command(engine: str, model: str, tokens: int, python: str) -> list[str]:
    if engine == "ours":
        return [python, "-m", "qwen_tui", "ask", "--model-path", model, "--threads", "1",
                "--temperature", "0", "--max-new-tokens", str(tokens), PROMPT]  # fmt: skip
    return [python, "-c", LLAMA, model, str(tokens), PROMPT]


def instructions(argv: list[str]) -> int:
    env = {**os.environ, "QWEN_TUI_ISA": "avx2", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        run = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
        done = subprocess.run(run + argv, env=env, capture_output=True, text=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or not found:
            sys.exit(f"valgrind failed ({done.returncode}): {done.stderr[-800:]}")
        return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=("ours", "llama"))
    parser.add_argument("model", help="a store model folder (ours) or a GGUF file (llama)")
    parser.add_argument("--python", default=sys.executable, help="llama: a llama-cpp-python")
    args = parser.parse_args()
    counts = [instructions(command(args.engine, args.model, n, args.python)) for n in (SHORT, LONG)]
    per_token = (counts[1] - counts[0]) / (LONG - SHORT)
    print(f"{args.engine} {os.path.basename(args.model.rstrip('/'))}: "
          f"{per_token / 1e6:.1f} M instructions per decoded token")  # fmt: skip


if __name__ == "__main__":
    main()
