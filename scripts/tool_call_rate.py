"""How often a real model writes a well-formed tool call for a clear request, over seeds.

    .venv/bin/python scripts/tool_call_rate.py \
        --model-path ~/.cache/qwen-tui/models/coder-mixed_int5 [--tool-choice get_weather]

Asks "What's the weather in Paris right now?" (or ``--question``) with one tool,
``get_weather(city, unit)``, tool_choice auto (or ``--tool-choice``), through the engine
``serve`` uses (``open_engine``, the model's own chat template and sampling defaults), once per
seed. Each reply is one of: a well-formed call (``Reply.tool_calls``: the tool offered,
arguments matching its schema), written in Qwen's ``<tool_call>`` tags or, as the whole answer,
without them (bare JSON or a ```json block: ``engine/tools/bare.py``); a badly written call
(counted by the engine, kept as text); or an answer in words. Prints each seed's outcome and
the counts; ``--json`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qwen_tui.engine.open import open_engine  # noqa: E402
from qwen_tui.engine.types import ChatMessage, GenerationParams, NamedTool, ToolSpec  # noqa: E402

QUESTION = "What's the weather in Paris right now?"
WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. London"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-path", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument(
        "--tool-choice", default="auto", help="auto, none, required, or the tool's name"
    )
    args = parser.parse_args()
    choice = args.tool_choice
    choice = choice if choice in ("auto", "none", "required") else NamedTool(choice)

    engine = open_engine(args.model_path, threads=args.threads)
    info = engine.load()
    print(f"{info.name} ({engine.name}); sampling {info.defaults.to_dict()}", flush=True)
    outcomes = []
    for seed in range(args.seeds):
        params = GenerationParams(seed=seed, max_new_tokens=args.max_new_tokens)
        reply = engine.chat(
            [ChatMessage("user", args.question)], params, tools=[WEATHER], tool_choice=choice
        )
        written = engine.decode_text(reply.token_ids)
        if reply.tool_calls:
            # a forced call's tags are the engine's opening, not among the tokens written
            tagged = "<tool_call>" in written or not isinstance(choice, str) or choice == "required"
            kind = "tagged" if tagged else "untagged"
            detail = "; ".join(f"{c.name}({c.arguments})" for c in reply.tool_calls)
        elif reply.stats.bad_tool_calls:
            kind, detail = "bad call", reply.text
        else:
            kind, detail = "words", reply.text
        outcomes.append({"seed": seed, "outcome": kind, "reply": detail, "written": written})
        print(f"seed {seed:2d}: {kind:8s} {detail[:100]!r}", flush=True)
    engine.unload()
    kinds = ("tagged", "untagged", "bad call", "words")
    counts = {k: sum(o["outcome"] == k for o in outcomes) for k in kinds}
    calls = counts["tagged"] + counts["untagged"]
    print(
        f"{calls}/{args.seeds} well-formed calls ({counts['tagged']} in <tool_call> tags, "
        f"{counts['untagged']} without), {counts['bad call']} badly written, "
        f"{counts['words']} answered in words"
    )
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "outcomes": outcomes}, indent=1))


if __name__ == "__main__":
    main()
