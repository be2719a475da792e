"""Measure what users feel: load time, time to first token, decode speed, memory, UI lag."""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import threading
import time
from argparse import Namespace
from typing import Any

from ..config import Settings
from ..engine.local import LocalEngine
from ..engine.open import open_engine
from ..engine.types import ChatMessage, GenerationParams
from ..errors import UsageError
from ..store import local
from .busy import busy_lines, measure_busy, threads_text
from .ceiling import compute_ceiling

WORDS = "the quick brown fox jumps over the lazy dog while 你好 world of models and tokens".split()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """The largest resident set seen while chatting (sampled 20 times a second)."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.max_bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.max_bytes = max(self.max_bytes, self.process.memory_info().rss)
            self.stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def message_of(engine: LocalEngine, tokens: int, seed: int) -> list[ChatMessage]:
    """A system prompt and one user message whose prompt is about ``tokens`` long."""
    words = [WORDS[(seed + i * 7) % len(WORDS)] for i in range(tokens * 2)]
    lo, hi = 1, len(words)
    while lo < hi:  # the longest prefix that fits
        mid = (lo + hi + 1) // 2
        n = engine.count_tokens([ChatMessage("user", " ".join(words[:mid]))])
        lo, hi = (mid, hi) if n <= tokens else (lo, mid - 1)
    return [ChatMessage("user", " ".join(words[:lo]))]


def measure_prompts(
    engine: LocalEngine, lengths: list[int], new_tokens: int, repeat: int = 1
) -> list[dict]:
    """Each length ``repeat`` times from scratch (no kept cache): the median, and every run."""
    rows = []
    params = GenerationParams(temperature=0, max_new_tokens=new_tokens, repetition_penalty=1.0)
    for i, n in enumerate(lengths):
        messages = message_of(engine, n, i)
        runs = [engine.chat(messages, params, ignore_stop=True).stats for _ in range(repeat)]
        first = [s.time_to_first_token for s in runs]
        decode = [s.decode_tokens_per_s for s in runs]
        rows.append(
            {
                "prompt_tokens": runs[0].prompt_tokens,
                "first_token_s": statistics.median(first),
                "decode_tok_s": statistics.median(decode),
                "generated": runs[0].generated_tokens,
                "first_token_runs": first,
                "decode_runs": decode,
            }
        )
    return rows


def roofline(memory: dict, context: float) -> float:
    """Decode's memory roofline in tok/s with ``context`` positions in the cache on average:
    every weight and the whole cache read once per token, a recurrent state read and written."""
    per_token = memory["weight_bytes"] + memory.get("state_bytes_per_token", 0)
    per_token += memory["kv_bytes_per_position"] * context
    return memory["read_gb_s"] * 1e9 / per_token


def measure_bandwidth(engine: LocalEngine, before: dict | None = None) -> dict:
    """The machine's read bandwidth with the engine's threads, and what it allows: a decoded
    token reads every low-bit weight and the KV cache once, so bandwidth / those bytes is
    decode's roofline. Measured before and after the runs (``before``): the faster of the two
    counts, since a shared machine's bandwidth drifts too."""
    from ..engine import kernels
    from ..engine.kernels.numpy_api import read_bandwidth
    from ..engine.runtime.pages import huge_array
    from ..engine.runtime.torch_thread import torch_thread

    weights = engine.plan.weight_bytes if engine.plan else 0
    if not kernels.available() or not weights:
        return {}
    # on the torch thread, whose OpenMP threads the kernels use: no second pool of threads
    runs = [*(before or {}).get("read_gb_s_runs", [])]
    huge = bool(engine.plan and engine.plan.huge_pages)

    def probe() -> float:  # memory on the pages the weights are on
        buffer = huge_array(512 << 20)[0] if huge else None
        return read_bandwidth(engine.threads, buffer=buffer)

    runs.append(round(torch_thread.run(probe) / 1e9, 2))
    bandwidth = max(runs) * 1e9
    state = engine.state_bytes_per_token()
    return {
        "read_gb_s": max(runs),
        "read_gb_s_runs": runs,
        "weight_mb_per_token": round(weights / 1e6, 1),
        "weight_bytes": weights,
        "kv_bytes_per_position": engine.kv_bytes_per_position(),
        "state_bytes_per_token": state,
        "weights_on_huge_pages": huge,
        "roofline_tok_s": round(bandwidth / (weights + state), 1),  # with an empty cache
    }


