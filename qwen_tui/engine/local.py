"""What every engine on a model from the store shares, without torch: loading the manifest and
tokenizer, and a reply (window fitting, the token loop, detokenizing, the thinking split,
stats, the kept KV caches, cancelling).

An engine differs only in how it opens the weights (``_open``: a tokenizer and a token loop)
and which sampler draws its tokens: ``native/engine.py:NativeEngine`` (our C decoder on the
store mapped into memory, no torch) and ``bigdl/engine.py:BigdlEngine`` (bigdl-llm's modules).
``open.py:open_engine`` picks one. Every call runs on the one compute thread
(``runtime/torch_thread``): one OpenMP pool for the kernels.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import EngineError
from ..manifest import Manifest, verify
from ..remote_code import code_runs_at_load
from ..store.lowbit_import import describe
from .defaults import context_window, read_defaults
from .generate.conversation_cache import KVCacheStore
from .generate.detok import IncrementalDecoder
from .generate.loop import AnyOf, TokenLoop
from .generate.native_sampling import TokenSampler
from .generate.prompt import PromptBuilder, fit
from .generate.thinking import NON_THINKING, Part, ThinkingSplitter
from .plan import MatmulPlan
from .runtime.cpus import default_threads
from .runtime.pages import map_large_allocations, trim_heap
from .runtime.torch_thread import torch_thread
from .tools.reply import ReplyCalls
from .types import (
    ChatMessage,
    GenerationParams,
    ModelInfo,
    Reply,
    ReplyStats,
    TextCallback,
    ToolChoice,
    ToolSpec,
)


class LocalEngine:
    name = "local"  # which engine: "native" or "bigdl"

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
        self._lm: TokenLoop | None = None
        self._builder: PromptBuilder | None = None
        self._cancel = threading.Event()  # the reply being generated (a new one per reply)
        self._closed = threading.Event()  # set by unload, never cleared: nothing runs after
        self.plan: MatmulPlan | None = None
        self.decoder_note = ""  # which decoder runs a step, and why
        self.engine_note = self.name  # which engine this is, and why (open_engine says)
        self.opened_note = ""  # what opening the model did, said once (open_engine converted it)

    # -- what an engine supplies ----------------------------------------
    def _open(self, manifest: Manifest, trust: bool) -> tuple[Any, TokenLoop]:
        """The tokenizer and the token loop of the model (on the compute thread)."""
        raise NotImplementedError

    def _sampler(self, params: GenerationParams) -> TokenSampler:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------
    def load(self) -> ModelInfo:
        return torch_thread.run(self._load)

    def _load(self) -> ModelInfo:
        if self.info is not None:
            return self.info
        # a save_low_bit folder saved with bigdl-llm itself has no manifest: its config says
        manifest = describe(self.model_dir) or verify(self.model_dir)
        trust = code_runs_at_load(self.model_dir, manifest, paths.models_dir())
        map_large_allocations()  # a load's freed buffers go back, whatever came before
        tokenizer, self._lm = self._open(manifest, trust)
        self._builder = PromptBuilder(tokenizer)
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
            note=self.opened_note,
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
        trim_heap()  # the model's memory and any kept scratch go back to the system

    def cancel(self) -> None:
        """Stop the reply being generated (a reply that starts later is not affected)."""
        self._cancel.set()

    # -- chatting ------------------------------------------------------
    def count_tokens(self, messages: list[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        builder = self._require()[1]
        if not messages:
            return 0
        return len(builder.encode(messages, tools=tools))  # the template's thinking default

    def tool_tokens(self, tools: Sequence[ToolSpec]) -> int:
        """How many prompt tokens offering ``tools`` takes (the context meter shows it)."""
        return self._require()[1].tool_tokens(tools)

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
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> Reply:
        """Generate a reply on the compute thread; ``on_text`` (the answer) and
        ``on_reasoning`` (the thinking) are called from that thread.
        ``ignore_stop`` generates max_new_tokens whatever the model says (benchmarks);
        ``continue_reply`` writes on the last message, an assistant reply cut short.
        ``tools`` are offered through the chat template; the calls the model writes come in
        ``Reply.tool_calls`` (``engine/tools``); ``tool_choice`` "required" or a NamedTool
        opens the reply with the call's first characters."""
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
            tools=tools,
            tool_choice=tool_choice,
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
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
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
        calls = ReplyCalls(tools, tool_choice, builder.tool_format, continue_reply)
        stop = AnyOf(self._cancel, cancel, self._closed, calls.written)
        if calls.plan.prefill:  # a forced call: the reply opens with it, and the model writes on
            messages, continue_reply = calls.prompt(messages), True
        budget = window - max_new
        fitted = fit(
            builder, messages, budget, continue_reply, params.enable_thinking, calls.plan.tools
        )
        decoder = IncrementalDecoder(builder.decode)
        splitter = ThinkingSplitter(builder.opens_thinking(fitted.ids))
        split = builder.may_think and not continue_reply
        parts: list[Part] = []

        def show(new: list[Part], read_calls: bool = True) -> None:
            for part in new:
                if read_calls and not part.reasoning:
                    part = Part(calls.answer(part.text), False)
                if not part.text:
                    continue
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
            self._sampler(params),
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
        show([Part(calls.flush(), False)], read_calls=False)  # what it held, as it is
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
        found = calls.finish(stats)
        answer = "".join(p.text for p in parts if not p.reasoning)
        reasoning = "".join(p.text for p in parts if p.reasoning)
        return Reply(answer, stats, tuple(result.new_ids), reasoning, params, found)

    def encode_text(self, text: str) -> list[int]:
        """Plain text as token ids (no chat template), for perplexity."""
        builder = self._require()[1]
        return list(builder.tokenizer.encode(text))

    def decode_text(self, ids: Sequence[int]) -> str:
        """Token ids as text, special tokens and all (a reply as the model wrote it)."""
        return self._require()[1].decode(list(ids))

    def score(self, ids: list[int], path: str = "prompt") -> Any:
        """Logits of every position of ``ids`` [len(ids), vocab] (a numpy array from the native
        engine, a tensor from bigdl-llm's), computed through the prompt path (one pass) or the
        decode path (one token at a time on a growing cache)."""
        lm = self._require()[0]
        return torch_thread.run(functools.partial(lm.score, ids, path))

    def score_chunks(self, ids: list[int], path: str = "prompt", rows: int = 64) -> Iterator[Any]:
        """The same logits ``rows`` positions at a time (only those in memory at once)."""
        from .generate.scoring import score_chunks

        return score_chunks(self._require()[0], ids, path, rows)

    def forget(self, cache_key: str) -> None:
        """Drop a conversation's KV cache (its history changed or it was deleted)."""
        self.caches.drop(cache_key)

    def kv_bytes_per_position(self) -> int:
        """What a decoded token reads of the KV cache for each position before it (float16
        keys and values of every layer); 0 where the engine does not know."""
        return 0

    def thread_choice(self) -> dict:
        """How many threads decode now, of how many, and how often that changed
        (``runtime/thread_choice.py``); {} where the engine keeps one count."""
        return {}

    def state_bytes_per_token(self) -> int:
        """What a decoded token reads and writes of a recurrent state whatever the context
        (Qwen3.5's Gated DeltaNet layers); 0 for attention-only models."""
        return 0

    def _require(self) -> tuple[TokenLoop, PromptBuilder]:
        if self._lm is None or self._builder is None:
            raise EngineError("No model is loaded.", "Load a model first.")
        return self._lm, self._builder
