"""Regenerate README.md's *Quality and speed* tables on the real Qwen2.5-Coder-0.5B-Instruct.

    .venv/bin/python scripts/quality_table.py                          # qwen-tui's formats
    .venv/bin/python scripts/quality_table.py --llama-python "$(./scripts/peers.sh)"
    .venv/bin/python scripts/quality_table.py --llama-python PY --speed --rounds 3

- The model: the GGUF file of ``../shared/real-model/fetch.sh``, fetched as the tests fetch it
  (tests/real_model.py). The float reference is that file dequantized to float32 (what
  ``quantize`` unpacks); every qwen-tui format is quantized from that float folder.
- Quality: perplexity over the first 512 tokens of each of README's texts (CPython's
  json/decoder.py, the GPL-3, Alice, heapq.py, 論語), prompt path, its change against float32,
  and the mean KL divergence.
- With ``--llama-python``: the float model written as an F32 GGUF, quantized by llama.cpp into
  its formats and scored on the same token ids (scripts/llamacpp_peer.py, run by that Python).
- With ``--speed``: ``qwen-tui bench`` and llama.cpp's timing of the same work (a 32- and a
  512-token prompt, 64 tokens decoded), each format of a pair in turn, ``--rounds`` times, in
  separate processes; each round's ratios (ours ÷ llama.cpp) are printed.

Work files go to ``--work`` (default ~/.cache/qwen-tui-quality) and are reused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the real model's fetch, the GGUF writer

OURS = ("mixed_int5", "sym_int8", "sym_int5", "asym_int4", "sym_int4")
THEIRS = ("Q8_0", "Q6_K", "Q4_K_M", "Q5_0", "Q4_1", "Q4_0")
PAIRS = {"mixed_int5": "Q6_K", "sym_int8": "Q8_0", "sym_int4": "Q4_0"}  # same quality or kind
TOKENS = 512


def texts() -> list:
    import json.decoder

    from qwen_tui.eval.run import Text, default_texts

    english, code, chinese = default_texts()
    licences = ROOT / "tests" / "fixtures" / "licences"
    return [
        Text("json/decoder.py", Path(json.decoder.__file__).read_text(encoding="utf-8")),
        Text("GPL-3", (licences / "GPL-3").read_text(encoding="utf-8")),
        Text("Alice (en)", english.content),
        Text("heapq.py", code.content),
        Text("論語 (zh)", chinese.content),
    ]


def float_folder(work: Path) -> tuple[Path, Path]:
    from real_model import fetch

    from qwen_tui.store.gguf_import import convert_gguf

    gguf, why = fetch()
    if gguf is None:
        sys.exit(f"quality_table: no real model ({why})")
    folder = work / "float32"
    if not (folder / "config.json").is_file():
        convert_gguf(gguf, folder)
    return gguf, folder


def quantized(work: Path, source: Path, fmt: str) -> Path:
    from qwen_tui.store import local
    from qwen_tui.store.quantize import quantize_folder

    store = work / "store"
    folder = store / local.folder_name("coder", fmt)
    if not folder.is_dir():
        quantize_folder(source, "coder", fmt, root=store, measure=False)
    return folder


def score_ours(work: Path, source: Path, formats: tuple[str, ...]) -> tuple[dict, dict]:
    """({format: row}, {text: token ids}); a row holds each text's perplexity, the mean KL and
    the folder's size; the float32 reference is the row "float32"."""
    from qwen_tui.engine.open import open_engine
    from qwen_tui.eval.float_reference import open_reference
    from qwen_tui.eval.run import evaluate
    from qwen_tui.manifest import read_manifest

    reference = open_reference(source)
    rows: dict = {}
    ids: dict = {}
    for fmt in formats:
        folder = quantized(work, source, fmt)
        engine = open_engine(folder, threads=2, kv_cache_mb=0)
        engine.load()
        try:
            result = evaluate(engine, texts(), TOKENS, reference, ("prompt",))
            ids = ids or {t.name: engine.encode_text(t.content)[:TOKENS] for t in texts()}
        finally:
            engine.unload()
        rows["float32"] = {"ppl": {t["name"]: t["reference_ppl"] for t in result["texts"]}}
        rows[fmt] = {
            "ppl": {t["name"]: t["prompt"]["ppl"] for t in result["texts"]},
            "kl": sum(t["prompt"]["kl"] for t in result["texts"]) / len(result["texts"]),
            "bytes": read_manifest(folder).size,
        }
    return rows, ids