def measure_first_reply(engine: LocalEngine) -> dict:
    """The first reply after load pages the weights in; measured apart from the rest."""
    params = GenerationParams(temperature=0, max_new_tokens=8, repetition_penalty=1.0)
    s = engine.chat(message_of(engine, 16, 99), params, ignore_stop=True).stats
    return {"prompt_tokens": s.prompt_tokens, "first_token_s": round(s.time_to_first_token, 6)}


def measure_turns(engine: LocalEngine, turns: int, new_tokens: int) -> list[dict]:
    params = GenerationParams(
        temperature=0, max_new_tokens=min(new_tokens, 30), repetition_penalty=1.0
    )
    messages: list[ChatMessage] = [ChatMessage("system", "You are a helpful assistant.")]
    rows = []
    for turn in range(turns):
        messages += message_of(engine, 30, turn)
        reply = engine.chat(messages, params, cache_key="bench-turns", ignore_stop=True)
        messages.append(ChatMessage("assistant", reply.text, reply.token_ids))  # as the app does
        rows.append(
            {
                "turn": turn + 1,
                "prompt_tokens": reply.stats.prompt_tokens,
                "reused_tokens": reply.stats.reused_tokens,
                "first_token_s": round(reply.stats.time_to_first_token, 6),
            }
        )
    engine.forget("bench-turns")
    return rows


def measure_loop_lag(engine: LocalEngine, new_tokens: int) -> dict:
    """Lag of an asyncio loop (as Textual runs) while a reply streams from a worker thread."""
    lags: list[float] = []
    done = threading.Event()
    params = GenerationParams(temperature=0, max_new_tokens=new_tokens, repetition_penalty=1.0)

    def work() -> None:
        engine.chat(message_of(engine, 64, 3), params, on_text=lambda _: None, ignore_stop=True)
        done.set()

    async def ticker() -> None:
        threading.Thread(target=work, daemon=True).start()
        while True:  # at least one tick, however soon the reply ends (a tiny model's: 1 ms)
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)
            if done.is_set():
                break

    asyncio.run(ticker())
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0.0
    return {
        "samples": len(lags),
        "p50_ms": round(statistics.median(lags) * 1000, 1) if lags else 0,
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(max(lags, default=0) * 1000, 1),
    }


def run_bench(args: Namespace, settings: Settings) -> int:
    try:
        lengths = [int(x) for x in args.prompt_tokens.split(",") if x.strip()]
    except ValueError:
        raise UsageError(
            "--prompt-tokens takes numbers like 32,512,1024.", "Fix the list."
        ) from None
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1.", "Measure each prompt once or more.")
    if args.synthetic:
        from .synthetic import synthetic_model

        model = synthetic_model(args.synthetic, settings.low_bit)
    elif args.model_path:
        model = local.open_folder(args.model_path)
    else:
        model = local.choose(args.model, settings.model, settings.low_bit)
    engine = open_engine(model.path, threads=args.threads or settings.threads, kv_cache_mb=1024)
    started = time.perf_counter()
    engine.load()
    result: dict[str, Any] = {
        "model": model.folder_name,
        "threads": engine.threads,
        "load_s": round(time.perf_counter() - started, 3),
    }
    result["rss_after_load_mb"] = round(RssSampler().process.memory_info().rss / 2**20)
    result["matmul"] = engine.plan.to_dict() if engine.plan else {}
    result["engine"] = engine.name  # which engine ran: "native" or "bigdl"
    result["engine_note"] = engine.engine_note  # and why
    result["decoder"] = engine.decoder_note
    result["memory"] = measure_bandwidth(engine)
    ours = getattr(engine, "model", None)  # our engine's model: its packed weights
    result["compute"] = compute_ceiling(ours, engine.threads) if result["memory"] and ours else {}
    patches = getattr(engine, "patches", None)  # bigdl-llm's engine only
    result["patches"] = patches.to_dict() if patches else {}
    with RssSampler() as rss:  # the bandwidth probe's 512 MB buffer is not the chat's
        result["first_reply"] = measure_first_reply(engine)
        result["prompts"] = measure_prompts(engine, lengths, args.new_tokens, args.repeat)
        result["threads_chosen"] = engine.thread_choice()
        result["busy"] = (
            measure_busy(
                result["prompts"],
                lambda: measure_prompts(engine, lengths, args.new_tokens, args.repeat),
                engine.thread_choice,
            )
            if args.busy
            else None
        )
        result["turns"] = measure_turns(engine, args.turns, args.new_tokens) if args.turns else []
        result["ui_loop_lag"] = None if args.no_ui else measure_loop_lag(engine, args.new_tokens)
    result["memory"] = measure_bandwidth(engine, result["memory"])
    for p in result["prompts"]:  # the mean context while decoding after this prompt
        context = p["prompt_tokens"] + p["generated"] / 2
        p["roofline_tok_s"] = (
            round(roofline(result["memory"], context), 1) if result["memory"] else None
        )
    result["rss_while_chatting_mb"] = round(rss.max_bytes / 2**20)
    result["peak_rss_mb"] = round(peak_rss_mb())  # loading and the bandwidth probe included
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def _paths(matmul: dict) -> str:
    layers = ", ".join(f"{n} {key}" for key, n in matmul.get("layers", {}).items())
    return f"{matmul.get('mode', 'auto')} ({matmul.get('isa', '?')}): {layers}"


