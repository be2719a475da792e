"""The bigdl-llm backend: load an int4 model from the store and chat with it."""

from __future__ import annotations

import functools
import gc
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import paths
from ...errors import EngineError, NotEnoughMemory
from ...manifest import Manifest, verify
from ...remote_code import code_runs_at_load
from ..generate.conversation_cache import KVCacheStore
from ..generate.detok import IncrementalDecoder
from ..generate.loop import CausalLM, DecoderLM
from ..generate.prompt import PromptBuilder, fit
from ..generate.sampling import Sampler
from ..generate.thinking import NON_THINKING, THINKING_MAX_NEW_TOKENS, Part, ThinkingSplitter
from ..runtime import memory
from ..runtime.cpus import default_threads
from ..runtime.torch_thread import torch_thread
from ..types import (
    FALLBACK_PARAMS,
    ChatMessage,
    GenerationParams,
    ModelInfo,
    Reply,
    ReplyStats,
    TextCallback,
)
from . import scoring

if TYPE_CHECKING:
    from .matmul import MatmulPlan
    from .patches import PatchReport


def read_defaults(model_dir: Path, thinks: bool = False) -> GenerationParams:
    """Sampling defaults from generation_config.json, falling back where absent (a thinking
    model's replies get more room by default)."""
    try:
        data = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    found = GenerationParams(
        temperature=data.get("temperature") if data.get("do_sample", True) else 0.0,
        top_p=data.get("top_p"),
        top_k=data.get("top_k"),
        repetition_penalty=data.get("repetition_penalty"),
        max_new_tokens=data.get("max_new_tokens"),
    )
    if data.get("do_sample") and "temperature" not in data:
        found = GenerationParams(**{**found.to_dict(), "temperature": 1.0})
    if thinks and found.max_new_tokens is None:  # room to think, leaving most of the window
        room = min(THINKING_MAX_NEW_TOKENS, context_window(model_dir) // 4)
        found = GenerationParams(**{**found.to_dict(), "max_new_tokens": room})
    return found.over(FALLBACK_PARAMS)


def context_window(model_dir: Path) -> int:
    """Qwen-1's max_window_size, else the position-embedding limit."""

    def load(name: str) -> dict:
        try:
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    gen, config = load("generation_config.json"), load("config.json")
    for value in (gen.get("max_window_size"), config.get("max_window_size")):
        if value:
            return int(value)
    return int(config.get("max_position_embeddings") or config.get("seq_length") or 2048)


class BigdlEngine:
    def __init__(
        self,
        model_dir: Path,
        *,
        threads: int | None = None,
        kv_cache_mb: int = 768,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads or default_threads()
        self.info: ModelInfo | None = None
        self.manifest: Manifest | None = None
        self.caches = KVCacheStore(kv_cache_mb << 20)
        self._lm: CausalLM | None = None
        self._builder: PromptBuilder | None = None
        self._cancel = threading.Event()  # the reply being generated (a new one per reply)
        self._closed = threading.Event()  # set by unload, never cleared: nothing runs after
        self.plan: MatmulPlan | None = None
        self.patches: PatchReport | None = None
        self.decoder_note = ""

    # -- lifecycle -----------------------------------------------------
    def load(self) -> ModelInfo:
        return torch_thread.run(self._load)

    def _load(self) -> ModelInfo:
        if self.info is not None:
            return self.info
        manifest = verify(self.model_dir)
        trust = code_runs_at_load(self.model_dir, manifest, paths.models_dir())
        import torch

        from ..models import load_tokenizer
        from ..runtime.quiet import bigdl_auto_model

        AutoModelForCausalLM = bigdl_auto_model()

        from . import matmul, patches
        from .lowbit import io as lowbit_io

        torch.set_num_threads(self.threads)
        # each loaded tensor mapped alone, so the ones regrouping frees leave at once: without
        # it the peak of loading Coder-0.5B varied from 1.4 to 1.9 GB with what ran before
        memory.map_large_allocations()
        try:
            tokenizer = load_tokenizer(self.model_dir, manifest.family, trust)
            if lowbit_io.is_lowbit_folder(self.model_dir):
                model = lowbit_io.load(self.model_dir, trust_remote_code=trust)
            else:  # a folder bigdl-llm's save_low_bit wrote (qwen-tui before recipes)
                model = AutoModelForCausalLM.load_low_bit(
                    str(self.model_dir), trust_remote_code=trust, local_files_only=True
                )
        except MemoryError:
            raise NotEnoughMemory(
                f"Not enough memory to load {manifest.name}.", "Close other programs."
            ) from None
        except Exception as exc:
            raise EngineError(
                f"Could not load {manifest.name}: {type(exc).__name__}: {exc}.",
                f"Quantize it again (`qwen-tui rm {self.model_dir.name}`, then pull or quantize).",
            ) from exc
        model.eval()
        self.patches = patches.install(model)
        # Without our LowBitLinear.forward the layers keep bigdl-llm's bytes and kernel.
        mode = None if self.patches.get("lowbit_linear").ok else "bigdl"
        self.plan = matmul.prepare(model, mode)  # regroups the layers: the old bytes are freed
        self._builder = PromptBuilder(tokenizer)
        self._lm, self.decoder_note = _runner(model, manifest.family, self.threads)
        memory.trim_heap()  # what loading and regrouping freed goes back to the system
        if not isinstance(self._lm, DecoderLM):
            memory.keep_scratch()  # torch's prompt scratch (our decoder keeps its own)
        self.manifest = manifest
        self.info = ModelInfo(
            name=manifest.name,
            low_bit=manifest.low_bit,
            family=manifest.family,
            path=str(self.model_dir),
            context_window=context_window(self.model_dir),
            defaults=read_defaults(self.model_dir, self._builder.thinking != "none"),
            thinking=self._builder.thinking,
            longest_token=self._builder.longest_token(),
        )
        return self.info

    def unload(self) -> None:
        self._closed.set()  # a reply that starts after this refuses, one running stops
        self.cancel()
        torch_thread.run(self._unload)

    def _unload(self) -> None:
        self.caches.clear()
        self._lm = None
        self._builder = None
        self.info = None
        gc.collect()
        memory.trim_heap()  # the model's memory and the kept scratch go back to the system

    def cancel(self) -> None:
        """Stop the reply being generated (a reply that starts later is not affected)."""
        self._cancel.set()

    # -- chatting ------------------------------------------------------
    def count_tokens(self, messages: list[ChatMessage]) -> int:
        builder = self._require()[1]
        return len(builder.encode(messages)) if messages else 0  # the template's thinking default

    def chat(
        self,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        *,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
        cache_key: str | None = None,
        ignore_stop: bool = False,
        continue_reply: bool = False,
        on_reasoning: TextCallback | None = None,
    ) -> Reply:
        """Generate a reply on the torch thread; ``on_text`` (the answer) and ``on_reasoning``
        (the thinking) are called from that thread.
        ``ignore_stop`` generates max_new_tokens whatever the model says (benchmarks);
        ``continue_reply`` writes on the last message, an assistant reply cut short."""
        run = functools.partial(
            self._chat,
            messages,
            params,
            on_text=on_text,
            cancel=cancel,
            cache_key=cache_key,
            ignore_stop=ignore_stop,
            continue_reply=continue_reply,
            on_reasoning=on_reasoning,
        )
        return torch_thread.run(run)

    def _chat(
        self,
        messages: list[ChatMessage],
        params: GenerationParams | None,
        *,
        on_text: TextCallback | None,
        cancel: threading.Event | None,
        cache_key: str | None,
        ignore_stop: bool = False,
        continue_reply: bool = False,
        on_reasoning: TextCallback | None = None,
    ) -> Reply:
        lm, builder = self._require()
        assert self.info is not None
        params = params or GenerationParams()
        defaults = self.info.defaults
        if params.enable_thinking is False and self.info.thinking == "switch":
            defaults = NON_THINKING.over(defaults)  # Qwen3's non-thinking sampling
        params = params.over(defaults)
        max_new = max(1, int(params.max_new_tokens or 512))
        window = self.info.context_window
        if window - max_new < 16:
            raise EngineError(
                f"max_new_tokens ({max_new}) leaves no room for a prompt in the "
                f"{window}-token window.",
                "Lower max new tokens.",
            )
        started = time.perf_counter()
        self._cancel = threading.Event()  # cancel() from now on stops this reply
        if self._closed.is_set():
            raise EngineError("The model was unloaded.", "Load a model again.")
        stop = _Either(self._cancel, cancel, self._closed)
        fitted = fit(builder, messages, window - max_new, continue_reply, params.enable_thinking)
        decoder = IncrementalDecoder(builder.decode)
        splitter = ThinkingSplitter(builder.opens_thinking(fitted.ids))
        split = builder.may_think and not continue_reply
        parts: list[Part] = []

        def show(new: list[Part]) -> None:
            for part in new:
                parts.append(part)
                callback = on_reasoning if part.reasoning else on_text
                if callback:
                    callback(part.text)

        def on_token(token: int) -> None:
            piece = decoder.push(token)
            if piece:
                show(splitter.push(piece) if split else [Part(piece, False)])

        cache, stamp = self.caches.take(cache_key) if cache_key else (None, 0)
        result = lm.run(
            fitted.ids,
            Sampler(params),
            max_new,
            frozenset() if ignore_stop else builder.special.stop,
            on_token=on_token,
            cancel=stop,
            cache=cache,
        )
        tail = decoder.flush()
        if split:
            show(splitter.push(tail) + splitter.flush())
        elif tail:
            show([Part(tail, False)])
        if cache_key and result.cache is not None:
            self.caches.put(cache_key, result.cache, stamp)  # unless forgotten meanwhile
        generated = len(result.new_ids)
        stats = ReplyStats(
            prompt_tokens=len(fitted.ids),
            reused_tokens=result.reused,
            generated_tokens=generated,
            time_to_first_token=round(result.time_to_first_token, 6),
            decode_tokens_per_s=round((generated - 1) / result.decode_seconds, 2)
            if generated > 1 and result.decode_seconds > 0
            else 0.0,
            total_seconds=round(time.perf_counter() - started, 4),
            dropped_turns=fitted.dropped_turns,
            context_used=len(fitted.ids) + generated,
            context_window=window,
            finish_reason=result.finish_reason,
        )
        answer = "".join(p.text for p in parts if not p.reasoning)
        reasoning = "".join(p.text for p in parts if p.reasoning)
        return Reply(answer, stats, tuple(result.new_ids), reasoning, params)

    def encode_text(self, text: str) -> list[int]:
        """Plain text as token ids (no chat template), for perplexity."""
        builder = self._require()[1]
        return list(builder.tokenizer.encode(text))

    def score(self, ids: list[int], path: str = "prompt") -> Any:
        """Logits of every position of ``ids`` [len(ids), vocab], computed through the prompt
        path (one pass) or the decode path (one token at a time on a growing cache)."""
        return scoring.score(self._require()[0], ids, path)

    def score_chunks(self, ids: list[int], path: str = "prompt", rows: int = 64) -> Iterator[Any]:
        """The same logits ``rows`` positions at a time (only those in memory at once)."""
        return scoring.score_chunks(self._require()[0], ids, path, rows)

    def forget(self, cache_key: str) -> None:
        """Drop a conversation's KV cache (its history changed or it was deleted)."""
        self.caches.drop(cache_key)

    def _require(self) -> tuple[CausalLM, PromptBuilder]:
        if self._lm is None or self._builder is None:
            raise EngineError("No model is loaded.", "Load a model first.")
        return self._lm, self._builder


DECODER_ENV = "QWEN_TUI_DECODER"  # "ours" (default) | "bigdl": which forwards run a step


def _runner(model: Any, family: str, threads: int) -> tuple[CausalLM, str]:
    """Our C decoder where the model fits it, else bigdl-llm's forwards with our patches;
    and a note saying which and why."""
    from .decoder import Decoder, DecoderUnsupported

    if os.environ.get(DECODER_ENV, "ours").strip().lower() == "bigdl":
        why = f"{DECODER_ENV}=bigdl"
    else:
        try:
            return DecoderLM(model, Decoder(model, family, threads)), "ours"
        except DecoderUnsupported as error:
            why = str(error)
    return forwards_loop(model), f"bigdl-llm's forwards ({why})"


def forwards_loop(model: Any) -> CausalLM:
    """The token loop over bigdl-llm's forwards with our patches."""
    from .patches.last_layer import every_position

    return CausalLM(model, lambda: every_position(model))


class _Either:
    """Set when any of the events is (the reply's own, the caller's, the engine's end)."""

    def __init__(self, *events: threading.Event | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)
