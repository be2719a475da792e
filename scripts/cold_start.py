"""A cold start side by side: `qwen-tui ask` against llama.cpp on the same question, each a new
process (Python started, the model loaded, the question answered), in alternating rounds.

    .venv/bin/python scripts/cold_start.py --model coder-mixed_int5 \
        --gguf ~/.cache/qwen-tui-quality/coder-q6_k.gguf \
        --llama-python ~/.cache/qwen-tui-peers/llama-cpp/bin/python --rounds 5

For each process: the wall time from its start to the first byte of the reply on its stdout and
to its exit, and its peak RSS (``ru_maxrss`` from ``wait4``). llama.cpp is llama-cpp-python's
``Llama`` with the GGUF's own chat template, ``n_ctx`` 4096 (the conversation qwen-tui's
estimates count), the same threads, greedy, the same number of new tokens. The files are in the
page cache for both (a first round that reads them from disk is not counted: ``--warmup``).
Prints each round, then the medians and the ratios (llama.cpp's time / ours: above 1, ours is
quicker; our peak / theirs: below 1, ours is smaller).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

THEIRS = """
import sys
from llama_cpp import Llama
path, question, tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
            verbose=False)
messages = [{"role": "user", "content": question}]
for chunk in llm.create_chat_completion(messages, max_tokens=tokens, temperature=0.0,
                                        stream=True):
    text = chunk["choices"][0]["delta"].get("content")
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
print()
"""


def timed(command: list[str]) -> dict:
    """Run ``command``; seconds to its first stdout byte and to its exit, peak RSS in MB."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert child.stdout is not None
    first, out = None, b""
    while chunk := os.read(child.stdout.fileno(), 4096):
        first = first or time.perf_counter()
        out += chunk
    _, status, usage = os.wait4(child.pid, 0)
    ended = time.perf_counter()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"cold_start: {command[:3]} failed")
    return {
        "first_s": (first or ended) - started,
        "exit_s": ended - started,
        "peak_mb": usage.ru_maxrss / 1024,
        "reply": out.decode(errors="replace").strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="qwen-tui's model name")
    parser.add_argument("--gguf", required=True, help="llama.cpp's file of the same weights")
    parser.add_argument("--llama-python", required=True, help="a Python with llama-cpp-python")
    parser.add_argument("--question", default="Say hi")
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    n, threads = str(args.tokens), str(args.threads)
    ours = [sys.executable, "-m", "qwen_tui", "ask", args.question, "--model", args.model,
            "--max-new-tokens", n, "--threads", threads, "--temperature", "0"]  # fmt: skip
    theirs = [args.llama_python, "-c", THEIRS, args.gguf, args.question, n, threads]
    runs: dict[str, list[dict]] = {"qwen-tui": [], "llama.cpp": []}
    for r in range(args.warmup + args.rounds):
        for name, command in (("qwen-tui", ours), ("llama.cpp", theirs)):
            run = timed(command)
            print(f"round {r + 1 - args.warmup:>2} {name:9} first {run['first_s']:.2f} s  "
                  f"exit {run['exit_s']:.2f} s  peak {run['peak_mb']:.0f} MB  "
                  f"{run['reply'][:40]!r}", flush=True)  # fmt: skip
            if r >= args.warmup:
                runs[name].append(run)
    med = {name: {k: statistics.median(x[k] for x in rs) for k in ("first_s", "exit_s", "peak_mb")}
           for name, rs in runs.items()}  # fmt: skip
    a, b = med["qwen-tui"], med["llama.cpp"]
    print(f"medians over {args.rounds} rounds: qwen-tui first {a['first_s']:.2f} s, exit "
          f"{a['exit_s']:.2f} s, peak {a['peak_mb']:.0f} MB; llama.cpp first {b['first_s']:.2f} s, "
          f"exit {b['exit_s']:.2f} s, peak {b['peak_mb']:.0f} MB")  # fmt: skip
    print(f"llama.cpp / qwen-tui: to the first token x{b['first_s'] / a['first_s']:.2f}, to the "
          f"end x{b['exit_s'] / a['exit_s']:.2f}; peak RSS qwen-tui / llama.cpp "
          f"x{a['peak_mb'] / b['peak_mb']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