def peer(python: str, *args: str) -> dict:
    done = subprocess.run(
        [python, str(ROOT / "scripts" / "llamacpp_peer.py"), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def theirs_gguf(work: Path, source: Path, python: str, kind: str) -> Path:
    from gguf_fixture import write_gguf

    f32 = work / "coder-f32.gguf"
    if not f32.is_file():
        write_gguf(source, f32, {})
    out = work / f"coder-{kind.lower()}.gguf"
    if not out.is_file() and not peer(python, "quantize", str(f32), str(out), kind)["ok"]:
        sys.exit(f"quality_table: llama.cpp could not quantize to {kind}")
    return out


def score_theirs(work: Path, source: Path, python: str, ids: dict) -> dict:
    ids_file = work / "texts.json"
    ids_file.write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
    rows = {}
    for kind in THEIRS:
        model = theirs_gguf(work, source, python, kind)
        rows[f"llama.cpp {kind}"] = {
            "ppl": peer(python, "perplexity", str(model), str(ids_file)),
            "bytes": model.stat().st_size,
        }
    return rows


def quality_table(rows: dict) -> str:
    names = list(rows["float32"]["ppl"])
    lines = [
        "| engine, format | size | " + " | ".join(names) + " | KL, mean |",
        "|---" * (len(names) + 3) + "|",
    ]
    for label, row in rows.items():
        cells = []
        for name in names:
            ppl, ref = row["ppl"][name], rows["float32"]["ppl"][name]
            change = "" if label == "float32" else f" ({100 * (ppl / ref - 1):+.1f} %)"
            cells.append(f"{ppl:.4g}{change}")
        size = f"{row['bytes'] / 2**20:,.0f} MB" if "bytes" in row else "—"  # MiB, as the store
        kl = f"{row['kl']:.2g}" if "kl" in row else ""
        lines.append(f"| {label} | {size} | " + " | ".join(cells) + f" | {kl} |")
    return "\n".join(lines)


def speed(work: Path, source: Path, python: str, rounds: int) -> str:
    """Alternating rounds of each pair; every round's ratios, ours ÷ llama.cpp."""
    lines = [
        "| qwen-tui | llama.cpp | round | 512 → first token | decode after 32 | decode after 512 |",
        "|---|---|---|---|---|---|",
    ]
    for fmt, kind in PAIRS.items():
        ours_dir, theirs = quantized(work, source, fmt), theirs_gguf(work, source, python, kind)
        for r in range(1, rounds + 1):
            ours = bench_ours(ours_dir)
            them = peer(python, "bench", str(theirs), "--prompt-tokens", "32,512")["runs"]
            first = them["512"]["first_token_s"] / ours[512]["first_token_s"]
            d32 = ours[32]["decode_tok_s"] / them["32"]["decode_tok_s"]
            d512 = ours[512]["decode_tok_s"] / them["512"]["decode_tok_s"]
            lines.append(
                f"| `{fmt}` | {kind} | {r} | {first:.2f}× faster | {d32:.2f}× | {d512:.2f}× |"
            )
    return "\n".join(lines)


def bench_ours(folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "qwen_tui", "bench", "--model-path", str(folder),
         "--prompt-tokens", "32,512", "--new-tokens", "64", "--turns", "0", "--repeat", "2",
         "--threads", "2", "--no-ui", "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    prompts = json.loads(done.stdout)["prompts"]
    # bench sizes its prompts to the nearest length the text allows: the first two are 32, 512
    return {32: prompts[0], 512: prompts[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "qwen-tui-quality")
    parser.add_argument("--formats", default=",".join(OURS))
    parser.add_argument("--llama-python", help="a Python that has llama-cpp-python")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    _, source = float_folder(args.work)
    rows, ids = score_ours(args.work, source, tuple(args.formats.split(",")))
    if args.llama_python:
        rows.update(score_theirs(args.work, source, args.llama_python, ids))
    print(quality_table(rows))
    if args.speed:
        if not args.llama_python:
            sys.exit("quality_table: --speed needs --llama-python")
        print()
        print(speed(args.work, source, args.llama_python, args.rounds))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
