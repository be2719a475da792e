"""llama.cpp, through llama-cpp-python, on the same work as qwen-tui: run with the Python of an
environment that has llama-cpp-python (scripts/quality_table.py does), never in qwen-tui's own
(their OpenMP pools would spin against each other). One JSON object on stdout.

    PY scripts/llamacpp_peer.py quantize F32.gguf OUT.gguf Q6_K
    PY scripts/llamacpp_peer.py perplexity MODEL.gguf TEXTS.json      # {"name": [ids...]}
    PY scripts/llamacpp_peer.py bench MODEL.gguf --prompt-tokens 32,512 --new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time


def quantize(src: str, out: str, kind: str) -> dict:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    params.pure = kind in ("Q4_0", "Q4_1", "Q5_0", "Q8_0")  # one type for every tensor
    failed = llama_cpp.llama_model_quantize(src.encode(), out.encode(), params)
    return {"out": out, "type": kind, "ok": failed == 0}


def perplexity(model: str, texts_file: str, threads: int) -> dict:
    import numpy as np
    from llama_cpp import Llama

    texts = json.loads(open(texts_file, encoding="utf-8").read())
    longest = max(len(ids) for ids in texts.values())
    llm = Llama(model_path=model, n_ctx=longest + 8, n_batch=longest, n_threads=threads,
                logits_all=True, verbose=False)  # fmt: skip
    out = {}
    for name, ids in texts.items():
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
        top = logits.max(-1, keepdims=True)
        log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
        nll = -log_probs[np.arange(len(ids) - 1), ids[1:]].mean()
        out[name] = math.exp(nll)
    return out


def bench(model: str, prompt_tokens: str, new_tokens: int, repeat: int, threads: int) -> dict:
    from llama_cpp import Llama

    started = time.perf_counter()
    llm = Llama(model_path=model, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                n_batch=512, verbose=False)  # fmt: skip
    out: dict = {"load_s": round(time.perf_counter() - started, 3), "runs": {}}
    rng = random.Random(0)
    for n in (int(x) for x in prompt_tokens.split(",")):
        first, decode = [], []
        for _ in range(repeat):
            llm.reset()
            ids = [rng.randrange(1000, 100000) for _ in range(n)]
            t0 = time.perf_counter()
            llm.eval(ids)
            token = llm.sample(temp=0.0)
            t1 = time.perf_counter()
            for _ in range(new_tokens):
                llm.eval([token])
                token = llm.sample(temp=0.0)
            first.append(t1 - t0)
            decode.append(new_tokens / (time.perf_counter() - t1))
        out["runs"][str(n)] = {
            "first_token_s": statistics.median(first),
            "decode_tok_s": statistics.median(decode),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quantize")
    q.add_argument("src")
    q.add_argument("out")
    q.add_argument("kind")
    p = sub.add_parser("perplexity")
    p.add_argument("model")
    p.add_argument("texts")
    b = sub.add_parser("bench")
    b.add_argument("model")
    b.add_argument("--prompt-tokens", default="32,512")
    b.add_argument("--new-tokens", type=int, default=64)
    b.add_argument("--repeat", type=int, default=2)
    for each in (p, b):
        each.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    if a.command == "quantize":
        result = quantize(a.src, a.out, a.kind)
    elif a.command == "perplexity":
        result = perplexity(a.model, a.texts, a.threads)
    else:
        result = bench(a.model, a.prompt_tokens, a.new_tokens, a.repeat, a.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
