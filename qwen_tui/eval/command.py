"""`qwen-tui eval`: a table (or JSON) of perplexity, KL divergence and top-1 agreement."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from ..config import Settings
from ..errors import UsageError
from ..store import local
from .run import PATHS, default_texts, evaluate, read_texts


def reference_for(args: Namespace, model: local.LocalModel) -> Path | None:
    """--reference, else the model's source when it is a local folder or file still there."""
    if args.reference:
        path = Path(args.reference).expanduser()
        if not path.exists():
            raise UsageError(f"{path} does not exist.", "Pass the float model's folder or .gguf.")
        return path
    source = Path(model.manifest.source).expanduser()
    return source if source.is_absolute() and source.exists() else None


def run_eval(args: Namespace, settings: Settings) -> int:
    from ..engine.open import open_engine
    from .float_reference import open_reference

    if args.tokens < 2:
        raise UsageError("--tokens must be at least 2.", "Score 512 tokens of each text, say.")
    if args.model_path:
        model = local.open_folder(args.model_path)
    else:
        model = local.choose(args.model, settings.model, settings.low_bit)
    texts = read_texts(args.text) if args.text else default_texts()
    ref_path = reference_for(args, model)
    reference = None
    if ref_path is not None:
        print(f"qwen-tui: reading the reference {ref_path}", file=sys.stderr)
        reference = open_reference(ref_path)
    engine = open_engine(model.path, threads=args.threads or settings.threads, kv_cache_mb=0)
    engine.load()
    paths = ("prompt",) if args.no_decode else PATHS
    result = evaluate(
        engine,
        texts,
        args.tokens,
        reference,
        paths,
        on_text=lambda name: print(f"qwen-tui: scoring {name}", file=sys.stderr),
    )
    result.update(model=model.folder_name, reference=str(ref_path) if ref_path else None)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else table(result, paths))
    return 0


def table(result: dict, paths: tuple[str, ...]) -> str:
    ref = result["reference"]
    lines = [
        f"model {result['model']}, {result['tokens']} tokens per text, "
        + (f"reference {ref}" if ref else "no reference (pass --reference for KL and top-1)"),
        "",
    ]
    head = f"{'text':<16}{'tokens':>7}" + (f"{'ref ppl':>10}" if ref else "")
    for path in paths:
        head += f"  {path + ' ppl':>11}" + (f"{'change':>9}{'KL':>9}{'top-1':>8}" if ref else "")
    lines.append(head)
    for t in result["texts"]:
        row = f"{t['name'][:15]:<16}{t['tokens']:>7}" + (
            f"{t['reference_ppl']:>10.3f}" if ref else ""
        )
        for path in paths:
            s = t[path]
            row += f"  {s['ppl']:>11.3f}"
            if ref:
                row += f"{s['change_pct']:>+8.2f}%{s['kl']:>9.4f}{100 * s['top1']:>7.1f}%"
        lines.append(row)
    return "\n".join(lines)