def _patches(report: dict) -> str:
    done = [p for p in report.get("patches", []) if p["patched"]]
    back = [p for p in report.get("patches", []) if not p["patched"]]
    text = f"{len(done)} of {len(done) + len(back)} installed"
    return text + "".join(f"; {p['name']} fell back ({p['why']})" for p in back)


def _memory(m: dict) -> list[str]:
    if not m:
        return []
    return [
        f"memory: reads {m['read_gb_s']} GB/s (best of "
        + " and ".join(str(r) for r in m["read_gb_s_runs"])
        + f", before and after the runs); a decoded token reads "
        f"{m['weight_mb_per_token']} MB of weights"
        + (" (on 2 MB pages, as the probe)" if m.get("weights_on_huge_pages") else "")
        + (
            f" and reads and writes {m['state_bytes_per_token'] / 1e6:.1f} MB of recurrent state"
            if m.get("state_bytes_per_token")
            else ""
        )
        + f": at most {m['roofline_tok_s']} tok/s",
        f"        and {m.get('kv_bytes_per_position', 0) / 1e3:.0f} kB of KV cache per position "
        "before it (the roofline below counts it too, at each row's mean context)",
    ]


def _compute(c: dict, m: dict) -> list[str]:
    if not c:
        return []
    rates = ", ".join(f"{f} {v['gb_s_per_thread']} GB/s" for f, v in c["formats"].items())
    bound = c["ceiling_tok_s"] < m.get("roofline_tok_s", 0)
    return [
        f"compute: one thread multiplies weights already in cache at {rates}: at most "
        f"{c['ceiling_tok_s']} tok/s on these threads"
        + (": below the memory roofline, so decode is compute-bound" if bound else "")
    ]


def table(r: dict) -> str:
    many = any(len(p.get("first_token_runs", ())) > 1 for p in r["prompts"])
    lines = [
        f"model {r['model']}  threads {r['threads']}  load {r['load_s']} s  "
        f"RSS after load {r['rss_after_load_mb']} MB, "
        f"while chatting {r['rss_while_chatting_mb']} MB, "
        f"peak {r['peak_rss_mb']} MB",
        f"matmul {_paths(r['matmul'])}  first reply after load: "
        f"{r['first_reply']['first_token_s']:.2f} s to the first token "
        f"({r['first_reply']['prompt_tokens']}-token prompt)",
        f"engine {r['engine_note']}  decoder {r['decoder']}"
        + (f"  patches {_patches(r['patches'])}" if r["patches"] else ""),
        "",
        *_memory(r["memory"]),
        *_compute(r.get("compute") or {}, r["memory"]),
        "prompt tokens  first token  decode tok/s"
        + ("  of roofline" if r["memory"] else "")
        + ("   (median of each length's runs; first token of every run)" if many else ""),
    ]
    lines += [
        f"{p['prompt_tokens']:>13}  {p['first_token_s']:>9.2f} s  {p['decode_tok_s']:>12.1f}"
        + (f"  {p['decode_tok_s'] / p['roofline_tok_s']:>10.0%}" if p.get("roofline_tok_s") else "")
        + ("   " + " ".join(f"{t:.2f}" for t in p["first_token_runs"]) if many else "")
        for p in r["prompts"]
    ]
    if r.get("threads_chosen"):
        lines.append(f"decode threads {threads_text(r['threads_chosen'])}")
    lines += busy_lines(r.get("busy") or {})
    if r["turns"]:
        lines += ["", "turn  prompt  reused  first token"]
        lines += [
            f"{t['turn']:>4}  {t['prompt_tokens']:>6}  {t['reused_tokens']:>6}  "
            f"{t['first_token_s']:>9.2f} s"
            for t in r["turns"]
        ]
    if r["ui_loop_lag"]:
        lag = r["ui_loop_lag"]
        lines += [
            "",
            f"event-loop lag while streaming: p50 {lag['p50_ms']} ms, "
            f"p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms",
        ]
    return "\n".join(lines)
