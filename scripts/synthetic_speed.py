"""qwen-tui against llama.cpp on the same random weights at the real dimensions of a Qwen3.5 too
large to download here (README's Qwen3.5 speed table):

    .venv/bin/python scripts/synthetic_speed.py --llama-python "$(./scripts/peers.sh)" \
        --models qwen3.5-2b,qwen3.5-4b --rounds 3

For each model: scripts/synthetic_gguf.py writes its F16 GGUF once; llama.cpp quantizes it to
Q4_0 and Q6_K, `qwen-tui quantize` to `sym_int4` and `mixed_int5` (both from that one file);
then each pair is timed in turn, ``--rounds`` times, each engine in its own process
(scripts/quality_table.py's `bench_ours` and llamacpp_peer.py's `bench`: a 32- and a 512-token
prompt, 64 tokens decoded). Each round's ratios are printed, ours ÷ llama.cpp. Work files go to
``--work`` (default ~/.cache/qwen-tui-synthetic-speed: its own cache dir, 25 GB for 2B and
4B once made: llama.cpp's GGUFs, our stores and the packed copies bench maps; the F16 file,
4.5 or 9 GB, only while they are made) and are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from quality_table import PAIRS, ROOT, bench_ours, peer
from synthetic_gguf import write

SPEED_PAIRS = {ours: theirs for ours, theirs in PAIRS.items() if ours != "sym_int8"}


def files(work: Path, key: str, python: str) -> tuple[dict, dict]:
    """({our format: store folder}, {their type: GGUF}) for ``key``, made where missing; the
    F16 file is deleted once both engines' files are made from it (it is the largest)."""
    from qwen_tui.store import local

    work.mkdir(parents=True, exist_ok=True)
    ours = {fmt: work / "models" / local.folder_name(key, fmt) for fmt in SPEED_PAIRS}
    theirs = {kind: work / f"{key}-{kind.lower()}.gguf" for kind in SPEED_PAIRS.values()}
    if all(p.exists() for p in [*ours.values(), *theirs.values()]):
        return ours, theirs
    f16 = work / f"{key}-f16.gguf"
    if not f16.is_file():
        write(key, f16.with_suffix(".part"))
        f16.with_suffix(".part").rename(f16)
    for fmt, kind in SPEED_PAIRS.items():
        if not theirs[kind].is_file():
            if not peer(python, "quantize", str(f16), str(theirs[kind]), kind)["ok"]:
                sys.exit(f"synthetic_speed: llama.cpp could not quantize to {kind}")
        if not ours[fmt].is_dir():
            subprocess.run([sys.executable, "-m", "qwen_tui", "quantize", str(f16), "--name", key,
                            "--low-bit", fmt, "--no-quality"], check=True, cwd=ROOT)  # fmt: skip
    f16.unlink()
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llama-python", required=True, help="a Python with llama-cpp-python")
    parser.add_argument("--models", default="qwen3.5-2b,qwen3.5-4b")
    parser.add_argument("--rounds", type=int, default=3)
    default_work = Path.home() / ".cache" / "qwen-tui-synthetic-speed"
    parser.add_argument("--work", type=Path, default=default_work)
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    args = parser.parse_args()
    os.environ["QWEN_TUI_CACHE_DIR"] = str(args.work)  # its models/ and packed/ (bench's loads)
    lines = [
        "| model | qwen-tui | llama.cpp | round | 512 → first token | decode after 32 "
        "| decode after 512 |",
        "|---|---|---|---|---|---|---|",
    ]
    record = []
    for key in args.models.split(","):
        ours, theirs = files(args.work, key, args.llama_python)
        for r in range(1, args.rounds + 1):
            for fmt, kind in SPEED_PAIRS.items():
                mine = bench_ours(ours[fmt])
                them = peer(args.llama_python, "bench", str(theirs[kind]),
                            "--prompt-tokens", "32,512")["runs"]  # fmt: skip
                first = them["512"]["first_token_s"] / mine[512]["first_token_s"]
                d32 = mine[32]["decode_tok_s"] / them["32"]["decode_tok_s"]
                d512 = mine[512]["decode_tok_s"] / them["512"]["decode_tok_s"]
                lines.append(f"| {key} | `{fmt}` | {kind} | {r} | {first:.2f}× faster | "
                             f"{d32:.2f}× | {d512:.2f}× |")  # fmt: skip
                record.append({"model": key, "ours": fmt, "theirs": kind, "round": r,
                               "qwen_tui": mine, "llama_cpp": them})  # fmt: skip
                print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
